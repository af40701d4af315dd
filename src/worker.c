/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  rig's background worker: one per node, in rig.database.
 *
 * Started when recovery finishes and restarted if it dies.  Its loop is
 * latch-driven with a bounded wait, reloads the configuration on SIGHUP,
 * exits on SIGTERM, and resets a memory context every iteration.  Each
 * round runs in its own transaction: the in-doubt resolver over every
 * peer, then catch-up of every peer that may lack operations (returning
 * semisync and sync peers to sync through the commit gate), then the
 * verification of in-sync peers (handlers every round, the log every
 * rig.verify_interval and after a catch-up returned a peer to sync).
 * rig.resolver_interval sets the pace; -1 turns the worker's work off.
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "rig.h"

/* How long the worker sleeps when the resolver is off */
#define RIG_WORKER_IDLE_MS	60000

PGDLLEXPORT void rig_worker_main(Datum main_arg);

static void rig_worker_round(void);

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

/* One round of work, in its own transaction. */
static void
rig_worker_round(void)
{
	int			resolved;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "rig: resolving in-doubt transactions");

	if (OidIsValid(get_extension_oid("rig", true)))
	{
		rig_worker_set_state("resolving");
		resolved = rig_resolve_all(rig_sync_timeout);
		if (resolved > 0)
			ereport(LOG,
					(errmsg("rig resolved %d in-doubt transaction(s) on its peers", resolved)));
		rig_worker_set_state("catching up peers");
		rig_catch_up_all();
		rig_worker_set_state("verifying peers");
		rig_verify_all();
		rig_worker_set_state("following");
		(void) rig_follow_round();
		rig_worker_set_state("idle");
	}
	else
		rig_worker_set_state("waiting for CREATE EXTENSION rig");

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Entry point of the worker process. */
void
rig_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(rig_database, NULL, 0);
	rig_worker_set_state("starting");

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "rig worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (rig_resolver_interval >= 0)
		{
			old = MemoryContextSwitchTo(loop_cxt);
			rig_worker_round();
			MemoryContextSwitchTo(old);
			MemoryContextReset(loop_cxt);
		}
		else
			rig_worker_set_state("idle (rig.resolver_interval = -1)");

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 rig_resolver_interval >= 0 ? Max(rig_resolver_interval, 10)
						 : RIG_WORKER_IDLE_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
