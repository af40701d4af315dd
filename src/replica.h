/*-------------------------------------------------------------------------
 *
 * replica.h
 *	  The replica side of a transaction (replica.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/replica.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_REPLICA_H
#define RIG_REPLICA_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

extern void rig_apply_op(int64 version, int64 epoch, const char *method,
						 Jsonb *data, text *key, TimestampTz op_time,
						 const char *origin, const uint64 *locks, int nlocks);
extern void rig_set_replica_of(const char *primary, int64 epoch, Jsonb *epochs);

#endif							/* RIG_REPLICA_H */
