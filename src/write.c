/*-------------------------------------------------------------------------
 *
 * write.c
 *	  The write path on the primary: rig_do(), and rig's own records
 *	  (handler and schema changes) through rig_write_system().
 *
 * Order inside rig_do(): check the node may write, dedupe by idempotency
 * key, look up the handler, validate, lock resources, take a version,
 * append to rig.log, apply.  The version is drawn after the resource locks
 * are granted, so ops sharing a resource get versions in commit order.  The
 * apply handler runs with a snapshot taken after the locks, so it sees
 * every op that committed before them, as a replica applying in version
 * order would.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/sequence.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "catalog.h"
#include "handlers.h"
#include "keys.h"
#include "locks.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "replicate.h"
#include "settings.h"
#include "shmem.h"
#include "sysrec.h"
#include "watermark.h"
#include "write.h"
#include "xact.h"

/* Longest idempotency key, in bytes (it lives in a btree index) */
#define RIG_MAX_IDEM_KEY_LEN	512

/* True while rig_do() runs, so handlers cannot nest another rig_do() */
static bool rig_do_active = false;

/* True while rig itself runs an op of a reserved method (rig_do_internal) */
static bool rig_do_internal_active = false;

static int64 rig_do_run(const char *method, Jsonb *data, text *key);
static int64 rig_do_op(const char *method, Jsonb *data, text *key);
static int64 rig_append_new(const char *method, Jsonb *data, text *key,
							 const uint64 *locks, int nlocks, TimestampTz *op_time);
static void rig_check_reserved(const char *method);
static void rig_check_can_write(const char *caller);
static void rig_check_not_fenced(const char *caller);
static void rig_check_no_handover(const char *caller);
static void rig_check_op_args(FunctionCallInfo fcinfo);

PG_FUNCTION_INFO_V1(rig_do);

/*
 * A fenced node (a peer is in a newer epoch: another node was promoted)
 * must not write again: 25006, as on a replica, naming who fenced it and
 * the new primary when known.
 */
static void
rig_check_not_fenced(const char *caller)
{
	RigFenceInfo f;

	if (!rig_node_fenced(&f))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("%s is not allowed on node \"%s\": it is fenced, another node was promoted",
					caller, rig_node_name()),
			 f.primary[0] ?
			 errdetail("The new primary is \"%s\"; peer \"%s\" is in a newer epoch than this node's " INT64_FORMAT ".",
					   f.primary, f.by, rig_node_epoch()) :
			 errdetail("Peer \"%s\" is in a newer epoch than this node's " INT64_FORMAT ": %s",
					   f.by, rig_node_epoch(), f.reason),
			 errhint("Send writes to the new primary; this node rejoins as its replica with rig_add_peer() there.")));
}

/*
 * While rig_switchover() hands the primary role over, new writes wait for
 * no one: they fail at once (25006, as on a replica), and the client
 * retries on the new primary.
 */
static void
rig_check_no_handover(const char *caller)
{
	char		to[NAMEDATALEN];

	if (!rig_handover_running(to))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("%s is not allowed on node \"%s\": it is handing the primary role over to \"%s\"",
					caller, rig_node_name(), to),
			 errdetail("rig_switchover() is running; nothing of this call was written."),
			 errhint("Retry on \"%s\" (a multi-host connection string with target_session_attrs=read-write finds it).", to)));
}

/* Refuse writes where rig cannot order them: replicas, handlers, old snapshots. */
static void
rig_check_can_write(const char *caller)
{
	/* first, so that a handler sees the same error on every node */
	if (rig_do_active || rig_in_handler())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from a rig handler", caller),
				 errdetail("A handler's effects must follow from its own operation only, on every node.")));
	if (rig_applying_system())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from a handler or schema change", caller),
				 errdetail("The statements of rig_ddl() run again on every peer, where nothing may write to the log."),
				 errhint("Call it after rig_ddl() returns.")));

	if (rig_node_is_replica())
	{
		const char *primary = rig_node_primary_name();

		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s is not allowed on a replica", caller),
				 errdetail("This node applies operations from its primary \"%s\" only.",
						   primary ? primary : "?"),
				 errhint("Send writes to the primary \"%s\".", primary ? primary : "?")));
	}

	rig_check_not_fenced(caller);
	rig_check_no_handover(caller);
	/* promotion under way (promote.c): the old primary's ops are not all decided yet */
	if (strcmp(rig_node_role(), "promoting") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RIG_NOT_READY),
				 errmsg("%s is not allowed while node \"%s\" is being promoted", caller, rig_node_name()),
				 errdetail("rig_promote() is committing the operations the old primary left prepared here."),
				 errhint("Retry in a moment; rig.status shows role \"primary\" when the promotion is done.")));

	rig_check_sync_peers();

	if (XactReadOnly || RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run %s in a read-only transaction", caller),
				 errhint("%s writes the log; run it in a read-write transaction on the primary.", caller)));

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s requires the READ COMMITTED isolation level", caller),
				 errdetail("rig applies each operation with a snapshot taken after its resource locks; an older transaction snapshot would compute what a replica would not."),
				 errhint("Run rig_do() in a READ COMMITTED transaction (SET TRANSACTION ISOLATION LEVEL READ COMMITTED).")));
}

/* NULLs and oversized input are refused before anything is locked. */
static void
rig_check_op_args(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("data must not be NULL"),
				 errhint("Pass '{}' for an operation without data.")));
	if (toast_raw_datum_size(PG_GETARG_DATUM(1)) > (Size) rig_max_payload)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("operation data is too large"),
				 errdetail("The data takes %zu bytes; rig.max_payload is %d bytes.",
						   toast_raw_datum_size(PG_GETARG_DATUM(1)), rig_max_payload),
				 errhint("Store large objects elsewhere and pass a reference, or raise rig.max_payload.")));
	if (!PG_ARGISNULL(2))
	{
		Size		keylen = toast_raw_datum_size(PG_GETARG_DATUM(2)) - VARHDRSZ;

		if (keylen == 0 || keylen > RIG_MAX_IDEM_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("idempotency key must be 1 to %d bytes long", RIG_MAX_IDEM_KEY_LEN)));
	}
}

/*
 * Methods named rig.* are rig's own (the coordinator's state, coord.c):
 * only rig runs them, except rig.transaction.claim, which a coordinator
 * runs on a branch node through plain rig_do() to bind a key.
 */
static void
rig_check_reserved(const char *method)
{
	if (rig_do_internal_active || strncmp(method, "rig.", 4) != 0 ||
		strcmp(method, "rig.transaction.claim") == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("method \"%s\" is reserved for rig", rig_name_for_message(method)),
			 errdetail("Methods named rig.* record rig's own state; rig runs them itself."),
			 errhint("Use rig_transaction_start() and rig_transaction_abort() for transactions across nodes.")));
}

/* SQL: validate, lock, version, log and apply one operation. */
Datum
rig_do(PG_FUNCTION_ARGS)
{
	char	   *method;

	rig_check_op_args(fcinfo);
	method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rig_check_reserved(method);
	PG_RETURN_INT64(rig_do_run(method, PG_GETARG_JSONB_P(1),
							   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2)));
}

/*
 * rig_do() for rig's own reserved methods (coord.c): the same checks and
 * path, callable from C, with an optional idempotency key.
 */
int64
rig_do_internal(const char *method, Jsonb *data, const char *key)
{
	volatile int64 version = 0;

	rig_do_internal_active = true;
	PG_TRY();
	{
		version = rig_do_run(method, data, key ? cstring_to_text(key) : NULL);
	}
	PG_FINALLY();
	{
		rig_do_internal_active = false;
	}
	PG_END_TRY();
	return version;
}

/* Check the node, then run one op with rig's handler search_path. */
static int64
rig_do_run(const char *method, Jsonb *data, text *key)
{
	volatile int64 version = 0;
	int			settings_level;

	rig_check_can_write("rig_do()");
	rig_do_active = true;
	PG_TRY();
	{
		/* one search_path switch for the op's three handlers */
		settings_level = rig_handler_settings_push();
		version = rig_do_op(method, data, key);
		rig_handler_settings_pop(settings_level);
	}
	PG_CATCH();
	{
		rig_do_active = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_do_active = false;
	return version;
}

/*
 * Give a new op of this primary the next version and append its log row:
 * shared by rig_do() and rig's own records, so both draw versions alike.
 */
static int64
rig_append_new(const char *method, Jsonb *data, text *key,
			   const uint64 *locks, int nlocks, TimestampTz *op_time)
{
	int64		version;
	int64		epoch;

	rig_ensure_loaded();
	rig_inflight_reserve();
	version = nextval_internal(rig_relid("version_seq"), false);
	rig_note_version_drawn();
	rig_note_assigned(version);
	*op_time = GetCurrentTimestamp();
	epoch = rig_node_epoch();
	rig_xact_register_op(version, epoch, method, data, key, *op_time,
						 rig_node_name(), locks, nlocks, false);
	rig_log_append(version, epoch, method, data, key, *op_time,
				   rig_node_name());
	return version;
}

/* The body of rig_do(), once its arguments and the node were checked. */
static int64
rig_do_op(const char *method, Jsonb *data, text *key)
{
	RigHandler *handler;
	int64		version;
	TimestampTz op_time;
	uint64	   *locks;
	int			nlocks;

	/* a new session's peer connections, opened before any lock is held */
	rig_replicate_connect_early();
	if (key != NULL)
	{
		rig_lock_idempotency_key(key);
		if (rig_key_lookup(key, method, data, &version))
			return version;
	}

	/* after the last handler or schema change before this op (locks.c) */
	rig_lock_barrier(false);
	handler = rig_lookup_handler(method);
	if (handler == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("method \"%s\" is not registered", rig_name_for_message(method)),
				 errhint("Register it with rig_register(); rig.handlers lists the registered methods.")));
	rig_check_handler_private(handler);

	rig_call_validate(handler, data);
	nlocks = rig_resource_hashes(handler, data, &locks);
	rig_lock_hashes(locks, nlocks);

	version = rig_append_new(method, data, key, locks, nlocks, &op_time);
	if (key != NULL)
		rig_key_record(key, version, method, data, op_time);
	rig_call_apply(handler, version, op_time, data);

	return version;
}

/*
 * Write one of rig's own records (a handler or schema change, sysrec.c)
 * on this primary and apply it: the node may write as for rig_do(), the
 * barrier is taken exclusively before the version (within
 * rig.ddl_timeout), so no op runs concurrently with it here and no peer
 * applies one in parallel with it.  Returns its version.
 */
int64
rig_write_system(const char *caller, const char *method, Jsonb *data)
{
	int64		version;
	TimestampTz op_time;
	int			nest;

	rig_check_can_write(caller);
	nest = rig_sysrec_timeout_push();
	rig_lock_barrier(true);
	version = rig_append_new(method, data, NULL, NULL, 0, &op_time);
	rig_apply_system(method, data, false);
	rig_sysrec_timeout_pop(nest);
	return version;
}
