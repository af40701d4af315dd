/*-------------------------------------------------------------------------
 *
 * rebuild.c
 *	  rig_rebuild(): the state tables again from the log alone.
 *
 * The log is the source of truth: the registered tables (tables.c) are
 * emptied and every record of rig.log is applied again through its
 * method's handler, in version order, with rig_version() and rig_op_time()
 * answering as when it first ran.  All in one transaction: an op that
 * cannot be applied again (its method has no handler any more, or the
 * handler fails) rolls everything back and the tables stay as they were.
 * When a snapshot was taken (snapshot.c), the latest one is the start: its
 * rows are loaded (checksums and state hash checked) and only the later
 * versions it does not include are applied; without one the replay starts
 * at version 1, which a compacted log no longer holds.
 *
 * Handler changes in the log (rig.register, rig.unregister: sysrec.c) are
 * replayed at their versions, so each op runs again under the handlers it
 * ran with.  Ops of a method before its first such record ran with the
 * handlers the node was set up with, which the log does not hold: such a
 * log is refused.  Schema changes (rig.ddl) cannot run again in today's
 * schema, which already holds their effects: those before the first op
 * built the schema the replay starts from and are passed over, one after
 * an op is refused (the schema the ops before it ran in is gone).  Both
 * refusals come from one look at the log before anything is changed.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rebuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "apply.h"
#include "catalog.h"
#include "handlers.h"
#include "locks.h"
#include "node.h"
#include "oplog.h"
#include "settings.h"
#include "snapshot.h"
#include "sysrec.h"
#include "tables.h"
#include "xact.h"

/* The first rig.ddl record after an op, if any */
#define RIG_DDL_AFTER_OPS_SQL \
	"SELECT version FROM rig.log WHERE method = 'rig.ddl' AND version > " \
	"(SELECT min(version) FROM rig.log " \
	" WHERE method NOT IN ('rig.register', 'rig.unregister', 'rig.ddl')) " \
	"ORDER BY version LIMIT 1"

/* The first handler change of a method that has ops before it, if any */
#define RIG_CHANGED_AFTER_OPS_SQL \
	"SELECT f.version, f.m FROM (SELECT data->>'method' AS m, min(version) AS version " \
	" FROM rig.log WHERE method IN ('rig.register', 'rig.unregister') GROUP BY 1) f " \
	"WHERE EXISTS (SELECT 1 FROM rig.log o WHERE o.method = f.m AND o.version < f.version) " \
	"ORDER BY f.version LIMIT 1"

/* records read from rig.log at a time */
#define RIG_REBUILD_BATCH	1000

static void rig_rebuild_check(void);
static void rig_rebuild_check_base(RigSnapshotInfo *base);
static List *rig_rebuild_lock(void);
static int64 rig_rebuild_replay(int64 progress_every, RigSnapshotInfo *base);
static void rig_rebuild_check_changes(void);
static void rig_rebuild_apply(RigLogRecord *rec);

PG_FUNCTION_INFO_V1(rig_rebuild);

/* Refuse what a rebuild cannot do right: before anything is changed. */
static void
rig_rebuild_check(void)
{
	rig_check_database();
	if (rig_in_handler())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig_rebuild() cannot be run from inside a rig handler")));
	rig_xact_refuse_ops("rig_rebuild()");
	rig_snapshot_refuse_loading("rig_rebuild()");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_rebuild() requires the READ COMMITTED isolation level"),
				 errdetail("It reads the log with a fresh snapshot once the tables are locked.")));
}

/*
 * Refuse a start the log cannot go on from (nothing changed yet): the
 * latest snapshot (base, NULL: none) must cover what was compacted, hold
 * the tables registered now, and have been taken with today's handlers.
 */
static void
rig_rebuild_check_base(RigSnapshotInfo *base)
{
	/* compacted_below is the lowest version the log may still hold */
	int64		compacted = rig_node_compacted_below();
	int64		from = base != NULL ? base->watermark + 1 : 1;
	List	   *now;
	ListCell   *a;
	ListCell   *b;

	if (compacted > from)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild: rig.log was compacted below version " INT64_FORMAT, compacted),
				 errdetail("Replaying starts at version " INT64_FORMAT " (%s); the records before version " INT64_FORMAT " are gone.",
						   from, base != NULL ? "after the latest snapshot" : "there is no snapshot", compacted),
				 errhint("Rebuild from a node whose log was not compacted, or copy the tables from a peer.")));
	if (base == NULL)
		return;
	now = rig_snapshot_table_names();
	forboth(a, now, b, base->relations)
		if (strcmp(lfirst(a), lfirst(b)) != 0)
			break;
	if (list_length(now) != list_length(base->relations) || a != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild from snapshot " INT64_FORMAT ": the registered tables changed since it was taken",
						base->id),
				 errhint("Take a new snapshot with rig_snapshot().")));
	if (strcmp(rig_snapshot_fingerprint(), base->fingerprint) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild from snapshot " INT64_FORMAT ": the handlers changed since it was taken",
						base->id),
				 errdetail("The log after it was written by other handlers than today's; replaying it would not reproduce history."),
				 errhint("Take a new snapshot with rig_snapshot() to rebuild from now on.")));
}

/*
 * Stop every writer of the state tables until the rebuild commits: the
 * commit gate (commits that prepare on peers) and the tables themselves
 * (rig_do's handlers, a peer's apply).  Returns the tables.
 */
static List *
rig_rebuild_lock(void)
{
	List	   *relids;
	ListCell   *lc;

	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	relids = rig_registered_tables();
	if (relids == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no table is registered with rig: nothing to rebuild"),
				 errhint("Register the tables the handlers write with rig_register_table().")));
	foreach(lc, relids)
		LockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
	/* registered meanwhile: read the list again under the locks */
	if (list_length(rig_registered_tables()) != list_length(relids))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the registered tables changed while rig_rebuild() started"),
				 errhint("Run it again.")));
	return relids;
}

/*
 * Refuse a log whose changes a replay cannot follow, before anything is
 * changed (the log is stable: the caller holds the barrier): a rig.ddl
 * after the first op, or a method whose ops precede its first handler
 * change (they ran with handlers the log does not hold).
 */
static void
rig_rebuild_check_changes(void)
{
	int64		version;

	SPI_connect();
	if (rig_spi_as_owner("log", RIG_DDL_AFTER_OPS_SQL, 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	if (SPI_processed > 0)
	{
		version = strtoi64(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL, 10);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild: version " INT64_FORMAT " is a schema change (rig.ddl) made after operations",
						version),
				 errdetail("A replay runs in today's schema, which already holds that change; the operations before it ran in a schema that is gone.  Nothing was changed."),
				 errhint("Copy the tables from a peer instead.")));
	}
	if (rig_spi_as_owner("log", RIG_CHANGED_AFTER_OPS_SQL, 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	if (SPI_processed > 0)
	{
		version = strtoi64(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL, 10);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild: version " INT64_FORMAT " changes the handlers of method \"%s\", whose earlier operations ran with handlers the log does not hold",
						version,
						rig_name_for_message(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))),
				 errdetail("They were registered outside the log, when the node was set up.  Nothing was changed."),
				 errhint("Copy the tables from a peer instead.")));
	}
	SPI_finish();
}

/*
 * Apply one record again: an op through its method's handler, a handler
 * change as its caller; a schema change (before every op, as checked) is
 * passed over: it built the schema the replay runs in.  So are rig's own
 * ops (rig.transaction.*, rig.node.*): their handlers write rig's tables
 * (rig.transactions, rig.transaction_events, rig.remote_nodes), which a
 * rebuild does not empty -- a snapshot does not hold them, and a node's
 * row in rig.remote_nodes holds the password its op left out -- so they
 * already hold what these ops did (applied again, the first one's INSERT
 * violated a primary key, and no node that had ever run rig_add_node
 * could be rebuilt).
 */
static void
rig_rebuild_apply(RigLogRecord *rec)
{
	RigHandler *handler;

	if (strcmp(rec->method, RIG_SYSREC_DDL) == 0)
		return;
	if (rig_is_system_method(rec->method))
	{
		rig_apply_system(rec->method, rec->jdata, false);
		return;
	}
	if (strncmp(rec->method, "rig.", 4) == 0)
		return;
	handler = rig_lookup_handler(rec->method);
	if (handler == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild: version " INT64_FORMAT "'s method \"%s\" has no handler on this node",
						rec->version, rig_name_for_message(rec->method)),
				 errdetail("The log cannot be replayed past it; nothing was changed."),
				 errhint("Register the method's handlers again with rig_register(), then rebuild.")));
	rig_call_apply(handler, rec->version, rec->op_time, rec->jdata);
}

/*
 * Apply every record of rig.log in version order, in batches read with a
 * fresh snapshot (the tables are locked: nothing new commits meanwhile);
 * returns how many.
 */
static int64
rig_rebuild_replay(int64 progress_every, RigSnapshotInfo *base)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"rig rebuild batch",
													ALLOCSET_DEFAULT_SIZES);
	RigLogRecord *recs = palloc(sizeof(RigLogRecord) * RIG_REBUILD_BATCH);
	int64		after = base != NULL ? base->watermark : 0;
	int64		done = 0;
	int64		total = rig_log_last_version();

	/* once for the whole replay rather than once per op (handlers.c) */
	int			settings_level = rig_handler_settings_push();

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);
		bool		limited;
		int			n = rig_log_read(after, PG_INT64_MAX, RIG_REBUILD_BATCH,
									 MaxAllocSize / 2, recs, &limited);

		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			after = recs[i].version;
			/* its effects are in the snapshot's rows already */
			if (base != NULL && rig_snapshot_includes(base, after))
				continue;
			rig_rebuild_apply(&recs[i]);
			if (progress_every > 0 && ++done % progress_every == 0)
				ereport(NOTICE,
						(errmsg("rig_rebuild: " INT64_FORMAT " operations applied again, up to version " INT64_FORMAT " of " INT64_FORMAT,
								done, after, total)));
			else if (progress_every <= 0)
				done++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		if (n == 0)
			break;
	}
	MemoryContextDelete(batch_cxt);
	rig_handler_settings_pop(settings_level);
	return done;
}

/*
 * SQL: empty the registered tables and apply the whole log again through
 * the handlers; returns how many operations were applied.
 */
Datum
rig_rebuild(PG_FUNCTION_ARGS)
{
	int64		progress_every = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	RigSnapshotInfo snap;
	RigSnapshotInfo *base;
	List	   *relids;

	rig_rebuild_check();

	/*
	 * No op, nor handler change, beside the handler changes it replays.
	 * The barrier first: an op holds it from its start to its commit, where
	 * it takes the commit gate, and its handler locks the tables; taken
	 * after them, the rebuild and such an op waited for each other.  It
	 * also holds off rig_compact's delete, so the latest snapshot is read
	 * under it (and FOR KEY SHARE, which compaction respects as well).
	 */
	rig_lock_barrier(true);
	base = rig_snapshot_latest(&snap, true) ? &snap : NULL;
	rig_rebuild_check_base(base);
	relids = rig_rebuild_lock();
	rig_rebuild_check_changes();
	rig_tables_truncate(relids);
	if (base != NULL)
	{
		ereport(NOTICE,
				(errmsg("rig_rebuild: starting from snapshot " INT64_FORMAT " (every version up to " INT64_FORMAT " and %d later)",
						base->id, base->watermark, base->nincluded)));
		rig_snapshot_restore(base);
	}
	else
		ereport(NOTICE,
				(errmsg("rig_rebuild: starting from version 1 (there is no snapshot)")));
	PG_RETURN_INT64(rig_rebuild_replay(progress_every, base));
}
