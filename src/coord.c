/*-------------------------------------------------------------------------
 *
 * coord.c
 *	  The coordinator of transactions across nodes: the worker's driver of
 *	  their state machine (whose rules are in decide.c).
 *
 * Each pass reads every unfinished transaction (one short transaction),
 * sends every phase call due to the other nodes, in parallel (one
 * pipelined connection per branch node, each call its own transaction
 * there), then, in one transaction, runs this node's own branches
 * in-process while the others work, reads their answers, and records the
 * answers and the decisions they allow as rig ops (rig.transaction.event), so
 * they reach this node's peers; a decision is durable before the first
 * call of the next phase is sent.  A phase call is
 * rig_do(method, data || {transaction, branch}, key) on the branch's node,
 * with key "rig:<coordinator>:<id>:<branch>:<phase>": after a crash the
 * next pass simply sends again what has no recorded answer, and the key
 * makes the branch node apply it once.  An abort first claims the
 * prepare's key (rig.transaction.claim) unless the prepare took effect,
 * and compensates only then, so a prepare arriving after the abort can
 * never take effect.  Transient errors (a node unreachable, a timeout, a
 * deadlock) are retried, with a per-node backoff; answers are not
 * recorded until they are definite.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/coord.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "coord.h"
#include "decide.h"
#include "node.h"
#include "phase.h"
#include "settings.h"
#include "shmem.h"
#include "write.h"
#include "xact.h"

/* Unfinished transactions one pass looks at (the oldest first) */
#define RIG_COORD_MAX_TXNS		1000

/* Passes one worker iteration may run back to back */
#define RIG_COORD_MAX_PASSES	100

/* While transactions are unfinished, look at least this often (ms) */
#define RIG_COORD_POLL_MS		1000

/*
 * Every unfinished transaction (the oldest first), a row per branch, with
 * the branch's progress from its events
 */
#define RIG_COORD_LOAD_SQL \
	"SELECT t.id, t.state, t.deadline <= now(), t.coordinator, " \
	"jsonb_array_length(t.branches), b.ord - 1, " \
	"CASE WHEN b.v ? 'on_coordinator' THEN current_setting('rig.node_name') ELSE b.v->>'node' END, " \
	"b.v->>'prepare', b.v->>'commit', b.v->>'abort', " \
	"((b.v->'data') || jsonb_build_object('transaction', t.id, 'branch', b.ord - 1))::text, " \
	"coalesce((SELECT bit_or(CASE e.event WHEN 'prepared' THEN 1 WHEN 'refused' THEN 2 " \
	"  WHEN 'committed' THEN 4 WHEN 'compensated' THEN 8 WHEN 'released' THEN 8 " \
	"  WHEN 'commit failed' THEN 16 WHEN 'abort failed' THEN 16 ELSE 0 END) " \
	"  FROM rig.transaction_events e WHERE e.id = t.id AND e.branch = b.ord - 1), 0), " \
	"t.created, " \
	"(SELECT e.detail FROM rig.transaction_events e WHERE e.id = t.id AND e.branch = b.ord - 1 " \
	"  AND e.event IN ('commit failed', 'abort failed') ORDER BY e.seq LIMIT 1) " \
	"FROM (SELECT u.* FROM rig.transactions u " \
	"  WHERE u.state IN ('preparing', 'committing', 'aborting') ORDER BY u.id LIMIT " \
	CppAsString2(RIG_COORD_MAX_TXNS) ") t, " \
	"jsonb_array_elements(t.branches) WITH ORDINALITY b(v, ord) " \
	"ORDER BY t.id, b.ord"

static MemoryContext rig_coord_cxt = NULL;

/* The plan of RIG_COORD_LOAD_SQL, kept for the worker's life */
static SPIPlanPtr rig_coord_load_plan = NULL;

/* The plans of this node's own phase calls, per phase */
static SPIPlanPtr rig_coord_phase_plans[3] = {NULL, NULL, NULL};

/*
 * What this pass's own calls and event ops may still wait for locks, in
 * all (ms): each waits at most that long, so calls stuck behind a client's
 * lock, or events behind a client's abort not yet committed, cost a pass
 * one lock_timeout, not one each.
 */
static int	rig_coord_lock_budget_ms = 0;

static bool rig_coord_pass(long *wait_ms);
static bool rig_coord_step(List *txns, List *nodes);
static List *rig_coord_load(List **nodes, long *wait_ms);
static List *rig_coord_calls(List *txns, TimestampTz now);
static void rig_coord_run_local(List *calls);
static void rig_coord_local_call(void *arg);
static bool rig_coord_record(List *txns, List *calls);
static bool rig_coord_settle(RigCoordTxn *t);
static void rig_coord_settle_work(void *arg);
static bool rig_coord_phase_started(RigCoordTxn *t);
static void rig_coord_publish(List *txns, List *calls);
static void rig_coord_fault(List *calls, const char *when);
static void rig_coord_begin(void);
static void rig_coord_lock_spent(TimestampTz start);

/*
 * The worker's entry: run passes while they make progress; returns the
 * milliseconds until the next pass is due (-1: nothing unfinished).
 */
long
rig_coord_work(void)
{
	long		wait_ms = -1;

	if (rig_coord_cxt == NULL)
	{
		rig_coord_cxt = AllocSetContextCreate(TopMemoryContext, "rig coordinator",
											  ALLOCSET_DEFAULT_SIZES);
		/*
		 * The driver's queries are small, but the planner's estimate of a
		 * jsonb_array_elements() join crosses jit_above_cost: compiling
		 * them cost 20 ms a pass, four times the pass itself.
		 */
		SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);
	}
	for (int i = 0; i < RIG_COORD_MAX_PASSES; i++)
	{
		MemoryContext old;
		bool		progressed;

		/* between its transactions a pass allocates here, reset each time */
		MemoryContextReset(rig_coord_cxt);
		old = MemoryContextSwitchTo(rig_coord_cxt);
		progressed = rig_coord_pass(&wait_ms);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rig_coord_cxt);
		if (!progressed)
			return wait_ms;
		CHECK_FOR_INTERRUPTS();
	}
	return 0;
}

/*
 * One pass: load, call, record; then, for the transactions it moved to a
 * new phase, the calls of that phase at once (no reload: what the pass
 * recorded is what a reload would read).  True when it recorded something.
 */
static bool
rig_coord_pass(long *wait_ms)
{
	List	   *nodes = NIL;
	List	   *txns;
	bool		recorded = false;

	rig_coord_lock_budget_ms = Min(rig_sync_timeout, 1000);
	txns = rig_coord_load(&nodes, wait_ms);
	while (txns != NIL)
	{
		List	   *moved = NIL;
		ListCell   *lc;

		if (!rig_coord_step(txns, nodes))
			break;
		recorded = true;
		foreach(lc, txns)
		{
			RigCoordTxn *t = lfirst(lc);

			if (t->moved)
				moved = lappend(moved, t);
			t->moved = false;
		}
		txns = moved;
		CHECK_FOR_INTERRUPTS();
	}
	return recorded;
}

/* Send, run and record the calls due for these transactions; true if recorded. */
static bool
rig_coord_step(List *txns, List *nodes)
{
	List	   *calls;
	List	   *sent;
	bool		recorded;
	bool		durable = false;
	bool		ended = false;
	ListCell   *lc;

	foreach(lc, txns)
	{
		RigCoordTxn *t = lfirst(lc);

		t->durable = t->ended = false;
	}
	calls = rig_coord_calls(txns, GetCurrentTimestamp());
	rig_coord_fault(calls, "before");
	sent = rig_phase_send_remote(calls, nodes);

	/* this node's own calls run while the other nodes work on theirs */
	rig_coord_begin();
	rig_coord_run_local(calls);
	rig_phase_read_remote(sent, calls);
	rig_coord_fault(calls, "after");
	rig_coord_publish(txns, calls);
	recorded = rig_coord_record(txns, calls);
	foreach(lc, txns)
	{
		RigCoordTxn *t = lfirst(lc);

		durable |= t->durable;
		ended |= t->ended;
	}
	if (!durable)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(rig_coord_cxt);
	if (recorded && ended)
		ConditionVariableBroadcast(rig_shmem_xnode_cv());
	return recorded;
}

/*
 * Read every unfinished transaction and the registered nodes, into the
 * coordinator's context; NIL when there is nothing to do here (none, or
 * this node is not a primary).  Sets *wait_ms for the next look.
 */
static List *
rig_coord_load(List **nodes, long *wait_ms)
{
	List	   *txns = NIL;
	RigCoordTxn *t = NULL;
	MemoryContext old;

	*wait_ms = -1;
	rig_coord_begin();
	if (!OidIsValid(get_extension_oid("rig", true)) ||
		strcmp(rig_node_role(), "primary") != 0 || rig_node_fenced(NULL))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(rig_coord_cxt);
		return NIL;
	}
	SPI_connect();
	if (rig_coord_load_plan == NULL)
	{
		rig_coord_load_plan = SPI_prepare(RIG_COORD_LOAD_SQL, 0, NULL);
		if (rig_coord_load_plan == NULL || SPI_keepplan(rig_coord_load_plan) != 0)
			elog(ERROR, "could not prepare the coordinator's query");
	}
	if (SPI_execute_plan(rig_coord_load_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	old = MemoryContextSwitchTo(rig_coord_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = pg_strtoint64(SPI_getvalue(tup, desc, 1));
		int			b = pg_strtoint32(SPI_getvalue(tup, desc, 6));

		if (t == NULL || t->id != id)
		{
			t = palloc0(sizeof(RigCoordTxn));
			t->id = id;
			t->state = SPI_getvalue(tup, desc, 2);
			t->expired = strcmp(SPI_getvalue(tup, desc, 3), "t") == 0;
			t->coordinator = SPI_getvalue(tup, desc, 4);
			t->created = DatumGetTimestampTz(SPI_getbinval(tup, desc, 13, &isnull));
			t->nbranches = pg_strtoint32(SPI_getvalue(tup, desc, 5));
			t->node = palloc0(sizeof(char *) * t->nbranches);
			for (int p = 0; p < 3; p++)
				t->method[p] = palloc0(sizeof(char *) * t->nbranches);
			t->data = palloc0(sizeof(char *) * t->nbranches);
			t->flags = palloc0(sizeof(int) * t->nbranches);
			t->refused_branch = -1;
			t->failed_branch = -1;
			txns = lappend(txns, t);
		}
		t->node[b] = SPI_getvalue(tup, desc, 7);
		for (int p = 0; p < 3; p++)
			t->method[p][b] = SPI_getvalue(tup, desc, 8 + p);
		t->data[b] = SPI_getvalue(tup, desc, 11);
		t->flags[b] = pg_strtoint32(SPI_getvalue(tup, desc, 12));
		/* a branch whose phase raised: the failure the others wait to join */
		if ((t->flags[b] & RIG_BRANCH_FAILED) && t->failed_branch < 0)
		{
			t->failed_branch = b;
			t->failed_error = SPI_getvalue(tup, desc, 14);
		}
	}
	MemoryContextSwitchTo(old);

	if (txns != NIL)
	{
		static SPIPlanPtr nodes_plan = NULL;

		if (rig_spi_kept(&nodes_plan, "SELECT name, conninfo FROM rig.remote_nodes",
						 0, NULL, NULL, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read rig.remote_nodes");
		old = MemoryContextSwitchTo(rig_coord_cxt);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			*nodes = lappend(*nodes, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1));
			*nodes = lappend(*nodes, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
		}
		MemoryContextSwitchTo(old);
		*wait_ms = RIG_COORD_POLL_MS;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(rig_coord_cxt);
	return txns;
}

/* The phase calls due now, skipping nodes that are backing off. */
static List *
rig_coord_calls(List *txns, TimestampTz now)
{
	List	   *calls = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(rig_coord_cxt);

	foreach(lc, txns)
	{
		RigCoordTxn *t = lfirst(lc);

		for (int b = 0; b < t->nbranches; b++)
		{
			RigPhase	phase;
			RigCoordCall *call;

			if (strcmp(t->state, "preparing") == 0)
			{
				if (t->expired || (t->flags[b] & (RIG_BRANCH_PREPARED | RIG_BRANCH_REFUSED)))
					continue;
				phase = RIG_PHASE_PREPARE;
			}
			else if (strcmp(t->state, "committing") == 0)
			{
				if (t->flags[b] & (RIG_BRANCH_COMMITTED | RIG_BRANCH_FAILED))
					continue;
				phase = RIG_PHASE_COMMIT;
			}
			else
			{
				if (t->flags[b] & (RIG_BRANCH_ABORTED | RIG_BRANCH_FAILED))
					continue;
				phase = RIG_PHASE_ABORT;
			}
			if (!rig_phase_ready(t, b, now))
				continue;
			call = palloc0(sizeof(RigCoordCall));
			call->txn = t;
			call->branch = b;
			call->phase = phase;
			calls = lappend(calls, call);
		}
	}
	MemoryContextSwitchTo(old);
	return calls;
}

/* Crash tests: pause before or after the calls of each phase in this pass. */
static void
rig_coord_fault(List *calls, const char *when)
{
	bool		seen[3] = {false, false, false};
	ListCell   *lc;

	if (rig_fault_point == NULL)
		return;
	foreach(lc, calls)
		seen[((RigCoordCall *) lfirst(lc))->phase] = true;
	for (int p = 0; p < 3; p++)
		if (seen[p])
			rig_fault(psprintf("xnode_%s_%s", when, rig_phase_name(p)), true);
}

/*
 * Start one of the driver's transactions.  (Its statements find operators
 * and functions in pg_catalog only: the worker's session sets that path,
 * worker.c, since the database's owner sets the database's.)
 */
static void
rig_coord_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/* A wait that began at start ended in a lock timeout: take it from the budget. */
static void
rig_coord_lock_spent(TimestampTz start)
{
	long		ms = TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());

	rig_coord_lock_budget_ms = (int) Max(rig_coord_lock_budget_ms - ms, 0);
}

/* Subtransaction: run one of this node's own phase calls in-process. */
static void
rig_coord_local_call(void *arg)
{
	RigCoordCall *call = arg;
	RigCoordTxn *t = call->txn;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	bool		isnull;

	args[0] = CStringGetTextDatum(t->method[call->phase][call->branch]);
	args[1] = CStringGetTextDatum(t->data[call->branch]);
	args[2] = CStringGetTextDatum(rig_phase_key(t, call->branch, call->phase));
	args[3] = CStringGetTextDatum(call->phase == RIG_PHASE_PREPARE ?
								  t->method[RIG_PHASE_COMMIT][call->branch] :
								  rig_phase_key(t, call->branch, RIG_PHASE_PREPARE));
	args[4] = CStringGetTextDatum(t->method[RIG_PHASE_ABORT][call->branch]);
	/*
	 * bounded: a lock a client holds stops this call, not the worker (and
	 * every transaction); it is retried, after a backoff of its branch
	 */
	(void) set_config_option("lock_timeout", psprintf("%d", Max(rig_coord_lock_budget_ms, 1)),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	SPI_connect();
	if (rig_spi_kept(&rig_coord_phase_plans[call->phase], rig_phase_sql(call->phase),
					 rig_phase_nparams(call->phase),
					 types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not run a phase call");
	call->answered = true;
	call->ok = true;
	call->result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
}

/*
 * Run this node's own calls, each in a subtransaction of the transaction
 * that records the answers: a branch here commits with its event.
 */
static void
rig_coord_run_local(List *calls)
{
	ListCell   *lc;

	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);
		ErrorData  *edata;
		TimestampTz start;

		if (strcmp(call->txn->node[call->branch], rig_node_name()) != 0)
			continue;
		call->txn->durable = true;
		start = GetCurrentTimestamp();
		edata = rig_subxact_try(rig_coord_local_call, call);
		if (edata != NULL)
		{
			if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
				rig_coord_lock_spent(start);
			rig_phase_answer(call, unpack_sql_state(edata->sqlerrcode), edata->message, NULL);
			FreeErrorData(edata);
		}
		rig_phase_local_result(call);
	}
}

/*
 * Record every definite answer as an event, then the decisions they
 * allow: one op per transaction (its answers, its decision and, with the
 * decision, this node's own branches of the phase it starts).  True when
 * it recorded anything.
 */
static bool
rig_coord_record(List *txns, List *calls)
{
	ListCell   *lc;
	bool		any = false;

	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);

		if (!call->answered)
		{
			ereport(LOG,
					(errmsg("rig transaction " INT64_FORMAT ": %s of branch %d on node \"%s\" will be retried",
							call->txn->id, rig_phase_name(call->phase), call->branch,
							call->txn->node[call->branch]),
					 errdetail_internal("%s", call->error ? call->error : "")));
			continue;
		}
		rig_decide_answer(call);
	}
	foreach(lc, txns)
	{
		if (rig_coord_settle(lfirst(lc)))
			any = true;
	}
	return any;
}

/*
 * Record one transaction's events of this step, and the decision they
 * allow, as one op in a subtransaction.  If that fails (e.g. a client's
 * abort won the race for the decision), nothing of it stays, this node's
 * branches of the decided phase included, and what the pass holds in
 * memory is as before: the next pass sends again what has no recorded
 * answer, and the keys answer it from the first time.
 */
static bool
rig_coord_settle(RigCoordTxn *t)
{
	RigCoordTxn saved = *t;
	int		   *flags;
	TimestampTz start = GetCurrentTimestamp();
	ErrorData  *edata;

	/* nothing to record (e.g. its branch node is backing off): no subtransaction */
	if (t->events == NULL && !rig_decide(t, false))
		return false;
	flags = palloc(sizeof(int) * t->nbranches);
	memcpy(flags, t->flags, sizeof(int) * t->nbranches);
	edata = rig_subxact_try(rig_coord_settle_work, t);
	if (edata == NULL)
	{
		bool		noted = t->events != NULL;

		/* the phase the decision starts is due at once on the other nodes */
		t->moved = strcmp(t->state, saved.state) != 0 && rig_coord_phase_started(t);
		t->events = NULL;
		return noted;
	}
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		rig_coord_lock_spent(start);
	ereport(LOG,
			(errmsg("rig transaction " INT64_FORMAT ": could not record its events: %s",
					t->id, edata->message)));
	FreeErrorData(edata);
	memcpy(saved.flags, flags, sizeof(int) * t->nbranches);
	*t = saved;
	t->events = NULL;
	return false;
}

/*
 * Subtransaction: decide, run this node's branches of the decided phase,
 * decide again (a transaction held here alone can end at once), record.
 */
static void
rig_coord_settle_work(void *arg)
{
	RigCoordTxn *t = arg;

	if (rig_decide(t, true) && rig_coord_phase_started(t))
	{
		List	   *calls = rig_coord_calls(list_make1(t), GetCurrentTimestamp());
		ListCell   *lc;

		rig_coord_run_local(calls);
		foreach(lc, calls)
		{
			RigCoordCall *call = lfirst(lc);

			if (call->answered)
				rig_decide_answer(call);
		}
		(void) rig_decide(t, true);
	}
	if (t->events == NULL)
		return;
	/*
	 * Its wait for the barrier and the transaction's lock is bounded (the
	 * pass's lock budget): a change held open (a rig_ddl in a transaction
	 * not yet ended) or a client's abort not yet committed would otherwise
	 * stop the worker, and everything else it does, for as long.
	 */
	(void) set_config_option("lock_timeout", psprintf("%d", Max(rig_coord_lock_budget_ms, 1)),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	(void) rig_do_internal("rig.transaction.event",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															  CStringGetDatum(psprintf("{\"transaction\": " INT64_FORMAT ", \"events\": [%s]}",
																					   t->id, t->events->data)))),
						   NULL);
}

/* True when the transaction is in a phase with calls (committing, aborting). */
static bool
rig_coord_phase_started(RigCoordTxn *t)
{
	return strcmp(t->state, "committing") == 0 || strcmp(t->state, "aborting") == 0;
}

/*
 * Before the answers are recorded: a transaction whose every branch has
 * now applied the decided phase has its outcome, whatever the recording
 * costs; tell rig_transaction_wait() at once (the final state is written
 * in this pass's transaction, off the client's path).
 */
static void
rig_coord_publish(List *txns, List *calls)
{
	ListCell   *lc;
	bool		any = false;

	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);

		/* this node's own answers commit only with this pass's transaction */
		if (call->answered && call->ok && call->phase != RIG_PHASE_PREPARE &&
			strcmp(call->txn->node[call->branch], rig_node_name()) != 0)
			call->txn->flags[call->branch] |= call->phase == RIG_PHASE_COMMIT ?
				RIG_BRANCH_COMMITTED : RIG_BRANCH_ABORTED;
	}
	foreach(lc, txns)
	{
		RigCoordTxn *t = lfirst(lc);
		bool		committing = strcmp(t->state, "committing") == 0;
		int			need = committing ? RIG_BRANCH_COMMITTED : RIG_BRANCH_ABORTED;
		bool		all = true;

		if (!committing && strcmp(t->state, "aborting") != 0)
			continue;
		for (int b = 0; b < t->nbranches && all; b++)
			all = (t->flags[b] & need) != 0;
		if (!all)
			continue;
		rig_shmem_xnode_outcome_set(t->id, t->created, committing);
		any = true;
	}
	if (any)
		ConditionVariableBroadcast(rig_shmem_xnode_cv());
}

