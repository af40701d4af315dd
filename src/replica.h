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
/* A node's rig.epochs as the JSON array rig_become_replica() records */
#define RIG_EPOCHS_JSON_SQL \
	"SELECT coalesce(jsonb_agg(jsonb_build_object('epoch', epoch, " \
	"'first_version', first_version, 'node', node) ORDER BY epoch), '[]')::text " \
	"FROM rig.epochs"

extern void rig_record_op(int64 version, int64 epoch, const char *method, Jsonb *data,
						  text *key, TimestampTz op_time, const char *origin);
extern void rig_set_replica_of(const char *primary, int64 epoch, Jsonb *epochs);

#endif							/* RIG_REPLICA_H */
