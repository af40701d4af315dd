/*-------------------------------------------------------------------------
 *
 * xnode.c
 *	  Transactions across nodes, the SQL side: rig_transaction_start /
 *	  _wait / _abort / _resolve / _prune.
 *
 * A transaction's state lives in rig.transactions and
 * rig.transaction_events, written only by the handlers of the reserved
 * methods rig.transaction.start and rig.transaction.event: every change
 * is an op in this node's log, so it reaches this node's peers and
 * survives a failover.  Starting one checks every branch (branches.c:
 * its node is this one or a registered one, its three methods are
 * registered there) and writes the start op; the worker drives it from
 * there (coord.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/xnode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "branches.h"
#include "catalog.h"
#include "handlers.h"
#include "locks.h"
#include "settings.h"
#include "shmem.h"
#include "write.h"
#include "xnode.h"

/* A transaction's prepare deadline when rig_transaction_start gets none */
#define RIG_XNODE_DEFAULT_TIMEOUT_MS	60000

/* Longest client idempotency key of rig_transaction_start */
#define RIG_XNODE_MAX_KEY_LEN	400

/* How often rig_transaction_wait looks at the state unwoken */
#define RIG_XNODE_WAIT_POLL_MS	100

/* Wake the worker when the transaction that started or aborted one commits */
static bool rig_xnode_wake_pending = false;

static void rig_xnode_xact_callback(XactEvent event, void *arg);
static void rig_xnode_wake_worker(void);
static char *rig_xnode_identity(void);
static bool rig_xnode_state_final(const char *state);
static int64 rig_xnode_key_lookup(const char *key, const char *branches);
static int64 rig_xnode_write_start(const char *branches, int64 timeout_ms, const char *key);
static int64 rig_xnode_find_or_write(const char *branches, int64 timeout_ms, const char *key,
									 List *sent);
static int64 rig_interval_us(Interval *iv, const char *what);
static int64 rig_timeout_ms(Interval *iv);
static char *rig_xnode_state(int64 id, bool missing_ok, TimestampTz *created);
static void rig_xnode_check_committed(int64 id);
static const char *rig_xnode_pruned_outcome(int64 id, TimestampTz created);
static const char *rig_xnode_outcome_of(int64 id, TimestampTz created, const char *state);
static void rig_xnode_lock(Jsonb *event);

PG_FUNCTION_INFO_V1(rig_transaction_start);
PG_FUNCTION_INFO_V1(rig_transaction_wait);
PG_FUNCTION_INFO_V1(rig_transaction_abort);
PG_FUNCTION_INFO_V1(rig_transaction_resolve);
PG_FUNCTION_INFO_V1(rig_transaction_prune);

/* _PG_init: wake the worker after a commit that started or aborted one. */
void
rig_xnode_init(void)
{
	RegisterXactCallback(rig_xnode_xact_callback, NULL);
}

/* At the end of a transaction: wake the worker if it has new work. */
static void
rig_xnode_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && rig_xnode_wake_pending)
		rig_xnode_wake_worker();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		rig_xnode_wake_pending = false;
}

/* Set the worker's latch, if it runs (it polls anyway). */
static void
rig_xnode_wake_worker(void)
{
	RigWorkerInfo info;
	PGPROC	   *proc;

	rig_worker_get_state(&info);
	proc = info.pid != 0 ? BackendPidGetProc(info.pid) : NULL;
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * A new transaction's identity in its branches' idempotency keys: this
 * node's system identifier (two coordinators never collide), and a number
 * drawn for it, since ids start again after DROP EXTENSION rig or a
 * restore of an older backup, with the same system identifier: the new
 * transaction N sent the old N's keys, and the branch nodes answered
 * with the old phases instead of applying the new ones.  Stored in its
 * row, so a promoted replica sends the same keys.
 */
static char *
rig_xnode_identity(void)
{
	uint64		nonce;

	if (!pg_strong_random(&nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random number")));
	return psprintf(UINT64_FORMAT ".%016" INT64_MODIFIER "x", GetSystemIdentifier(), nonce);
}

/*
 * A branch method must be a valid, unreserved name; on this node it must
 * be registered, for another node it is added to *remote for one check
 * there.
 */

/*
 * Ask a registered node whether it has every method of its branches:
 * send the question (the answer is read by rig_check_remote_methods_read,
 * so the node works while this backend writes the start op).
 */

/*
 * Check every branch and return them as the start op's JSON array: each
 * with node, prepare, commit, abort and data (default {}).  *remote gets,
 * per other node, its name and the methods to ask it about.
 */

/* An interval in microseconds (months of 30 days); throws on overflow. */
static int64
rig_interval_us(Interval *iv, const char *what)
{
	int64		months;
	int64		days;
	int64		us;

	if (pg_mul_s64_overflow(iv->month, DAYS_PER_MONTH * USECS_PER_DAY, &months) ||
		pg_mul_s64_overflow(iv->day, USECS_PER_DAY, &days) ||
		pg_add_s64_overflow(iv->time, days, &us) ||
		pg_add_s64_overflow(us, months, &us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", what)));
	return us;
}

/* An interval in milliseconds; it must be positive. */
static int64
rig_timeout_ms(Interval *iv)
{
	int64		us = rig_interval_us(iv, "timeout");

	if (us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));
	return us / 1000 > 0 ? us / 1000 : 1;
}

/*
 * A transaction's state (NULL if there is none: throws unless missing_ok),
 * and its creation time if created is given.
 */
static char *
rig_xnode_state(int64 id, bool missing_ok, TimestampTz *created)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	char	   *state = NULL;
	MemoryContext outer = CurrentMemoryContext;

	static SPIPlanPtr plan = NULL;

	SPI_connect();
	/* not read-only: a fresh snapshot each time (rig_transaction_wait) */
	if (rig_spi_kept(&plan, "SELECT state, created FROM rig.transactions WHERE id = $1",
					 1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	if (SPI_processed > 0)
	{
		bool		isnull;

		state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (created != NULL)
			*created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (state != NULL)
		state = MemoryContextStrdup(outer, state);
	SPI_finish();
	if (state == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("transaction " INT64_FORMAT " does not exist", id),
				 errhint("rig.transactions lists the transactions this node coordinates.")));
	return state;
}

/*
 * Throw if this very transaction wrote the transaction's row (started or
 * aborted it): the worker cannot see that before it commits, so a wait
 * here would last to its timeout, or forever.
 */
static void
rig_xnode_check_committed(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	TransactionId xmin = InvalidTransactionId;
	bool		isnull;

	static SPIPlanPtr plan = NULL;

	SPI_connect();
	if (rig_spi_kept(&plan, "SELECT xmin FROM rig.transactions WHERE id = $1",
					 1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	if (SPI_processed > 0)
		xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (TransactionIdIsValid(xmin) && TransactionIdIsCurrentTransactionId(xmin))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("transaction " INT64_FORMAT " was started or changed by this transaction, which has not committed",
						id),
				 errdetail("The coordinator drives it only once that change commits."),
				 errhint("Commit first, then call rig_transaction_wait().")));
}

/*
 * Take the lock an event of the transaction takes (rig.log's barrier, then
 * the event's resources, in rig_do's order): from here the state read is
 * the one the event applies to, and a concurrent abort or decision has
 * ended.
 */
static void
rig_xnode_lock(Jsonb *event)
{
	RigHandler *handler;
	uint64	   *hashes;
	int			n;

	rig_lock_barrier(false);
	handler = rig_lookup_handler("rig.transaction.event");
	if (handler == NULL)
		elog(ERROR, "method rig.transaction.event is not registered");
	n = rig_resource_hashes(handler, event, &hashes);
	rig_lock_hashes(hashes, n);
}

/*
 * The outcome of a transaction pruned while rig_transaction_wait watched
 * it (only committed and aborted ones are pruned): the coordinator's ring
 * has it, or else its last final event in rig.log (pruning removes the
 * events, not their ops); NULL once the log was compacted past them too.
 */
static const char *
rig_xnode_pruned_outcome(int64 id, TimestampTz created)
{
	const char *known = rig_shmem_xnode_outcome(id, created);
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	MemoryContext outer = CurrentMemoryContext;
	char	   *outcome = NULL;

	if (known != NULL)
		return known;
	args[0] = CStringGetTextDatum(psprintf(INT64_FORMAT, id));
	SPI_connect();
	if (rig_spi_as_owner("log",
						 "SELECT CASE e.v->>'event' WHEN 'resolved' THEN e.v->>'state' "
						 "ELSE e.v->>'event' END FROM rig.log l, "
						 "jsonb_array_elements(CASE WHEN l.data ? 'events' THEN l.data->'events' "
						 "ELSE jsonb_build_array(l.data) END) WITH ORDINALITY e(v, n) "
						 "WHERE l.method = 'rig.transaction.event' AND l.data->>'transaction' = $1 "
						 "AND (e.v->>'event' IN ('committed', 'aborted') "
						 "OR e.v->>'event' = 'resolved' AND e.v->>'state' IN ('committed', 'aborted')) "
						 "ORDER BY l.version DESC, e.n DESC LIMIT 1",
						 1, types, args, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	if (SPI_processed > 0)
		outcome = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return outcome;
}

/* True for committed, aborted and failed. */
static bool
rig_xnode_state_final(const char *state)
{
	return strcmp(state, "committed") == 0 || strcmp(state, "aborted") == 0 ||
		strcmp(state, "failed") == 0;
}

/*
 * The outcome the worker published for a transaction in this state, if
 * any: every branch applied it; its final event is on its way.  The ring's
 * entry of a transaction that had this id before (DROP EXTENSION, a
 * restore) differs in its creation time; and only the phase it is in can
 * have that outcome.
 */
static const char *
rig_xnode_outcome_of(int64 id, TimestampTz created, const char *state)
{
	const char *known = rig_shmem_xnode_outcome(id, created);

	if (known != NULL &&
		strcmp(state, strcmp(known, "committed") == 0 ? "committing" : "aborting") == 0)
		return known;
	return NULL;
}

/* The start op's id for a client's key, if it was used (0: not yet). */
static int64
rig_xnode_key_lookup(const char *key, const char *branches)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(key), CStringGetTextDatum(branches)};
	bool		same = false;
	int64		id = 0;

	SPI_connect();
	if (SPI_execute_with_args("SELECT id, branches = $2::jsonb FROM rig.transactions "
							  "WHERE idempotency_key = $1",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	if (SPI_processed > 0)
	{
		bool		isnull;

		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		same = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	if (id != 0 && !same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key \"%s\" was already used for another transaction", key),
				 errdetail("Transaction " INT64_FORMAT " has that key and other branches.", id)));
	return id;
}

/* Write the start op of a checked transaction; returns its id. */
static int64
rig_xnode_write_start(const char *branches, int64 timeout_ms, const char *key)
{
	StringInfoData data;

	initStringInfo(&data);
	appendStringInfo(&data, "{\"branches\": %s, \"timeout_ms\": " INT64_FORMAT ", \"coordinator\": ",
					 branches, timeout_ms);
	escape_json(&data, rig_xnode_identity());
	appendStringInfoString(&data, ", \"key\": ");
	if (key != NULL)
		escape_json(&data, key);
	else
		appendStringInfoString(&data, "null");
	appendStringInfoChar(&data, '}');

	return rig_do_internal("rig.transaction.start",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data))),
						   key != NULL ? psprintf("rig.transaction:%s", key) : NULL);
}

/*
 * The transaction of a client's key, or a new one; while the other nodes
 * answer (sent: their connections, dropped if this throws).
 */
static int64
rig_xnode_find_or_write(const char *branches, int64 timeout_ms, const char *key,
						List *sent)
{
	volatile int64 id = 0;

	PG_TRY();
	{
		/*
		 * the same key again (also after a failover): the same transaction.
		 * Its lock first, so a start with that key still running has ended
		 * and the lookup's fresh snapshot sees it.
		 */
		if (key != NULL)
		{
			rig_lock_idempotency_key(cstring_to_text(psprintf("rig.transaction:%s", key)));
			id = rig_xnode_key_lookup(key, branches);
		}
		if (id == 0)
		{
			id = rig_xnode_write_start(branches, timeout_ms, key);
			rig_xnode_wake_pending = true;
		}
	}
	PG_CATCH();
	{
		rig_branches_check_discard(sent);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return id;
}

/*
 * SQL: check the branches, write the start op, return the id at once.
 * The other nodes check their methods while this backend writes the op;
 * a missing one fails the statement, and the op with it.
 */
Datum
rig_transaction_start(PG_FUNCTION_ARGS)
{
	char	   *branches;
	int			count;
	int64		timeout_ms = RIG_XNODE_DEFAULT_TIMEOUT_MS;
	char	   *key = NULL;
	List	   *remote;
	List	   *sent;
	int64		id;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("branches must not be NULL")));
	if (!PG_ARGISNULL(1))
		timeout_ms = rig_timeout_ms(PG_GETARG_INTERVAL_P(1));
	if (!PG_ARGISNULL(2))
	{
		key = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (strlen(key) == 0 || strlen(key) > RIG_XNODE_MAX_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("idempotency key must be 1 to %d bytes long", RIG_XNODE_MAX_KEY_LEN)));
	}
	branches = rig_branches_normalize(PG_GETARG_JSONB_P(0), &count, &remote);

	sent = rig_branches_check_send(remote);
	id = rig_xnode_find_or_write(branches, timeout_ms, key, sent);
	rig_branches_check_read(sent);
	PG_RETURN_INT64(id);
}

/* SQL: wait (interruptibly) until a transaction is final or timeout passes. */
Datum
rig_transaction_wait(PG_FUNCTION_ARGS)
{
	int64		id;
	TimestampTz deadline = 0;
	TimestampTz created = 0;
	char	   *state = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("transaction id must not be NULL")));
	id = PG_GETARG_INT64(0);
	if (!PG_ARGISNULL(1))
	{
		int64		us = rig_interval_us(PG_GETARG_INTERVAL_P(1), "timeout");

		if (us < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative")));
		/* beyond the last timestamp: no deadline */
		if (pg_add_s64_overflow(GetCurrentTimestamp(), us, &deadline) ||
			!IS_VALID_TIMESTAMP(deadline))
			deadline = 0;
	}
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_transaction_wait() requires the READ COMMITTED isolation level"),
				 errdetail("It watches the transaction's state change; a transaction snapshot would never see it.")));
	rig_xnode_check_committed(id);

	/* the worker broadcasts each change it records; poll too, rarely */
	ConditionVariablePrepareToSleep(rig_shmem_xnode_cv());
	for (;;)
	{
		const char *known;
		long		wait_ms = RIG_XNODE_WAIT_POLL_MS;
		char	   *seen = state;

		/* woken by the outcome of the phase last seen: no need to read again */
		known = seen != NULL ? rig_xnode_outcome_of(id, created, seen) : NULL;
		if (known != NULL)
		{
			ConditionVariableCancelSleep();
			PG_RETURN_TEXT_P(cstring_to_text(known));
		}
		/* once seen, gone means pruned meanwhile, which only a final one is */
		state = rig_xnode_state(id, seen != NULL, &created);
		if (seen != NULL)
			pfree(seen);
		if (state == NULL)
		{
			ConditionVariableCancelSleep();
			known = rig_xnode_pruned_outcome(id, created);
			if (known == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("transaction " INT64_FORMAT " ended and was pruned while this call waited for it", id),
						 errdetail("rig_transaction_prune() removes only committed and aborted transactions; which one this was is no longer recorded on this node.")));
			PG_RETURN_TEXT_P(cstring_to_text(known));
		}
		if (rig_xnode_state_final(state))
			break;
		known = rig_xnode_outcome_of(id, created, state);
		if (known != NULL)
		{
			ConditionVariableCancelSleep();
			PG_RETURN_TEXT_P(cstring_to_text(known));
		}
		if (deadline != 0)
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

			if (left <= 0)
				break;
			wait_ms = Min(wait_ms, left);
		}
		(void) ConditionVariableTimedSleep(rig_shmem_xnode_cv(), wait_ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	/* as last read: a prune may remove a final one right after */
	PG_RETURN_TEXT_P(cstring_to_text(state));
}

/* SQL: a client's abort of a transaction that is still preparing. */
Datum
rig_transaction_abort(PG_FUNCTION_ARGS)
{
	int64		id;
	char	   *state;
	StringInfoData data;
	Jsonb	   *event;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("transaction id must not be NULL")));
	id = PG_GETARG_INT64(0);
	(void) rig_xnode_state(id, false, NULL);

	initStringInfo(&data);
	appendStringInfo(&data, "{\"transaction\": " INT64_FORMAT ", \"event\": \"aborting\", "
					 "\"state\": \"aborting\", \"reason\": \"client\", \"reason_detail\": ", id);
	if (PG_ARGISNULL(1))
		appendStringInfoString(&data, "null");
	else
		escape_json(&data, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	appendStringInfoString(&data, ", \"detail\": ");
	if (PG_ARGISNULL(1))
		appendStringInfoString(&data, "\"aborted by a client\"");
	else
		escape_json(&data, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	appendStringInfoChar(&data, '}');
	event = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data)));

	/* under the event's lock: another abort or the decision has ended */
	rig_xnode_lock(event);
	state = rig_xnode_state(id, false, NULL);
	if (strcmp(state, "aborting") == 0 || strcmp(state, "aborted") == 0)
		PG_RETURN_TEXT_P(cstring_to_text(state));
	if (strcmp(state, "preparing") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("transaction " INT64_FORMAT " is %s: too late to abort", id, state),
				 strcmp(state, "failed") == 0 ?
				 errdetail("A branch's commit or abort raised; rig.transactions.reason_detail has its error.") :
				 errdetail("Every branch voted yes and the coordinator decided to commit.")));
	(void) rig_do_internal("rig.transaction.event", event, NULL);
	rig_xnode_wake_pending = true;
	PG_RETURN_TEXT_P(cstring_to_text("aborting"));
}

/*
 * SQL: an operator's settlement of a failed transaction, after fixing the
 * branches by hand: outcome committed or aborted, with a note saying what
 * was done.  An event op like the coordinator's, so the peers agree.
 */
Datum
rig_transaction_resolve(PG_FUNCTION_ARGS)
{
	int64		id;
	char	   *outcome;
	char	   *note;
	char	   *state;
	StringInfoData data;

	rig_check_database();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("transaction id, outcome and note must not be NULL")));
	id = PG_GETARG_INT64(0);
	outcome = text_to_cstring(PG_GETARG_TEXT_PP(1));
	note = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(outcome, "committed") != 0 && strcmp(outcome, "aborted") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("outcome must be \"committed\" or \"aborted\", not \"%s\"",
						rig_name_for_message(outcome)),
				 errhint("committed: every branch's change is now in effect; aborted: none is.")));
	if (note[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("note must not be empty"),
				 errhint("Say what was done to the branches; it is kept in rig.transaction_events.")));
	state = rig_xnode_state(id, false, NULL);
	if (strcmp(state, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("transaction " INT64_FORMAT " is %s: only a failed transaction can be resolved",
						id, state),
				 rig_xnode_state_final(state) ? 0 :
				 errhint("The coordinator is still driving it; rig_transaction_wait() waits for its end.")));

	initStringInfo(&data);
	appendStringInfo(&data, "{\"transaction\": " INT64_FORMAT ", \"event\": \"resolved\", \"state\": ", id);
	escape_json(&data, outcome);
	appendStringInfoString(&data, ", \"detail\": ");
	escape_json(&data, psprintf("%s by %s: %s", outcome,
								GetUserNameFromId(GetUserId(), false), note));
	appendStringInfoChar(&data, '}');
	(void) rig_do_internal("rig.transaction.event",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data))),
						   NULL);
	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

/*
 * SQL: remove committed and aborted transactions that finished longer ago
 * than older_than, and their events: one op, so the peers remove the same
 * ones.  Returns how many.  Failed ones stay until they are resolved.
 */
Datum
rig_transaction_prune(PG_FUNCTION_ARGS)
{
	Interval   *iv;
	int64		us;
	TimestampTz before;
	int64		count;
	bool		isnull;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	StringInfoData data;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("older_than must not be NULL")));
	iv = PG_GETARG_INTERVAL_P(0);
	us = rig_interval_us(iv, "older_than");
	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	/* before the first timestamp: nothing finished that early */
	if (pg_sub_s64_overflow(GetCurrentTransactionStartTimestamp(), us, &before) ||
		!IS_VALID_TIMESTAMP(before))
		PG_RETURN_INT64(0);
	args[0] = TimestampTzGetDatum(before);

	SPI_connect();
	if (SPI_execute_with_args("SELECT count(*) FROM rig.transactions "
							  "WHERE state IN ('committed', 'aborted') AND finished < $1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (count == 0)
		PG_RETURN_INT64(0);

	initStringInfo(&data);
	appendStringInfoString(&data, "{\"before\": ");
	escape_json(&data, timestamptz_to_str(before));
	appendStringInfoChar(&data, '}');
	(void) rig_do_internal("rig.transaction.prune",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data))),
						   NULL);
	PG_RETURN_INT64(count);
}
