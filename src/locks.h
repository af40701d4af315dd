/*-------------------------------------------------------------------------
 *
 * locks.h
 *	  Resource locks and idempotency-key locks (locks.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/locks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_LOCKS_H
#define RIG_LOCKS_H

#include "utils/jsonb.h"

#include "handlers.h"

extern int	rig_resource_hashes(RigHandler *handler, Jsonb *data,
								uint64 **hashes);
extern int	rig_sort_hashes(uint64 *hashes, int n);
extern void rig_lock_hashes(const uint64 *hashes, int n);
extern void rig_lock_idempotency_key(text *key);
extern void rig_lock_remote_node(const char *name, bool exclusive);
extern void rig_lock_barrier(bool exclusive);
extern void rig_release_xact_locks(void);

#endif							/* RIG_LOCKS_H */
