/*-------------------------------------------------------------------------
 *
 * promote.c
 *	  Promotion of a replica: rig_promote() and the worker's part of it.
 *
 * COMMIT PREPARED cannot run inside a function's transaction, so
 * rig_promote() only checks the node, takes a ticket in shared memory,
 * wakes the worker and waits (interruptibly, bounded) for its answer.  The
 * worker does the steps, each in a transaction of its own, and each
 * restartable after a crash: rig.node.role says where it stands.
 *
 *  1. rig.node: role = 'promoting', epoch = the new epoch (one above this
 *     node's epoch and every epoch in rig.epochs).  From then on the old
 *     primary's operations are refused (this node is no longer its replica,
 *     and its epoch is lower); the worker waits for the transactions that
 *     may have accepted one before, so none prepares after step 2 looked.
 *  2. Commit every rig prepared transaction left here by older primaries,
 *     each in a transaction of its own, as a top-level COMMIT PREPARED does
 *     (FinishPreparedTransaction).  The commit-all rule: rig_do() gives a
 *     definite error only before any peer prepared, so every prepared
 *     branch is an op whose client saw success or an unknown outcome.
 *  3. The first version of the epoch is one above everything this node
 *     holds or held (log, prepared versions, the version sequence, shared
 *     memory); the sequence is set below it, rig.epochs records (epoch,
 *     first version, this node, time), and rig.node becomes role =
 *     'primary' with no primary.  rig_do() refuses while the role is
 *     'promoting' and works from here on.
 *
 * A crash after step 1 leaves 'promoting': the restarted worker resumes at
 * step 2 by itself, and rig_promote() waits for it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/promote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "gid.h"
#include "node.h"
#include "oplog.h"
#include "promote.h"
#include "settings.h"
#include "shmem.h"
#include "watermark.h"
#include "xact.h"

/* rig_promote() waits this many times rig.sync_timeout for the worker */
#define RIG_PROMOTE_TIMEOUT_FACTOR	10

/* The worker waits this long for transactions that may hold old ops */
#define RIG_PROMOTE_DRAIN_FACTOR	3

/* True until the worker has looked whether a promotion is under way */
static bool rig_promote_check_durable = true;

static void rig_promote_wake_worker(void);
static int64 rig_promote_wait(uint64 ticket);
static int64 rig_promote_begin(bool asked);
static void rig_promote_drain(pid_t requester);
static List *rig_promote_list_branches(MemoryContext keep);
static void rig_promote_commit_branches(MemoryContext keep);
static int64 rig_promote_finish(void);
static int64 rig_promote_steps(bool asked, pid_t requester, MemoryContext cxt);
static int64 rig_spi_int64(const char *sql);

PG_FUNCTION_INFO_V1(rig_promote);

/* Wake the worker, which does the promotion; say so if it is not running. */
static void
rig_promote_wake_worker(void)
{
	RigWorkerInfo info;
	PGPROC	   *proc;

	rig_worker_get_state(&info);
	proc = info.pid != 0 ? BackendPidGetProc(info.pid) : NULL;
	if (proc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig's worker is not running"),
				 errdetail("The worker promotes the node; rig_promote() only asks it."),
				 errhint("Check rig.status and the server log; the worker restarts by itself within seconds.")));
	SetLatch(&proc->procLatch);
}

/*
 * Wait for the worker's answer to ticket, interruptibly, at most
 * RIG_PROMOTE_TIMEOUT_FACTOR x rig.sync_timeout; returns the new epoch.
 */
static int64
rig_promote_wait(uint64 ticket)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   (int64) rig_sync_timeout * RIG_PROMOTE_TIMEOUT_FACTOR);
	int64		epoch;
	char		error[256];

	while (!rig_promote_answered(ticket, &epoch, error, sizeof(error)))
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("promotion of node \"%s\" did not finish within %d ms",
							rig_node_name(), rig_sync_timeout * RIG_PROMOTE_TIMEOUT_FACTOR),
					 errdetail("rig_promote() waits 10 x rig.sync_timeout for the worker."),
					 errhint("The worker goes on; call rig_promote() again to wait for it, and see rig.status (worker_state, worker_last_error).")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (error[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("promotion of node \"%s\" failed: %s", rig_node_name(), error),
				 errhint("The worker retries a promotion under way (rig.node.role = 'promoting'); call rig_promote() again to wait for it.")));
	return epoch;
}

/*
 * SQL: make this replica the primary of a new epoch.  The worker does the
 * work (see the top of this file); this waits for it.
 */
Datum
rig_promote(PG_FUNCTION_ARGS)
{
	const char *role;
	uint64		ticket;

	rig_check_database();
	rig_xact_refuse_ops("rig_promote()");
	role = rig_node_role();
	if (strcmp(role, "primary") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is already the primary", rig_node_name()),
				 errdetail("It is the primary of epoch " INT64_FORMAT ".", rig_node_epoch()),
				 errhint("rig_promote() promotes a replica; call it on the replica that is to take over.")));
	if (strcmp(role, "replica") != 0 && strcmp(role, "promoting") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not a replica (its role is \"%s\")",
						rig_node_name(), role),
				 errhint("Only a replica can be promoted; make this node a replica of the current primary first.")));

	ticket = rig_promote_ask();
	rig_promote_wake_worker();
	PG_RETURN_INT64(rig_promote_wait(ticket));
}

/* Run one query that returns a single bigint (NULL: 0), inside SPI. */
static int64
rig_spi_int64(const char *sql)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "rig: could not run \"%s\"", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Step 1, in a transaction of its own: role 'promoting' and the new epoch.
 * Returns the epoch the node is in afterwards; 0 when there is nothing to
 * do (a replica nobody asked to promote).
 */
static int64
rig_promote_begin(bool asked)
{
	const char *role;
	int64		epoch;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	role = rig_node_role();
	epoch = rig_node_epoch();
	if (strcmp(role, "promoting") == 0)
		;						/* a promotion under way: resume it */
	else if (!asked)
		epoch = 0;
	else if (strcmp(role, "replica") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not a replica (its role is \"%s\")",
						rig_node_name(), role)));
	else
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1];

		SPI_connect();
		epoch = Max(epoch, rig_spi_int64("SELECT max(epoch) FROM rig.epochs")) + 1;
		SPI_finish();
		args[0] = Int64GetDatum(epoch);
		rig_node_update("UPDATE rig.node SET role = 'promoting', epoch = $1",
						1, types, args);
		ereport(LOG,
				(errmsg("rig: promoting node \"%s\" to the primary of epoch " INT64_FORMAT,
						rig_node_name(), epoch)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	return epoch;
}

/*
 * After step 1: wait for every transaction that may have accepted an op of
 * the old primary before the role changed (those of superusers and
 * rig_replication members, but for the backend waiting in rig_promote()),
 * so that none prepares after step 2 listed the prepared transactions.  A
 * transaction that prepared has left its backend (whose local transaction
 * id moves on); later ones see the new role and are refused.
 */
static void
rig_promote_drain(pid_t requester)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   (int64) rig_sync_timeout * RIG_PROMOTE_DRAIN_FACTOR);
	Oid			replication = get_role_oid("rig_replication", true);
	int			n = 0;
	PGPROC	  **procs = palloc(sizeof(PGPROC *) * ProcGlobal->allProcCount);
	LocalTransactionId *lxids = palloc(sizeof(LocalTransactionId) * ProcGlobal->allProcCount);

	for (uint32 i = 0; i < ProcGlobal->allProcCount; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		LocalTransactionId lxid = proc->lxid;

		/* pid 0: free, or a prepared transaction's dummy */
		if (proc == MyProc || proc->pid == 0 || proc->pid == requester ||
			proc->databaseId != MyDatabaseId || !LocalTransactionIdIsValid(lxid))
			continue;
		if (!superuser_arg(proc->roleId) &&
			!(OidIsValid(replication) && is_member_of_role(proc->roleId, replication)))
			continue;
		procs[n] = proc;
		lxids[n++] = lxid;
	}
	for (int i = 0; i < n; i++)
	{
		while (procs[i]->lxid == lxids[i] && procs[i]->pid != 0)
		{
			if (GetCurrentTimestamp() >= deadline)
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("transaction of process %d did not end within %d ms",
								procs[i]->pid, rig_sync_timeout * RIG_PROMOTE_DRAIN_FACTOR),
						 errdetail("It may hold an operation of the old primary; promotion waits for it to end or prepare."),
						 errhint("End that session (pg_terminate_backend); the worker retries.")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	pfree(procs);
	pfree(lxids);
}

/*
 * The GIDs of rig's prepared transactions here that older primaries left
 * (prepared by a superuser or a member of rig_replication, as
 * rig_prepared_versions counts them), oldest first, in the caller's
 * memory context keep.
 */
static List *
rig_promote_list_branches(MemoryContext keep)
{
	List	   *gids = NIL;

	SPI_connect();
	if (SPI_execute("SELECT p.gid FROM pg_catalog.pg_prepared_xacts p "
					"JOIN pg_catalog.pg_roles r ON r.rolname = p.owner "
					"WHERE p.gid LIKE 'rig\\_%' AND p.database = current_database() "
					"AND (r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'rig_replication', 'MEMBER')) "
					"ORDER BY p.prepared", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list prepared transactions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *gid = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		RigGid		g;

		/* this node's own GIDs live on its peers, never here */
		if (rig_parse_gid(gid, NULL, &g) && strcmp(g.node, rig_node_name()) != 0)
		{
			MemoryContext old = MemoryContextSwitchTo(keep);

			gids = lappend(gids, pstrdup(gid));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return gids;
}

/*
 * Step 2: commit every branch older primaries left prepared here, each in
 * a transaction of its own, as a top-level COMMIT PREPARED does.  The list
 * of GIDs lives in keep, which outlives the transactions.
 */
static void
rig_promote_commit_branches(MemoryContext keep)
{
	List	   *gids;
	ListCell   *lc;
	int			done = 0;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	gids = rig_promote_list_branches(keep);
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, gids)
	{
		if (done == 1)
			rig_fault("promote_between_commits", true);
		StartTransactionCommand();
		FinishPreparedTransaction((const char *) lfirst(lc), true);
		CommitTransactionCommand();
		done++;
	}
	if (done > 0)
		ereport(LOG,
				(errmsg("rig: committed %d operation branch(es) the old primary left prepared", done)));
}

/*
 * Step 3, in a transaction of its own: the epoch's first version, the
 * sequence, rig.epochs and role 'primary'.  Returns the epoch.
 */
static int64
rig_promote_finish(void)
{
	int64		epoch;
	int64		first;
	int64		lowest;
	int64		highest;
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		args[3];

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	epoch = rig_node_epoch();
	if (strcmp(rig_node_role(), "promoting") != 0)
	{
		/* finished already (by an earlier round) */
		PopActiveSnapshot();
		CommitTransactionCommand();
		return epoch;
	}
	rig_prepared_versions(&lowest, &highest);
	if (lowest != PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("operations of the old primary are still prepared here"),
				 errdetail("Versions from " INT64_FORMAT " are held by prepared transactions.", lowest),
				 errhint("The worker commits them and retries.")));

	SPI_connect();
	first = Max(rig_log_last_version(), highest);
	first = Max(first, rig_last_assigned());
	first = Max(first, rig_spi_int64("SELECT CASE WHEN is_called THEN last_value END FROM rig.version_seq"));
	first = first + 1;
	args[0] = Int64GetDatum(first);
	if (SPI_execute_with_args("SELECT pg_catalog.setval('rig.version_seq', $1, false)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not set rig.version_seq");
	args[0] = Int64GetDatum(epoch);
	args[1] = Int64GetDatum(first);
	args[2] = CStringGetTextDatum(rig_node_name());
	if (SPI_execute_with_args("INSERT INTO rig.epochs (epoch, first_version, node) VALUES ($1, $2, $3)",
							  3, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record epoch " INT64_FORMAT, epoch);
	SPI_finish();
	rig_node_update("UPDATE rig.node SET role = 'primary', primary_name = NULL", 0, NULL, NULL);
	PopActiveSnapshot();
	CommitTransactionCommand();

	rig_note_assigned(first - 1);
	ereport(LOG,
			(errmsg("rig: node \"%s\" is the primary of epoch " INT64_FORMAT ", from version " INT64_FORMAT,
					rig_node_name(), epoch, first)));
	return epoch;
}

/*
 * The three steps, in transactions of their own (cxt outlives them);
 * returns the new epoch (0: nothing to do).
 */
static int64
rig_promote_steps(bool asked, pid_t requester, MemoryContext cxt)
{
	int64		epoch;

	epoch = rig_promote_begin(asked);
	if (epoch == 0)
		return 0;
	rig_fault("promote_after_epoch", true);

	StartTransactionCommand();
	rig_promote_drain(requester);
	CommitTransactionCommand();

	rig_promote_commit_branches(cxt);
	rig_fault("promote_before_finish", true);
	return rig_promote_finish();
}

/*
 * The worker's promotion step, called outside a transaction before the
 * other steps of each loop: serve a rig_promote() ticket, or resume a
 * promotion a crash interrupted.  Returns true while a promotion is under
 * way but unfinished (the worker should come back soon).
 */
bool
rig_promote_work(void)
{
	pid_t		requester;
	uint64		ticket = rig_promote_pending(&requester);
	MemoryContext cxt;
	MemoryContext old;
	volatile int64 epoch = 0;
	volatile bool unfinished = false;
	RigWorkerInfo before;

	if (ticket == 0 && !rig_promote_check_durable)
		return false;
	/* rig.status says "promoting" only while a promotion is unfinished */
	rig_worker_get_state(&before);

	cxt = AllocSetContextCreate(TopMemoryContext, "rig promotion", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		bool		installed;

		StartTransactionCommand();
		installed = OidIsValid(get_extension_oid("rig", true));
		CommitTransactionCommand();
		if (!installed && ticket != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("extension \"rig\" is not installed in database \"%s\"", rig_database)));
		/* without the extension: look again next time, quietly */
		if (installed)
		{
			rig_worker_set_state("promoting");
			epoch = rig_promote_steps(ticket != 0, requester, cxt);
			rig_promote_check_durable = false;
			if (ticket != 0)
				rig_promote_answer(ticket, epoch, NULL);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		rig_worker_note_error(edata->message, edata->detail);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("rig worker, promoting: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 edata->hint ? errhint("%s", edata->hint) : 0));
		if (ticket != 0)
			rig_promote_answer(ticket, 0, edata->message);
		/* look again at rig.node next time: it may say 'promoting' */
		rig_promote_check_durable = true;
		unfinished = true;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (!unfinished)
		rig_worker_set_state(before.state);

	if (ticket != 0 && requester != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(requester);

		if (proc != NULL)
			SetLatch(&proc->procLatch);
	}
	return unfinished;
}
