/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  rig's background worker: one per node, in rig.database.
 *
 * Started when recovery finishes and restarted if it dies.  Its loop is
 * latch-driven with a bounded wait, reloads the configuration on SIGHUP,
 * exits on SIGTERM, and resets a memory context every iteration.  Each
 * loop first serves rig_promote() or resumes a promotion a crash
 * interrupted (promote.c; even when the rest is off).  Each round runs in
 * its own transaction: a fence of this node made durable (a peer refused
 * its epoch), the in-doubt resolver over every peer, then catch-up of
 * every peer that may lack operations (returning semisync and sync peers
 * to sync through the commit gate), then the
 * verification of in-sync peers (handlers every round, the log every
 * rig.verify_interval and after a catch-up returned a peer to sync), then,
 * on a follower, the pull from its primary.  Each step runs in a
 * subtransaction: an error is reported as a WARNING and kept (with its time
 * and the worker's start count) for rig.status, and the worker goes on,
 * like pg_cron's launcher; it does not die and restart over it.
 * Every round, first, it reads rig.node to publish whether the node is the
 * primary for routing clients (route.c), even when its work is off.
 * Before each round, outside it (each of its steps commits on its own), it
 * drives the transactions across nodes this node coordinates (coord.c),
 * whatever rig.resolver_interval says, and sleeps no longer than they need.
 * rig.resolver_interval sets the pace; -1 turns the worker's work off (it
 * then wakes once a minute, to publish the role).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catchup.h"
#include "coord.h"
#include "follow.h"
#include "promote.h"
#include "resolve.h"
#include "route.h"
#include "settings.h"
#include "shmem.h"
#include "verify.h"
#include "worker.h"
#include "xact.h"

/* How long the worker sleeps when the resolver is off */
#define RIG_WORKER_IDLE_MS	60000

/* How soon the worker retries a promotion that failed part-way */
#define RIG_WORKER_PROMOTE_RETRY_MS	1000

PGDLLEXPORT void rig_worker_main(Datum main_arg);

static emit_log_hook_type rig_prev_emit_log_hook = NULL;

static void rig_worker_emit_log(ErrorData *edata);
static void rig_worker_fence(void *arg);
static void rig_worker_resolve(void *arg);
static void rig_worker_catch_up(void *arg);
static void rig_worker_verify(void *arg);
static void rig_worker_follow(void *arg);
static void rig_worker_step(const char *state, void (*step) (void *arg));
static void rig_worker_route(void *arg);
static void rig_worker_round(bool work);
static long rig_worker_coordinate(void);
static void rig_worker_try_round(MemoryContext loop_cxt);

/* Register the worker with the postmaster; called from _PG_init. */
void
rig_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "rig", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "rig_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "rig worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "rig worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Keep every error the worker reports (or dies of: a FATAL never comes
 * back to a PG_CATCH) for rig.status, so that a failing or crash-looping
 * worker does not look healthy.
 */
static void
rig_worker_emit_log(ErrorData *edata)
{
	if (edata->elevel >= ERROR)
		rig_worker_note_error(edata->message, edata->detail);
	if (rig_prev_emit_log_hook)
		rig_prev_emit_log_hook(edata);
}

/* Step: make a fence the commit path or catch-up set durable. */
static void
rig_worker_fence(void *arg)
{
	rig_fence_persist();
}

/* Step: settle in-doubt transactions on the peers. */
static void
rig_worker_resolve(void *arg)
{
	int			resolved = rig_resolve_all(rig_sync_timeout);

	if (resolved > 0)
		ereport(LOG,
				(errmsg("rig resolved %d in-doubt transaction(s) on its peers", resolved)));
}

/* Step: catch up the peers that may lack operations. */
static void
rig_worker_catch_up(void *arg)
{
	rig_catch_up_all();
}

/* Step: verify in-sync peers' handlers and, when due, their logs. */
static void
rig_worker_verify(void *arg)
{
	rig_verify_all();
}

/* Step: as a follower, pull and apply the primary's new records. */
static void
rig_worker_follow(void *arg)
{
	(void) rig_follow_round();
}

/* Step: publish whether this node is the primary, for routing clients. */
static void
rig_worker_route(void *arg)
{
	rig_route_refresh();
}

/*
 * Run one step of a round in a subtransaction: an error is kept for
 * rig.status and reported as a WARNING, and the worker goes on with the
 * next step and the next round instead of dying (and being restarted,
 * only to fail again, every 5 s).
 */
static void
rig_worker_step(const char *state, void (*step) (void *arg))
{
	ErrorData  *edata;

	rig_worker_set_state(state);
	edata = rig_subxact_try(step, NULL);
	if (edata == NULL)
		return;
	/* rig_worker_emit_log is not called for an error caught here */
	rig_worker_note_error(edata->message, edata->detail);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("rig worker, %s: %s", state, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0,
			 edata->context ? errcontext("%s", edata->context) : 0));
	FreeErrorData(edata);
}

/*
 * One round, in its own transaction, each step on its own: publishing the
 * node's role for routing always (right at the start too), the work only
 * when the resolver is on.
 */
static void
rig_worker_round(bool work)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "rig: resolving in-doubt transactions");

	rig_worker_step("routing", rig_worker_route);
	if (!work)
		rig_worker_set_state("idle (rig.resolver_interval = -1)");
	else if (OidIsValid(get_extension_oid("rig", true)))
	{
		rig_worker_step("fencing", rig_worker_fence);
		rig_worker_step("resolving", rig_worker_resolve);
		rig_worker_step("catching up peers", rig_worker_catch_up);
		rig_worker_step("verifying peers", rig_worker_verify);
		rig_worker_step("following", rig_worker_follow);
		rig_worker_set_state("idle");
	}
	else
		rig_worker_set_state("waiting for CREATE EXTENSION rig");

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Drive the transactions across nodes this node coordinates (coord.c),
 * whatever rig.resolver_interval says: each step runs in a transaction of
 * its own, so this runs outside the round.  Returns the milliseconds
 * until it wants to run again (-1: nothing unfinished).
 */
static long
rig_worker_coordinate(void)
{
	long		wait_ms = -1;
	RigWorkerInfo before;
	MemoryContext cxt = CurrentMemoryContext;

	/* rig.status keeps saying what the round left (tests wait for it) */
	rig_worker_get_state(&before);
	rig_worker_set_state("coordinating transactions");
	pgstat_report_activity(STATE_RUNNING, "rig: coordinating transactions across nodes");
	PG_TRY();
	{
		wait_ms = rig_coord_work();
	}
	PG_CATCH();
	{
		/* kept for rig.status by rig_worker_emit_log; retried soon */
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		wait_ms = 1000;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	rig_worker_set_state(before.state);
	return wait_ms;
}

/* Run the round; an error outside its steps is reported, not fatal. */
static void
rig_worker_try_round(MemoryContext loop_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	PG_TRY();
	{
		rig_worker_round(rig_resolver_interval >= 0);
	}
	PG_CATCH();
	{
		/* outside the steps (starting the round): report, go on */
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(loop_cxt);
}

/* Entry point of the worker process. */
void
rig_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	TimestampTz next_round = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	rig_worker_note_start();
	rig_prev_emit_log_hook = emit_log_hook;
	emit_log_hook = rig_worker_emit_log;
	BackgroundWorkerInitializeConnection(rig_database, NULL, 0);

	/*
	 * The database's search_path is its owner's to set, and this worker is a
	 * superuser: none of its statements may find the owner's operators.
	 * (Handlers switch to rig.handler_search_path as always.)
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
	/* nor may a node's defaults for applications stop rig's own writes */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_SESSION);
	rig_worker_set_state("starting");

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "rig worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		bool		promoting;
		long		wait_ms;
		long		coord_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next_round = 0;		/* rig.resolver_interval may have changed */
		}

		/* promotion first, even with rig.resolver_interval = -1 (promote.c) */
		promoting = rig_promote_work();
		/* first: a client may be waiting for it (rig_transaction_wait) */
		coord_ms = rig_worker_coordinate();

		/*
		 * The round runs once per interval, not at each wake-up: a client
		 * starting a transaction across nodes sets the latch, and a round
		 * there would stand between its commit and the worker's next pass.
		 */
		if (promoting || next_round == 0 || GetCurrentTimestamp() >= next_round)
		{
			long		interval_ms = promoting ? RIG_WORKER_PROMOTE_RETRY_MS :
				rig_resolver_interval >= 0 ? Max(rig_resolver_interval, 10) : RIG_WORKER_IDLE_MS;

			rig_worker_try_round(loop_cxt);
			next_round = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), interval_ms);
		}

		wait_ms = Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_round), 1);
		if (coord_ms >= 0)
			wait_ms = Min(wait_ms, Max(coord_ms, 1));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
