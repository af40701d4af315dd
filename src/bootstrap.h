/*-------------------------------------------------------------------------
 *
 * bootstrap.h
 *	  Bootstrapping an empty peer from a stored snapshot (bootstrap.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/bootstrap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_BOOTSTRAP_H
#define RIG_BOOTSTRAP_H

#include "conn.h"
#include "snapshot.h"

/*
 * What rig_add_peer does for a new node's state, decided before the node
 * follows us: load a snapshot (from chunk next on), or ship the log after
 * version start.
 */
typedef struct RigBootPlan
{
	bool		load;
	int			next;
	int64		start;
	RigSnapshotInfo snap;
} RigBootPlan;

extern void rig_bootstrap_plan(RigConn *rc, const char *name, RigBootPlan *plan);
extern void rig_bootstrap_begin_remote(RigConn *rc, RigBootPlan *plan);
extern int64 rig_bootstrap_peer(RigConn *rc, const char *name, RigBootPlan *plan);

#endif							/* RIG_BOOTSTRAP_H */
