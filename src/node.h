/*-------------------------------------------------------------------------
 *
 * node.h
 *	  This node's role, primary, epoch and compaction bound, cached from
 *	  rig.node (node.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/node.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_NODE_H
#define RIG_NODE_H

#include "shmem.h"

extern void rig_node_init(void);
extern int64 rig_node_epoch(void);
extern bool rig_node_is_replica(void);
extern const char *rig_node_role(void);
extern const char *rig_node_primary_name(void);
extern const char *rig_node_role(void);
extern bool rig_node_fenced(RigFenceInfo *info);
extern void rig_node_fence(const char *primary, int64 epoch);
extern int64 rig_node_compacted_below(void);
extern void rig_node_refresh(void);
extern void rig_node_lock(void);
extern void rig_node_update(const char *sql, int nargs, Oid *types, Datum *args);

#endif							/* RIG_NODE_H */
