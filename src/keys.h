/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  Idempotency keys, rig.idempotency_keys (keys.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/keys.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_KEYS_H
#define RIG_KEYS_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

extern bool rig_key_lookup(text *key, const char *method, Jsonb *data,
						   int64 *version);
extern void rig_key_record(text *key, int64 version, const char *method,
						   Jsonb *data, TimestampTz op_time);

#endif							/* RIG_KEYS_H */
