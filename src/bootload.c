/*-------------------------------------------------------------------------
 *
 * bootload.c
 *	  The new node's side of a bootstrap (bootstrap.c is the primary's):
 *	  the functions the primary calls there to load the latest stored
 *	  snapshot into the registered tables and rig's own, each in its own
 *	  transaction there but one:
 *
 *   rig_bootstrap_state()   which snapshot it holds, complete or not, and
 *                           the next chunk it lacks;
 *   rig_bootstrap_begin()   records the snapshot's row (incomplete),
 *                           once it found this node empty, in the
 *                           transaction that makes it the primary's
 *                           replica (a refused node stays what it was);
 *   rig_bootstrap_chunk()   checks one chunk's md5 and count, inserts its
 *                           rows into the registered table (apply context)
 *                           and keeps the chunk, in one transaction;
 *   rig_bootstrap_record()  the log records of the later versions the
 *                           snapshot includes, recorded without applying;
 *   rig_bootstrap_finish()  compares the state hash of its tables with the
 *                           snapshot's, then marks it complete and sets
 *                           compacted_below to W + 1.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/bootload.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"

#include "bootload.h"
#include "catalog.h"
#include "node.h"
#include "oplog.h"
#include "replica.h"
#include "settings.h"
#include "shmem.h"
#include "snapshot.h"
#include "tables.h"
#include "watermark.h"

static void rig_boot_check_node(const char *what);
static void rig_boot_check_args(FunctionCallInfo fcinfo, const char *what, int nullable);
static void rig_boot_incomplete(int64 id, RigSnapshotInfo *info);
static bool rig_boot_table_empty(Oid relid);
static void rig_boot_fresh(RigSnapshotInfo *meta);
static void rig_boot_drop_loading(void);
static int	rig_boot_next_chunk(int64 id);
static bool rig_boot_md5_ok(text *rows, const char *checksum);

PG_FUNCTION_INFO_V1(rig_bootstrap_state);
PG_FUNCTION_INFO_V1(rig_bootstrap_begin);
PG_FUNCTION_INFO_V1(rig_bootstrap_chunk);
PG_FUNCTION_INFO_V1(rig_bootstrap_record);
PG_FUNCTION_INFO_V1(rig_bootstrap_finish);

/*
 * What of rig's own state sql (one text column, NULL for nothing) finds
 * on this node, read as the owner of rig's tables; NULL: none.  The
 * primary asks it of itself too (bootstrap.c).
 */
char *
rig_boot_own_state_found(const char *sql, int nargs, Oid *types, Datum *values)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *what;

	SPI_connect();
	if (rig_spi_as_owner("transactions", sql, nargs, types, values, NULL) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read rig's transactions and nodes");
	what = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (what != NULL)
		what = MemoryContextStrdup(cxt, what);
	SPI_finish();
	return what;
}

/* The new node's side runs only on a replica (rig_add_peer made it one). */
static void
rig_boot_check_node(const char *what)
{
	rig_check_database();
	if (!rig_node_is_replica())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s runs only on a replica being bootstrapped", what),
				 errhint("rig_add_peer() on the primary calls it.")));
}

/*
 * The new node's functions take no NULL (but argument nullable, -1: none):
 * the primary never sends one, and a hand-made call gets a clear error.
 */
static void
rig_boot_check_args(FunctionCallInfo fcinfo, const char *what, int nullable)
{
	for (int i = 0; i < PG_NARGS(); i++)
		if (i != nullable && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s must not be NULL", i + 1, what)));
}

/* The snapshot id being loaded here; throws unless it is present and incomplete. */
static void
rig_boot_incomplete(int64 id, RigSnapshotInfo *info)
{
	if (!rig_snapshot_get(id, info))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snapshot " INT64_FORMAT " is not being loaded on node \"%s\"", id, rig_node_name())));
	if (info->complete)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snapshot " INT64_FORMAT " is already loaded on node \"%s\"", id, rig_node_name())));
}

/* Does the table hold no row (read past privileges: rig's own check)? */
static bool
rig_boot_table_empty(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);

	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return empty;
}

/*
 * A fresh start: this node holds nothing yet (no log, no snapshot loaded
 * before: a node bootstrapped already has a state, even with an empty
 * log), its tables are registered and empty (rows of its own would fail
 * the state hash only after every chunk was loaded).
 */
static void
rig_boot_fresh(RigSnapshotInfo *meta)
{
	RigSnapshotInfo loaded;
	ListCell   *lc;

	if (rig_log_last_version() > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" has a log of its own and cannot be bootstrapped from a snapshot",
						rig_node_name())));
	if (rig_snapshot_latest(&loaded, false))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" holds snapshot " INT64_FORMAT " already and cannot be bootstrapped again",
						rig_node_name(), loaded.id),
				 errhint("Rebuild it as an empty node (DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers and tables).")));
	foreach(lc, meta->relations)
	{
		Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(lfirst(lc))),
											 AccessShareLock, true);

		if (!OidIsValid(relid) || !rig_table_is_registered(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s of the snapshot is not registered with rig on node \"%s\"",
							(char *) lfirst(lc), rig_node_name()),
					 errhint("Create the table and register it with rig_register_table() on every node, as on the primary.")));
		if (!rig_boot_table_empty(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s is not empty on node \"%s\": a node is bootstrapped only into empty tables",
							(char *) lfirst(lc), rig_node_name()),
					 errhint("Empty it (as a superuser, with SET rig.maintenance = on), then add the node again.")));
	}
	if (meta->rig_state)
	{
		char	   *what = rig_boot_own_state_found("SELECT CASE WHEN EXISTS (SELECT 1 FROM rig.remote_nodes) "
													"  THEN 'a registered node' "
													"WHEN EXISTS (SELECT 1 FROM rig.transactions) "
													"  OR EXISTS (SELECT 1 FROM rig.transaction_events) "
													"  THEN 'transactions across nodes' END",
													0, NULL, NULL);

		if (what != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("node \"%s\" has %s of its own: a node is bootstrapped only when it has none",
							rig_node_name(), what),
					 errdetail("The snapshot carries the primary's rig.remote_nodes, rig.transactions and rig.transaction_events."),
					 errhint("Rebuild it as an empty node (DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers and tables).")));
	}
}

/*
 * Drop a half-loaded snapshot (the primary goes on with a newer one): its
 * row and chunks, the rows it loaded, the included versions it recorded
 * and the idempotency keys it brought.  A node being bootstrapped has no
 * other log (shipping starts after rig_bootstrap_finish), so a record that
 * is not one of those versions means it is not such a node: refused.
 */
static void
rig_boot_drop_loading(void)
{
	RigSnapshotInfo old;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	Datum	   *elems;
	int64		others;
	Oid			save_userid;
	int			save_sec;

	if (!rig_snapshot_loading(&old))
		return;
	elems = palloc(sizeof(Datum) * Max(old.nincluded, 1));
	for (int i = 0; i < old.nincluded; i++)
		elems[i] = Int64GetDatum(old.included[i]);
	values[0] = PointerGetDatum(construct_array(elems, old.nincluded, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	SPI_connect();
	if (rig_spi_as_owner("log", "SELECT count(*) FROM rig.log WHERE version <> ALL ($1)",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	others = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	SPI_finish();
	if (others > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" has a log of its own and cannot be bootstrapped from a snapshot",
						rig_node_name()),
				 errdetail("Its log holds " INT64_FORMAT " record(s) besides those of the half-loaded snapshot " INT64_FORMAT ".",
						   others, old.id)));
	/* as their owner: the primary's role may call this, not write the log */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(rig_rel_owner(rig_relid("log")), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	(void) rig_log_guarded_delete("DELETE FROM rig.log WHERE version = ANY ($1)", 1, types, values);
	(void) rig_log_guarded_delete("DELETE FROM rig.idempotency_keys", 0, NULL, NULL);
	SetUserIdAndSecContext(save_userid, save_sec);
	SPI_connect();
	if (rig_spi_as_owner("snapshots", "DELETE FROM rig.snapshots WHERE NOT complete",
						 0, NULL, NULL, NULL) != SPI_OK_DELETE)
		elog(ERROR, "could not update rig.snapshots");
	/* rig's own rows it brought (the node had none: rig_boot_fresh) */
	if (old.rig_state &&
		(rig_spi_as_owner("transaction_events", "DELETE FROM rig.transaction_events",
						  0, NULL, NULL, NULL) != SPI_OK_DELETE ||
		 rig_spi_as_owner("transactions", "DELETE FROM rig.transactions",
						  0, NULL, NULL, NULL) != SPI_OK_DELETE ||
		 rig_spi_as_owner("remote_nodes", "DELETE FROM rig.remote_nodes",
						  0, NULL, NULL, NULL) != SPI_OK_DELETE))
		elog(ERROR, "could not empty rig's own tables");
	SPI_finish();
	rig_tables_truncate(rig_registered_tables());
}

/* SQL (on the new node): the latest snapshot it holds and the next chunk it lacks. */
Datum
rig_bootstrap_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	rig_check_database();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	SPI_connect();
	if (rig_spi_as_owner("snapshots",
						 "SELECT s.id, s.complete, coalesce((SELECT max(c.chunk) + 1 FROM rig.snapshot_chunks c "
						 "WHERE c.snapshot_id = s.id), 0)::int FROM rig.snapshots s "
						 "ORDER BY s.complete, s.id DESC LIMIT 1", 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshots");
	if (SPI_processed == 1)
	{
		for (int i = 0; i < 3; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	}
	else
	{
		nulls[0] = nulls[1] = true;
		values[2] = Int32GetDatum(0);
	}
	values[3] = Int64GetDatum(rig_log_last_version());
	values[4] = Int64GetDatum(rig_node_compacted_below());
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * SQL (on the new node): start loading a snapshot (its rig.snapshots row
 * as JSON), or go on with it.  A different snapshot left half-loaded (the
 * primary took a newer one meanwhile) is dropped and the tables emptied.
 */
Datum
rig_bootstrap_begin(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	RigSnapshotInfo meta;
	RigSnapshotInfo old;
	int64		id;

	rig_boot_check_args(fcinfo, "rig_bootstrap_begin()", -1);
	rig_boot_check_node("rig_bootstrap_begin()");
	values[0] = JsonbPGetDatum(PG_GETARG_JSONB_P(0));
	SPI_connect();
	if (SPI_execute_with_args("SELECT ($1->>'id')::bigint", 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the snapshot");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	SPI_finish();

	if (rig_snapshot_get(id, &old))
	{
		if (old.complete)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("snapshot " INT64_FORMAT " is already loaded on node \"%s\"", id, rig_node_name())));
		PG_RETURN_VOID();
	}

	/* a half-loaded older snapshot: start again */
	rig_boot_drop_loading();
	SPI_connect();
	if (rig_spi_as_owner("snapshots",
						 "INSERT INTO rig.snapshots (id, watermark, included, state_hash, handler_fingerprint, "
						 "tables, chunks, complete, node, taken_at) "
						 "SELECT id, watermark, included, state_hash, handler_fingerprint, tables, chunks, false, "
						 "node, taken_at FROM jsonb_populate_record(NULL::rig.snapshots, $1)",
						 1, types, values, NULL) != SPI_OK_INSERT)
		elog(ERROR, "could not record the snapshot");
	SPI_finish();
	if (!rig_snapshot_get(id, &meta))
		elog(ERROR, "snapshot " INT64_FORMAT " vanished", id);
	rig_boot_fresh(&meta);
	PG_RETURN_VOID();
}

/* The next chunk of snapshot id this node lacks (they are stored in order). */
static int
rig_boot_next_chunk(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	int			next;

	SPI_connect();
	if (rig_spi_as_owner("snapshot_chunks",
						 "SELECT coalesce(max(chunk) + 1, 0)::int FROM rig.snapshot_chunks WHERE snapshot_id = $1",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshot_chunks");
	next = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	SPI_finish();
	return next;
}

/*
 * Is checksum the md5 of a chunk's text as received?  The primary sends
 * the text md5(rows::text) was taken of (jsonb's own output), so any other
 * text, even one that parses to the same rows, is refused, before parsing.
 */
static bool
rig_boot_md5_ok(text *rows, const char *checksum)
{
	char		hexsum[33];		/* 32 hex digits */
	const char *errstr = NULL;

	if (!pg_md5_hash(VARDATA_ANY(rows), VARSIZE_ANY_EXHDR(rows), hexsum, &errstr))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the md5 of a snapshot chunk: %s", errstr)));
	return strcmp(hexsum, checksum) == 0;
}

/*
 * SQL (on the new node): check one chunk against its checksum and row
 * count, insert its rows and keep it; chunks come in order, and one
 * loaded already is skipped (false).  The text's md5 is checked before it
 * is parsed; it is parsed once, here, and handed on as jsonb (each
 * statement that took it as text parsed it again, and planned with it as
 * a constant: most of a chunk's time).
 */
Datum
rig_bootstrap_chunk(PG_FUNCTION_ARGS)
{
	int64		id;
	int			chunk;
	char	   *relation;
	int			nrows;
	char	   *checksum;
	Datum		rows;
	Oid			types[6] = {INT8OID, INT4OID, TEXTOID, INT4OID, JSONBOID, TEXTOID};
	Datum		values[6];
	RigSnapshotInfo info;
	int			next;
	bool		known;
	bool		ok;

	rig_boot_check_args(fcinfo, "rig_bootstrap_chunk()", -1);
	rig_boot_check_node("rig_bootstrap_chunk()");
	id = PG_GETARG_INT64(0);
	chunk = PG_GETARG_INT32(1);
	relation = text_to_cstring(PG_GETARG_TEXT_PP(2));
	nrows = PG_GETARG_INT32(3);
	checksum = text_to_cstring(PG_GETARG_TEXT_PP(5));
	rig_boot_incomplete(id, &info);
	known = strcmp(relation, RIG_SNAPSHOT_KEYS) == 0 ||
		(info.rig_state && rig_snapshot_is_rig_state(relation));
	for (ListCell *lc = list_head(info.relations); lc != NULL && !known; lc = lnext(info.relations, lc))
		known = strcmp(lfirst(lc), relation) == 0;
	if (!known || chunk < 0 || chunk >= info.chunks)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk %d of %s is not part of snapshot " INT64_FORMAT, chunk, relation, id)));

	next = rig_boot_next_chunk(id);
	if (chunk < next)
		PG_RETURN_BOOL(false);
	if (chunk > next)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("chunk %d of snapshot " INT64_FORMAT " comes before chunk %d on node \"%s\"",
						chunk, id, next, rig_node_name())));
	ok = rig_boot_md5_ok(PG_GETARG_TEXT_PP(4), checksum);
	if (ok)
	{
		Jsonb	   *jb;

		rows = DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(PG_GETARG_TEXT_PP(4))));
		jb = DatumGetJsonbP(rows);
		ok = JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb) && JB_ROOT_COUNT(jb) == (uint32) nrows;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("chunk %d of snapshot " INT64_FORMAT " (%s) does not match its checksum", chunk, id, relation),
				 errdetail("Its rows differ from those the snapshot recorded (md5 %s, %d rows); nothing of it was loaded.",
						   checksum, nrows),
				 errhint("Take a new snapshot with rig_snapshot() on the primary, then add the peer again.")));

	rig_snapshot_load_rows(relation, rows, Max(info.watermark, 1));
	values[0] = Int64GetDatum(id);
	values[1] = Int32GetDatum(chunk);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = Int32GetDatum(nrows);
	values[4] = rows;
	values[5] = PG_GETARG_DATUM(5);
	SPI_connect();
	if (rig_spi_generic_as(rig_rel_owner(rig_relid("snapshot_chunks")),
						   "INSERT INTO rig.snapshot_chunks (snapshot_id, chunk, relation, nrows, rows, checksum) "
						   "VALUES ($1, $2, $3, $4, $5, $6)",
						   6, types, values) != SPI_OK_INSERT)
		elog(ERROR, "could not record the chunk");
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * SQL (on the new node): record one of the later versions the snapshot
 * being loaded includes, without applying it (its effects are in the rows).
 */
Datum
rig_bootstrap_record(PG_FUNCTION_ARGS)
{
	RigSnapshotInfo info;
	int64		version;
	bool		found = false;

	/* the idempotency key (argument 5) may be NULL */
	rig_boot_check_args(fcinfo, "rig_bootstrap_record()", 4);
	rig_boot_check_node("rig_bootstrap_record()");
	version = PG_GETARG_INT64(0);
	if (!rig_snapshot_loading(&info))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no snapshot is being loaded on node \"%s\"", rig_node_name())));
	for (int i = 0; i < info.nincluded && !found; i++)
		found = info.included[i] == version;
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version " INT64_FORMAT " is not one of the later versions snapshot " INT64_FORMAT " includes",
						version, info.id)));
	rig_record_op(version, PG_GETARG_INT64(1), text_to_cstring(PG_GETARG_TEXT_PP(2)),
				  PG_GETARG_JSONB_P(3), PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4),
				  PG_GETARG_TIMESTAMPTZ(5), text_to_cstring(PG_GETARG_TEXT_PP(6)));
	PG_RETURN_VOID();
}

/*
 * SQL (on the new node): every chunk and record is here; the tables must
 * hash as the snapshot says.  Then the snapshot is complete, and the log
 * below W + 1 counts as compacted here (its effects are in the rows).
 */
Datum
rig_bootstrap_finish(PG_FUNCTION_ARGS)
{
	int64		id;
	RigSnapshotInfo info;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		have;
	char	   *hash;

	rig_boot_check_args(fcinfo, "rig_bootstrap_finish()", -1);
	rig_boot_check_node("rig_bootstrap_finish()");
	id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(id);
	if (rig_snapshot_get(id, &info) && info.complete)
		PG_RETURN_INT64(info.watermark);
	rig_boot_incomplete(id, &info);

	SPI_connect();
	if (rig_spi_as_owner("snapshot_chunks", "SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = $1",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshot_chunks");
	have = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	SPI_finish();
	if (have != info.chunks)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snapshot " INT64_FORMAT " is not loaded yet: " INT64_FORMAT " of %d chunks",
						id, have, info.chunks)));
	for (int i = 0; i < info.nincluded; i++)
		if (!rig_log_has_version(info.included[i]))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("snapshot " INT64_FORMAT " is not loaded yet: version " INT64_FORMAT " is not recorded",
							id, info.included[i])));

	hash = rig_snapshot_full_hash(info.relations, info.watermark);
	if (!rig_snapshot_hash_matches(info.state_hash, hash))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the tables and idempotency keys loaded on node \"%s\" do not match the state hash of snapshot " INT64_FORMAT,
						rig_node_name(), id),
				 errdetail("Expected %s, got %s.", info.state_hash, hash),
				 errhint("Rebuild this node (DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers and tables), "
						 "take a new snapshot on the primary, and add it again.")));

	SPI_connect();
	if (rig_spi_as_owner("snapshots", "UPDATE rig.snapshots SET complete = true WHERE id = $1",
						 1, types, values, NULL) != SPI_OK_UPDATE)
		elog(ERROR, "could not update rig.snapshots");
	if (rig_spi_as_owner("snapshots", "SELECT setval('rig.snapshot_seq', greatest($1, "
						 "(SELECT last_value FROM rig.snapshot_seq)))",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not update rig.snapshot_seq");
	SPI_finish();
	values[0] = Int64GetDatum(info.watermark + 1);
	if (info.watermark + 1 > rig_node_compacted_below())
		rig_node_update("UPDATE rig.node SET compacted_below = $1", 1, types, values);

	/*
	 * This node holds every version up to W now, as if it had applied them:
	 * its version sequence (read after a restart) and last_assigned say so,
	 * or its watermark would stay below W and nothing could be compared.
	 */
	values[0] = Int64GetDatum(info.watermark);
	SPI_connect();
	if (info.watermark > 0 &&
		rig_spi_as_owner("version_seq", "SELECT pg_catalog.setval('rig.version_seq', $1) "
						 "FROM rig.version_seq WHERE NOT is_called OR last_value < $1",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not set rig.version_seq");
	SPI_finish();
	rig_ensure_loaded();
	rig_note_assigned(info.watermark);
	PG_RETURN_INT64(info.watermark);
}
