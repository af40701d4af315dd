/*-------------------------------------------------------------------------
 *
 * snaptake.c
 *	  Taking a snapshot of the state tables: rig_snapshot(), which stores
 *	  it in rig.snapshots and rig.snapshot_chunks (snapshot.c reads and
 *	  loads it).
 *
 * The watermark W is read first (every version <= W is final, so each one
 * that committed is visible to any snapshot taken after), then one MVCC
 * snapshot is taken, under which the registered tables, rig.log and
 * rig.idempotency_keys are read, so writers are never blocked.  The
 * versions above W that snapshot shows in rig.log are recorded as
 * "included".  Each table is stored as jsonb arrays of chunk_rows rows in
 * primary-key order, read as the table's owner, each chunk with the md5
 * of its text; the chunks are numbered across the tables, then the
 * idempotency keys of versions <= W, then rig's own tables.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/snaptake.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"

#include "apply.h"
#include "catalog.h"
#include "conn.h"
#include "settings.h"
#include "snapshot.h"
#include "tablehash.h"
#include "watermark.h"
#include "xact.h"

/* Rows per chunk when the caller does not say */
#define RIG_SNAPSHOT_CHUNK_ROWS		1000

/*
 * Chunks of one table (or the keys), read in the snapshot as the table's
 * owner: $1 rows per chunk.  One row per chunk: its number from 0, row
 * count, rows and checksum.
 */
#define RIG_CHUNKS_SQL \
	"SELECT g.c::int, g.n::int, g.r, md5(g.r::text) " \
	"FROM (SELECT s.c, count(*) AS n, jsonb_agg(s.j ORDER BY s.n) AS r " \
	"      FROM (SELECT (row_number() OVER (ORDER BY %s) - 1) / $1 AS c, " \
	"                   row_number() OVER (ORDER BY %s) AS n, to_jsonb(t) AS j " \
	"            FROM ONLY %s t %s) s GROUP BY s.c ORDER BY s.c) g"

/* Store one chunk read by RIG_CHUNKS_SQL: $1 id, $2 chunk, $3 relation, $4 rows, $5 jsonb, $6 checksum */
#define RIG_CHUNK_STORE_SQL \
	"INSERT INTO rig.snapshot_chunks (snapshot_id, chunk, relation, nrows, rows, checksum) " \
	"VALUES ($1, $2, $3, $4, $5, $6)"

static void rig_snapshot_check_call(void);
static char *rig_snapshot_included(int64 watermark);
static int	rig_snapshot_chunks(Snapshot snap, int64 id, int first, const char *relation,
								Oid reader, const char *keycols, const char *where, int chunk_rows);
static int	rig_snapshot_nodes_chunk(Snapshot snap, int64 id, int chunk);

PG_FUNCTION_INFO_V1(rig_snapshot);

/* Refuse a call of rig_snapshot() that cannot give a consistent snapshot. */
static void
rig_snapshot_check_call(void)
{
	rig_check_database();
	if (!rig_snapshots_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig_snapshot() needs the rig extension's SQL at version 1.1"),
				 errhint("Run ALTER EXTENSION rig UPDATE.")));
	if (rig_in_handler())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig_snapshot() cannot be run from inside a rig handler")));
	/* its own uncommitted ops would be in the snapshot */
	rig_xact_refuse_ops("rig_snapshot()");
	rig_snapshot_refuse_loading("rig_snapshot()");
}

/* The versions above watermark that rig.log holds in the active snapshot, as an int8[] literal. */
static char *
rig_snapshot_included(int64 watermark)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(watermark)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *included;

	SPI_connect();
	if (rig_spi_as_role(rig_rel_owner(rig_relid("log")),
						"SELECT coalesce(array_agg(version ORDER BY version), '{}')::text "
						"FROM rig.log WHERE version > $1",
						1, types, values, true) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	included = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return included;
}

/*
 * Store the rows of relation (where: a filter) as it is in snap, in chunks
 * numbered from first; returns how many chunks.  Read one chunk at a time
 * as reader (the table's owner), in a security-restricted context: what
 * the rows' conversion runs (a cast of a column's type to json, which the
 * type's owner may create) runs with that owner's rights, never the
 * caller's or rig's.  Written as the owner of rig.snapshot_chunks.
 */
static int
rig_snapshot_chunks(Snapshot snap, int64 id, int first, const char *relation,
					Oid reader, const char *keycols, const char *where, int chunk_rows)
{
	Oid			read_types[1] = {INT4OID};
	Datum		read_values[1] = {Int32GetDatum(chunk_rows)};
	Oid			types[6] = {INT8OID, INT4OID, TEXTOID, INT4OID, JSONBOID, TEXTOID};
	Datum		values[6];
	Oid			store_owner = rig_rel_owner(rig_relid("snapshot_chunks"));
	Oid			save_userid;
	int			save_sec;
	SPIPlanPtr	plan;
	volatile int n = 0;
	int			nest;

	values[0] = Int64GetDatum(id);
	values[2] = CStringGetTextDatum(relation);
	SPI_connect();
	nest = rig_snapshot_pin_formats();
	plan = SPI_prepare(psprintf(RIG_CHUNKS_SQL, keycols, keycols, relation, where), 1, read_types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the snapshot of %s: %s", relation,
			 SPI_result_code_string(SPI_result));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(reader, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		Portal		portal;

		/* a read-only cursor runs in the active snapshot: snap */
		PushActiveSnapshot(snap);
		portal = SPI_cursor_open(NULL, plan, read_values, NULL, true);
		PopActiveSnapshot();
		for (SPI_cursor_fetch(portal, true, 1); SPI_processed > 0; SPI_cursor_fetch(portal, true, 1))
		{
			SPITupleTable *chunk = SPI_tuptable;
			bool		isnull;

			values[1] = Int32GetDatum(first + DatumGetInt32(SPI_getbinval(chunk->vals[0], chunk->tupdesc, 1, &isnull)));
			values[3] = SPI_getbinval(chunk->vals[0], chunk->tupdesc, 2, &isnull);
			values[4] = SPI_getbinval(chunk->vals[0], chunk->tupdesc, 3, &isnull);
			values[5] = SPI_getbinval(chunk->vals[0], chunk->tupdesc, 4, &isnull);
			if (rig_spi_generic_as(store_owner, RIG_CHUNK_STORE_SQL, 6, types, values) != SPI_OK_INSERT)
				elog(ERROR, "could not store the snapshot of %s", relation);
			SPI_freetuptable(chunk);
			n++;
		}
		SPI_cursor_close(portal);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	SPI_finish();
	return n;
}

/*
 * Store rig.remote_nodes as it is in snap, as one chunk numbered chunk
 * (none when it is empty), each conninfo without its secrets: as the
 * peers hold it from the rig_add_node op (a password stays on the node it
 * was given to).  Returns how many chunks.
 */
static int
rig_snapshot_nodes_chunk(Snapshot snap, int64 id, int chunk)
{
	Oid			types[4] = {INT8OID, INT4OID, INT4OID, TEXTOID};
	Datum		values[4];
	StringInfoData rows;
	uint64		n;
	int			nest;

	SPI_connect();
	nest = rig_snapshot_pin_formats();
	PushActiveSnapshot(snap);
	if (rig_spi_as_role(rig_rel_owner(rig_relid("remote_nodes")),
						"SELECT name, conninfo, to_jsonb(added_at)::text FROM rig.remote_nodes ORDER BY name",
						0, NULL, NULL, true) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.remote_nodes");
	PopActiveSnapshot();
	n = SPI_processed;
	initStringInfo(&rows);
	appendStringInfoChar(&rows, '[');
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		appendStringInfoString(&rows, r > 0 ? ", {\"name\": " : "{\"name\": ");
		escape_json(&rows, SPI_getvalue(tup, desc, 1));
		appendStringInfoString(&rows, ", \"conninfo\": ");
		escape_json(&rows, rig_conninfo_without_secrets(SPI_getvalue(tup, desc, 2)));
		appendStringInfo(&rows, ", \"added_at\": %s}", SPI_getvalue(tup, desc, 3));
	}
	appendStringInfoChar(&rows, ']');
	if (n > 0)
	{
		values[0] = Int64GetDatum(id);
		values[1] = Int32GetDatum(chunk);
		values[2] = Int32GetDatum((int32) n);
		values[3] = CStringGetTextDatum(rows.data);
		if (rig_spi_generic_as(rig_rel_owner(rig_relid("snapshot_chunks")),
							   "INSERT INTO rig.snapshot_chunks (snapshot_id, chunk, relation, nrows, rows, checksum) "
							   "VALUES ($1, $2, '" RIG_SNAPSHOT_NODES "', $3, $4::jsonb, md5($4::jsonb::text))",
							   4, types, values) != SPI_OK_INSERT)
			elog(ERROR, "could not store the snapshot of rig.remote_nodes");
	}
	AtEOXact_GUC(true, nest);
	SPI_finish();
	return n > 0 ? 1 : 0;
}

/*
 * SQL: take a consistent snapshot of every registered table (and of the
 * idempotency keys and rig's own tables) without blocking writers, store
 * it, and return its id.
 */
Datum
rig_snapshot(PG_FUNCTION_ARGS)
{
	int			chunk_rows;
	List	   *relations;
	int64		watermark;
	Snapshot	snap;
	int64		id;
	char	   *included;
	char	   *state_hash;
	int			chunks = 0;
	Oid			types[7] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID};
	Datum		values[7];
	Oid			owner;
	ListCell   *lc;

	rig_snapshot_check_call();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chunk_rows must not be NULL"),
				 errhint("Leave it out for the default of %d rows.", RIG_SNAPSHOT_CHUNK_ROWS)));
	chunk_rows = PG_GETARG_INT32(0);
	if (chunk_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk_rows must be at least 1")));
	relations = rig_snapshot_table_names();
	if (relations == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no table is registered with rig: nothing to snapshot"),
				 errhint("Register the tables the handlers write with rig_register_table().")));
	owner = rig_rel_owner(rig_relid("snapshots"));

	/* W first, the MVCC snapshot second: every final version <= W is in it */
	watermark = rig_compute_watermark();
	snap = RegisterSnapshot(GetLatestSnapshot());

	PushActiveSnapshot(snap);
	included = rig_snapshot_included(watermark);
	state_hash = rig_snapshot_full_hash(relations, watermark);
	PopActiveSnapshot();

	SPI_connect();
	if (rig_spi_as_role(owner, "SELECT nextval('rig.snapshot_seq')", 0, NULL, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not draw a snapshot id");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	values[0] = Int64GetDatum(id);
	values[1] = Int64GetDatum(watermark);
	values[2] = CStringGetTextDatum(included);
	values[3] = CStringGetTextDatum(state_hash);
	values[4] = CStringGetTextDatum(rig_snapshot_fingerprint());
	values[5] = rig_snapshot_text_array(lappend(lappend(lappend(list_copy(relations),
															RIG_SNAPSHOT_TRANSACTIONS),
													RIG_SNAPSHOT_EVENTS),
											RIG_SNAPSHOT_NODES));
	values[6] = Int32GetDatum(0);
	if (rig_spi_as_role(owner, "INSERT INTO rig.snapshots (id, watermark, included, state_hash, "
						"handler_fingerprint, tables, chunks, complete, node) "
						"VALUES ($1, $2, $3::bigint[], $4, $5, $6, $7, false, current_setting('rig.node_name'))",
						7, types, values, false) != SPI_OK_INSERT)
		elog(ERROR, "could not record the snapshot");
	SPI_finish();

	foreach(lc, relations)
	{
		RigTableKey key;
		StringInfoData cols;

		rig_table_key(RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(lfirst(lc))),
									   AccessShareLock, false), &key);
		initStringInfo(&cols);
		for (int i = 0; i < key.nkeys; i++)
			appendStringInfo(&cols, "%st.%s", i > 0 ? ", " : "", key.cols[i]);
		chunks += rig_snapshot_chunks(snap, id, chunks, key.relname, key.owner, cols.data, "", chunk_rows);
	}
	/* the keys of the versions up to W (the later ones come with their records) */
	chunks += rig_snapshot_chunks(snap, id, chunks, RIG_SNAPSHOT_KEYS,
								  rig_rel_owner(rig_relid("idempotency_keys")), "t.idempotency_key",
								  psprintf("WHERE t.version <= " INT64_FORMAT, watermark), chunk_rows);
	/* rig's own tables: what a new node needs for the log after W */
	chunks += rig_snapshot_chunks(snap, id, chunks, RIG_SNAPSHOT_TRANSACTIONS,
								  rig_rel_owner(rig_relid("transactions")), "t.id", "", chunk_rows);
	chunks += rig_snapshot_chunks(snap, id, chunks, RIG_SNAPSHOT_EVENTS,
								  rig_rel_owner(rig_relid("transaction_events")), "t.id, t.seq", "",
								  chunk_rows);
	chunks += rig_snapshot_nodes_chunk(snap, id, chunks);
	UnregisterSnapshot(snap);

	values[1] = Int32GetDatum(chunks);
	SPI_connect();
	if (rig_spi_as_role(owner, "UPDATE rig.snapshots SET chunks = $2, complete = true WHERE id = $1",
						2, (Oid[]) {INT8OID, INT4OID}, values, false) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the snapshot");
	SPI_finish();
	PG_RETURN_INT64(id);
}
