/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Calling an operation's handlers: validate, then apply with the
 *	  handler context (rig_version(), rig_op_time()) set for its op.
 *
 * The primary (rig_do) and a replica (rig_apply_remote) apply an op the
 * same way: as the handler's owner, under a snapshot taken after the
 * op's resource locks, so it sees every op that committed before them.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "handlers.h"

/* Version and op_time of the handler being applied (0 outside one). */
static int64 rig_current_version = 0;
static TimestampTz rig_current_op_time = 0;

/* Told when the handler context is entered from outside and left again */
rig_handler_context_hook_type rig_handler_context_hook = NULL;

static void rig_handler_enter(int64 version, TimestampTz op_time,
							  int64 *save_version, TimestampTz *save_time);
static void rig_handler_leave(int64 save_version, TimestampTz save_time, bool ok);

PG_FUNCTION_INFO_V1(rig_version);
PG_FUNCTION_INFO_V1(rig_op_time);

/*
 * Run the validate handler, if any, as its owner: raising rejects the op;
 * its result is ignored.
 */
void
rig_call_validate(RigHandler *handler, Jsonb *data)
{
	LOCAL_FCINFO(fcinfo, 1);

	if (!OidIsValid(handler->validate_oid))
		return;
	InitFunctionCallInfoData(*fcinfo, &handler->validate, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(data);
	fcinfo->args[0].isnull = false;
	(void) rig_handler_invoke(fcinfo, handler->validate_owner);
}

/*
 * Run the apply handler, as its owner, under a snapshot taken now (after
 * the locks), with rig_version() and rig_op_time() answering for this op.
 */
void
rig_call_apply(RigHandler *handler, int64 version, TimestampTz op_time,
			   Jsonb *data)
{
	LOCAL_FCINFO(fcinfo, 2);
	int64		save_version;
	TimestampTz save_time;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	rig_handler_enter(version, op_time, &save_version, &save_time);
	PG_TRY();
	{
		InitFunctionCallInfoData(*fcinfo, &handler->apply, 2, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = Int64GetDatum(version);
		fcinfo->args[0].isnull = false;
		fcinfo->args[1].value = JsonbPGetDatum(data);
		fcinfo->args[1].isnull = false;
		(void) rig_handler_invoke(fcinfo, handler->apply_owner);
	}
	PG_CATCH();
	{
		rig_handler_leave(save_version, save_time, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_handler_leave(save_version, save_time, true);
	PopActiveSnapshot();
	CommandCounterIncrement();
}

/*
 * Run fn(arg) in the apply context without a handler: a snapshot restored
 * into the state tables (snapshot.c) writes them as a handler would, with
 * rig_version() answering version.
 */
void
rig_apply_context_run(int64 version, void (*fn) (void *arg), void *arg)
{
	int64		save_version;
	TimestampTz save_time;

	rig_handler_enter(version, 0, &save_version, &save_time);
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		rig_handler_leave(save_version, save_time, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_handler_leave(save_version, save_time, true);
}

/* True while a handler runs in this process. */
bool
rig_in_handler(void)
{
	return rig_current_version != 0;
}

/* Make version and op_time visible to rig_version() / rig_op_time(). */
static void
rig_handler_enter(int64 version, TimestampTz op_time,
				  int64 *save_version, TimestampTz *save_time)
{
	*save_version = rig_current_version;
	*save_time = rig_current_op_time;
	if (*save_version == 0 && rig_handler_context_hook)
		rig_handler_context_hook(true, true);
	rig_current_version = version;
	rig_current_op_time = op_time;
}

/*
 * Restore the outer handler context (handlers may call rig_do themselves);
 * ok: the handler ended without an error (on an error the hook must not
 * read catalogs).
 */
static void
rig_handler_leave(int64 save_version, TimestampTz save_time, bool ok)
{
	rig_current_version = save_version;
	rig_current_op_time = save_time;
	if (save_version == 0 && rig_handler_context_hook)
		rig_handler_context_hook(false, ok);
}

/* SQL: the version of the op whose handler is running. */
Datum
rig_version(PG_FUNCTION_ARGS)
{
	if (rig_current_version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig_version() can only be called inside a rig handler"),
				 errhint("Handlers receive the version as their first argument too.")));
	PG_RETURN_INT64(rig_current_version);
}

/* SQL: the primary's timestamp of the op whose handler is running. */
Datum
rig_op_time(PG_FUNCTION_ARGS)
{
	if (rig_current_version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig_op_time() can only be called inside a rig handler")));
	PG_RETURN_TIMESTAMPTZ(rig_current_op_time);
}

/* End of a transaction: no handler runs any more. */
void
rig_handler_context_reset(void)
{
	rig_current_version = 0;
	rig_current_op_time = 0;
}
