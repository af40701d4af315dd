/*-------------------------------------------------------------------------
 *
 * apply.h
 *	  Calling an operation's handlers and the handler context (apply.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/apply.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_APPLY_H
#define RIG_APPLY_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "handlers.h"

/*
 * Called when a process enters the handler context from outside it (enter:
 * true) and when it leaves it again (enter: false; ok: without an error).
 * tableguard.c counts there what handlers write in a logical replication
 * worker (apply.c cannot include it: tables.c needs apply.c).
 */
typedef void (*rig_handler_context_hook_type) (bool enter, bool ok);
extern PGDLLIMPORT rig_handler_context_hook_type rig_handler_context_hook;

extern void rig_call_validate(RigHandler *handler, Jsonb *data);
extern void rig_call_apply(RigHandler *handler, int64 version,
						   TimestampTz op_time, Jsonb *data);
extern void rig_apply_context_run(int64 version, void (*fn) (void *arg), void *arg);
extern bool rig_in_handler(void);
extern void rig_handler_context_reset(void);

#endif							/* RIG_APPLY_H */
