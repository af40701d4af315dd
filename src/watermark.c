/*-------------------------------------------------------------------------
 *
 * watermark.c
 *	  The watermark: the highest version such that every version at or
 *	  below it is final on this node, and what may be read up to it.
 *
 * Three things hold the watermark down: a version some process here has
 * in flight (shmem.c keeps one slot per process), a version one of rig's
 * prepared transactions holds (a replica's ops wait prepared for their
 * primary's decision; the GIDs name their versions, gid.c), and on a
 * replica, how far its primary confirmed it holds everything (versions
 * arrive out of order there).  The counter of versions handed out is
 * loaded once from the version sequence, the log and the prepared
 * transactions, before any version is drawn.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/watermark.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "gid.h"
#include "node.h"
#include "oplog.h"
#include "shmem.h"
#include "watermark.h"

static int64 rig_read_last_assigned(Oid seqoid);

PG_FUNCTION_INFO_V1(rig_watermark);
PG_FUNCTION_INFO_V1(rig_log_since);

/*
 * The highest version handed out on this node so far, read from the
 * version sequence (whose on-disk value is never behind what was handed
 * out), the log and the prepared transactions (a replica's versions come
 * from its primary, and one restarted with versions in doubt commits them
 * later with COMMIT PREPARED, which runs none of rig's callbacks: the
 * replica must still know it has them, or it would apply them again).  The
 * sequence is read as its owner, whoever asks for the watermark; an error
 * unwinds the user id with the transaction abort.
 */
static int64
rig_read_last_assigned(Oid seqoid)
{
	Oid			save_userid;
	int			save_sec;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		last;
	int64		lowest;
	int64		highest;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(rig_rel_owner(seqoid),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqoid);
	fcinfo->args[0].isnull = false;
	last = pg_sequence_last_value(fcinfo);
	SetUserIdAndSecContext(save_userid, save_sec);

	rig_prepared_versions(&lowest, &highest);
	return Max(Max(fcinfo->isnull ? 0 : DatumGetInt64(last), rig_log_last_version()),
			   highest);
}

/*
 * After a restart last_assigned starts at zero, and a recreated extension
 * (or database) has a new sequence: load it once from the sequence before
 * any version is drawn.  The reads happen before shmem.c takes its lock.
 */
void
rig_ensure_loaded(void)
{
	Oid			seqoid = rig_relid("version_seq");

	if (!rig_shmem_loaded_from(seqoid))
		rig_shmem_load(seqoid, rig_read_last_assigned(seqoid));
}

/*
 * Highest version such that every version at or below it is final: below
 * every version a process here has in flight, and every version a prepared
 * transaction holds (a replica's ops wait prepared for their primary's
 * decision).  The slots are read before the prepared transactions: one
 * that prepares in between has left its slot but is seen prepared.
 */
int64
rig_compute_watermark(void)
{
	int64		wm;
	int64		floor;

	rig_ensure_loaded();
	wm = rig_inflight_watermark(false);
	floor = rig_prepared_floor();
	if (floor <= wm)
		wm = floor - 1;
	/* kept while promoting: what the old primary confirmed is all it knows */
	if (rig_node_is_replica() || strcmp(rig_node_role(), "promoting") == 0)
		wm = Min(wm, rig_shmem_confirmed());
	return wm;
}

/*
 * What a committing primary may confirm to the peers it prepares on: the
 * watermark as if its own versions were final.  Every version below it is
 * final here (so on those peers, or never to be), or this transaction's,
 * which the peers hold prepared until it is decided.  (A primary counts no
 * prepared transactions of its own.)
 */
int64
rig_watermark_but_mine(void)
{
	rig_ensure_loaded();
	return rig_inflight_watermark(true);
}

/*
 * The version sequence's page LSN right after this process last drew a
 * version: the WAL record that reserved (logged ahead) every value
 * nextval() returned so far is at or before it.  The page LSN grows, so
 * the last one covers every version this process drew.
 */
static XLogRecPtr rig_drawn_lsn = InvalidXLogRecPtr;

static XLogRecPtr rig_version_seq_lsn(void);

/* The version sequence's page LSN now. */
static XLogRecPtr
rig_version_seq_lsn(void)
{
	Relation	rel = relation_open(rig_relid("version_seq"), AccessShareLock);
	Buffer		buf = ReadBuffer(rel, 0);
	XLogRecPtr	lsn;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsn = PageGetLSN(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	relation_close(rel, AccessShareLock);
	return lsn;
}

/*
 * Called right after nextval() drew a version: remember where the WAL
 * must be flushed for it to survive a crash.  Read now, not at commit,
 * so that a later log-ahead by another process is not waited for.
 */
void
rig_note_version_drawn(void)
{
	rig_drawn_lsn = rig_version_seq_lsn();
}

/*
 * Make every version handed out so far survive a crash, before a peer may
 * prepare one: flush the WAL up to the record that reserved them (the
 * sequence logs 32 values ahead, so that record is usually on disk
 * already: a flush about once in 32 versions, not once per transaction).
 * After a crash the sequence restarts above them, so no version is ever
 * handed out twice, whichever peer is reachable; the resolver relies on
 * it (resolve.c).
 */
void
rig_flush_versions(void)
{
	XLogFlush(rig_drawn_lsn != InvalidXLogRecPtr ? rig_drawn_lsn : rig_version_seq_lsn());
}

/* Highest version handed out so far (committed or not). */
int64
rig_last_assigned(void)
{
	rig_ensure_loaded();
	return rig_shmem_last_assigned();
}

/*
 * Lowest version held by one of rig's prepared transactions in this
 * database (PG_INT64_MAX when none).  Read from the GIDs, which name their
 * versions, so it holds after a restart too.  Only transactions rig made
 * count: named for this replica's primary and prepared by a superuser or
 * a member of rig_replication; any other role could name a GID like rig's
 * and hold the watermark back.  A primary has none of its own.  A node
 * being promoted counts every older primary's branch until rig_promote()
 * has committed it (promote.c), and becomes primary only when none is left.
 */
int64
rig_prepared_floor(void)
{
	int64		floor;
	int64		ceiling;

	rig_prepared_versions(&floor, &ceiling);
	return floor;
}

/*
 * The lowest and highest versions rig's prepared transactions hold here
 * (PG_INT64_MAX and 0 when none); see rig_prepared_floor().
 */
void
rig_prepared_versions(int64 *lowest, int64 *highest)
{
	int64		floor = PG_INT64_MAX;
	int64		ceiling = 0;
	const char *primary;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	*lowest = floor;
	*highest = ceiling;
	/* promoting: every older primary's branch counts until it is decided */
	if (strcmp(rig_node_role(), "promoting") == 0)
		primary = NULL;
	else if (!rig_node_is_replica() || (primary = rig_node_primary_name()) == NULL)
		return;
	args[0] = CStringGetTextDatum(primary ? psprintf("rig\\_%s\\_%%", primary) : "rig\\_%");

	SPI_connect();
	if (SPI_execute_with_args("SELECT p.gid FROM pg_catalog.pg_prepared_xacts p "
							  "JOIN pg_catalog.pg_roles r ON r.rolname = p.owner "
							  "WHERE p.gid LIKE $1 AND p.database = current_database() "
							  "AND (r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'rig_replication', 'MEMBER'))",
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list prepared transactions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		RigGid		g;

		if (rig_parse_gid(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						  primary, &g))
		{
			floor = Min(floor, g.first);
			ceiling = Max(ceiling, g.last);
		}
	}
	SPI_finish();
	*lowest = floor;
	*highest = ceiling;
}

/* SQL: highest version such that every version at or below it is final. */
Datum
rig_watermark(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(rig_compute_watermark());
}

/*
 * SQL: final records after a version, in version order, at most max_rows,
 * never past the watermark.  The watermark is read first, then the log
 * with a fresh snapshot, so no version at or below the last one returned
 * can commit later.
 */
Datum
rig_log_since(PG_FUNCTION_ARGS)
{
	int64		wm;

	if (PG_GETARG_INT32(1) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_log_since() requires the READ COMMITTED isolation level"),
				 errdetail("The watermark must be read before the snapshot that reads the log.")));
	if (pg_class_aclcheck(rig_relid("log"), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, "log");

	rig_log_check_retained(PG_GETARG_INT64(0));
	wm = rig_compute_watermark();
	InitMaterializedSRF(fcinfo, 0);
	rig_log_return((ReturnSetInfo *) fcinfo->resultinfo, PG_GETARG_INT64(0), wm,
				   PG_GETARG_INT32(1));
	return (Datum) 0;
}
