/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Snapshots of the state tables: rig_snapshot(), stored in
 *	  rig.snapshots and rig.snapshot_chunks; their state hash; loading
 *	  their rows back into the tables (rig_rebuild, a new node's bootstrap).
 *
 * A snapshot is taken without blocking anybody: W is the watermark read
 * first (every version <= W is final, so each one that committed is
 * visible to any snapshot taken after), then one MVCC snapshot is taken,
 * under which the registered tables, rig.log and rig.idempotency_keys are
 * read.  Ops on disjoint resources commit out of version order, so that
 * snapshot also holds some versions above W: the ones rig.log shows in it
 * are recorded as "included", and a replay from the snapshot applies every
 * later version except them.  The rows are stored as jsonb arrays of
 * chunk_rows rows in primary-key order, chunks numbered across the tables
 * (then the idempotency keys of versions <= W, then rig's own tables:
 * rig.transactions, rig.transaction_events and rig.remote_nodes, its
 * conninfos without their secrets, as a peer holds them), each with the
 * md5 of its text; the state hash is that of rig_table_range_hashes over
 * each whole registered table (the hash rig_verify_peer compares), so any
 * node can check it, and of the keys of versions <= W, which a
 * bootstrapped node checks too.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/regproc.h"

#include "apply.h"
#include "catalog.h"
#include "conn.h"
#include "settings.h"
#include "snapshot.h"
#include "tablehash.h"
#include "tables.h"
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

/* A table's rows of a chunk inserted as they were */
typedef struct RigLoad
{
	const char *sql;
	Oid			owner;
	Datum		rows;			/* jsonb */
} RigLoad;

static bool rig_snapshots_installed(void);
static Datum rig_text_list_array(List *names);
static void rig_snapshot_fill(RigSnapshotInfo *info, HeapTuple tup, TupleDesc desc);
static bool rig_snapshot_read(const char *cond, int64 id, bool lock, RigSnapshotInfo *info);
static void rig_snapshot_check_call(void);
static char *rig_snapshot_included(int64 watermark);
static int	rig_snapshot_chunks(Snapshot snap, int64 id, int first, const char *relation,
								Oid reader, const char *keycols, const char *where, int chunk_rows);
static int	rig_snapshot_nodes_chunk(Snapshot snap, int64 id, int chunk);
static void rig_load_work(void *arg);
static int	rig_snapshot_pin_formats(void);

PG_FUNCTION_INFO_V1(rig_snapshot);

/*
 * Pin the settings that decide how values are written as text and read
 * back (those rig_table_range_hashes runs under), so that a snapshot's rows
 * do not depend on the caller's session (extra_float_digits = 0 would round
 * floats, IntervalStyle sql_standard write intervals another style reads
 * otherwise, lc_monetary money in another currency's format) and load
 * back exactly; the search_path of rig's own statements too.  Returns the
 * GUC nest level, for AtEOXact_GUC.
 */
static int
rig_snapshot_pin_formats(void)
{
	static const char *const settings[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"TimeZone", "UTC"},
		{"DateStyle", "ISO, YMD"},
		{"IntervalStyle", "postgres"},
		{"extra_float_digits", "1"},
		{"bytea_output", "hex"},
		{"lc_monetary", "C"},
	};
	int			nest = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(settings); i++)
		(void) set_config_option(settings[i][0], settings[i][1], PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Is this node's SQL new enough to have rig.snapshots (1.0's is not)? */
static bool
rig_snapshots_installed(void)
{
	return OidIsValid(get_relname_relid("snapshots", rig_schema_oid()));
}

/* A text[] of the strings of names. */
static Datum
rig_text_list_array(List *names)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(names), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, names)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* qsort comparator for char * (byte order, the same on every node) */
static int
rig_cmp_names(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
}

/* The registered tables' names (schema.table, quoted), sorted. */
List *
rig_snapshot_table_names(void)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, rig_registered_tables())
	{
		RigTableKey key;

		rig_table_key(lfirst_oid(lc), &key);
		names = lappend(names, key.relname);
	}
	list_sort(names, rig_cmp_names);
	return names;
}

/*
 * The state hash of relations, in the active snapshot: md5 over each
 * table's row count and row hash sum (rig_table_range_hashes, the hash
 * rig_verify_peer compares), in the order given.
 */
char *
rig_snapshot_state_hash(List *relations)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {rig_text_list_array(relations)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *hash;

	SPI_connect();
	if (SPI_execute_with_args("SELECT md5(coalesce(string_agg(r.rel || ':' || h.n || ':' || h.hash, ',' ORDER BY r.ord), '')) "
							  "FROM unnest($1) WITH ORDINALITY r(rel, ord), "
							  "LATERAL pg_catalog.rig_table_range_hashes(r.rel, NULL, NULL, NULL) h",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not hash the state tables");
	hash = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return hash;
}

/*
 * The hash of the idempotency keys of versions <= watermark, in the active
 * snapshot, under the pinned formats: their count and the sum of their
 * rows' 64-bit md5 prefixes, as rig_table_range_hashes hashes rows.
 */
static char *
rig_snapshot_keys_hash(int64 watermark)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(watermark)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *hash;
	int			nest;

	SPI_connect();
	nest = rig_snapshot_pin_formats();
	if (rig_spi_as_role(rig_rel_owner(rig_relid("idempotency_keys")),
						"SELECT count(*) || ':' || coalesce(sum(('x' || left(md5(k::text), 16))::bit(64)::bigint::numeric), 0) "
						"FROM rig.idempotency_keys k WHERE k.version <= $1",
						1, types, values, true) != SPI_OK_SELECT)
		elog(ERROR, "could not hash the idempotency keys");
	hash = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	AtEOXact_GUC(true, nest);
	SPI_finish();
	return hash;
}

/*
 * The state hash a snapshot records and a bootstrapped node checks: the
 * tables' (rig_snapshot_state_hash), a slash, the keys' of versions <= W.
 */
char *
rig_snapshot_full_hash(List *relations, int64 watermark)
{
	return psprintf("%s/%s", rig_snapshot_state_hash(relations),
					rig_snapshot_keys_hash(watermark));
}

/*
 * Does a computed state hash match the recorded one?  The tables' parts
 * must; the keys' parts too when both have one (a rebuild computes the
 * tables' only, since it keeps the keys; a snapshot taken before the keys
 * were hashed recorded the tables' only).
 */
bool
rig_snapshot_hash_matches(const char *recorded, const char *computed)
{
	const char *rk = strchr(recorded, '/');
	const char *ck = strchr(computed, '/');
	size_t		rlen = rk ? (size_t) (rk - recorded) : strlen(recorded);
	size_t		clen = ck ? (size_t) (ck - computed) : strlen(computed);

	if (rlen != clen || strncmp(recorded, computed, rlen) != 0)
		return false;
	return rk == NULL || ck == NULL || strcmp(rk, ck) == 0;
}

/* One hash of every method's handler definitions (rig_handler_fingerprints). */
char *
rig_snapshot_fingerprint(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *fp;

	SPI_connect();
	if (SPI_execute("SELECT md5(coalesce(string_agg(method || '=' || fingerprint, ',' ORDER BY method COLLATE \"C\"), '')) "
					"FROM pg_catalog.rig_handler_fingerprints()", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the handlers' fingerprints");
	fp = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return fp;
}

/* Copy a row of rig.snapshots (the columns of rig_snapshot_latest) out of SPI. */
static void
rig_snapshot_fill(RigSnapshotInfo *info, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	info->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	info->watermark = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull)),
					  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	info->nincluded = n;
	info->included = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		info->included[i] = DatumGetInt64(elems[i]);
	info->state_hash = pstrdup(SPI_getvalue(tup, desc, 4));
	info->fingerprint = pstrdup(SPI_getvalue(tup, desc, 5));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 6, &isnull)),
					  TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	info->relations = NIL;
	info->rig_state = false;
	for (int i = 0; i < n; i++)
	{
		char	   *name = TextDatumGetCString(elems[i]);

		if (rig_snapshot_is_rig_state(name))
			info->rig_state = true;
		else
			info->relations = lappend(info->relations, name);
	}
	info->chunks = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	info->complete = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	info->json = pstrdup(SPI_getvalue(tup, desc, 9));
}

/*
 * Read one row of rig.snapshots (cond: the rest of the query, $1 = id);
 * false when there is none.  lock: hold it (FOR KEY SHARE) until the
 * transaction ends, so that rig_compact keeps what it needs (a bootstrap
 * reading it).
 */
static bool
rig_snapshot_read(const char *cond, int64 id, bool lock, RigSnapshotInfo *info)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		found;

	if (!rig_snapshots_installed())
		return false;
	SPI_connect();
	if (rig_spi_as_role(rig_rel_owner(rig_relid("snapshots")),
						psprintf("SELECT id, watermark, included, state_hash, handler_fingerprint, tables, "
								 "chunks, complete, row_to_json(s)::text FROM rig.snapshots s "
								 "WHERE $1 IS NOT NULL AND %s%s",
								 cond, lock ? " FOR KEY SHARE" : ""),
						1, types, values, false) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshots");
	found = SPI_processed == 1;
	if (found)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		rig_snapshot_fill(info, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return found;
}

/* The latest complete snapshot of this node; false when there is none. */
bool
rig_snapshot_latest(RigSnapshotInfo *info, bool lock)
{
	return rig_snapshot_read("complete ORDER BY id DESC LIMIT 1", 0, lock, info);
}

/* The snapshot being loaded here (a bootstrap); false when there is none. */
bool
rig_snapshot_loading(RigSnapshotInfo *info)
{
	return rig_snapshot_read("NOT complete ORDER BY id DESC LIMIT 1", 0, false, info);
}

/* Snapshot id of this node (complete or still being loaded); false when absent. */
bool
rig_snapshot_get(int64 id, RigSnapshotInfo *info)
{
	return rig_snapshot_read("id = $1", id, false, info);
}

/* Does the snapshot hold version (at or below W, or one of the later ones)? */
bool
rig_snapshot_includes(RigSnapshotInfo *info, int64 version)
{
	int			lo = 0;
	int			hi = info->nincluded - 1;

	if (version <= info->watermark)
		return true;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (info->included[mid] == version)
			return true;
		if (info->included[mid] < version)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Is this one of rig's own tables a snapshot carries (not a registered one)? */
bool
rig_snapshot_is_rig_state(const char *relation)
{
	return strcmp(relation, RIG_SNAPSHOT_TRANSACTIONS) == 0 ||
		strcmp(relation, RIG_SNAPSHOT_EVENTS) == 0 ||
		strcmp(relation, RIG_SNAPSHOT_NODES) == 0;
}

/* Insert one chunk's rows (see rig_snapshot_load_rows), in the apply context. */
static void
rig_load_work(void *arg)
{
	RigLoad    *load = arg;
	Oid			types[1] = {JSONBOID};
	Datum		values[1] = {load->rows};

	if (rig_spi_generic_as(load->owner, load->sql, 1, types, values) != SPI_OK_INSERT)
		elog(ERROR, "could not load the rows of a snapshot");
}

/*
 * Insert rows (a jsonb array of to_jsonb(row)) into relation, a
 * registered table (as its owner, in rig's apply context: the one way
 * besides a handler that writes a state table), RIG_SNAPSHOT_KEYS or one
 * of rig's own tables (rig_snapshot_is_rig_state).
 */
void
rig_snapshot_load_rows(const char *relation, Datum rows, int64 version)
{
	RigLoad		load;
	RigTableKey key;
	Oid			relid;
	int			nest;

	load.rows = rows;
	SPI_connect();
	/* read back as rig_snapshot_chunks wrote them */
	nest = rig_snapshot_pin_formats();
	/* rig's own tables (the keys, or what its ops wrote): as their owner */
	if (strcmp(relation, RIG_SNAPSHOT_KEYS) == 0 || rig_snapshot_is_rig_state(relation))
	{
		load.owner = rig_rel_owner(rig_relid(relation + strlen("rig.")));
		load.sql = psprintf("INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1)%s",
							relation, relation,
							strcmp(relation, RIG_SNAPSHOT_KEYS) == 0 ? " ON CONFLICT DO NOTHING" : "");
		/* rig's rows as its ops left them: none of their triggers fires */
		if (rig_snapshot_is_rig_state(relation))
			(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		rig_load_work(&load);
		AtEOXact_GUC(true, nest);
		SPI_finish();
		return;
	}
	relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(relation)),
							 RowExclusiveLock, true);
	if (!OidIsValid(relid) || !rig_table_is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s of the snapshot is not registered with rig on node \"%s\"",
						relation, rig_node_name()),
				 errhint("Create the table and register it with rig_register_table() on every node, as on the node the snapshot comes from.")));
	/* the name as this node spells it, not as the sender did */
	rig_table_key(relid, &key);
	load.owner = key.owner;
	load.sql = psprintf("INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1)",
						key.relname, key.relname);
	/*
	 * The rows are a state, not new events: no trigger fires and no foreign
	 * key is checked row by row (chunks come in key order, not in the order
	 * references need), as in a logical replication apply; the state hash
	 * checks the result.
	 */
	(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* and nothing but that INSERT writes meanwhile (tables.c) */
	rig_tables_set_loading(RIG_LOAD_ARMED);
	PG_TRY();
	{
		rig_apply_context_run(version, rig_load_work, &load);
	}
	PG_FINALLY();
	{
		rig_tables_set_loading(RIG_LOAD_NONE);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	SPI_finish();
}

/*
 * Fill the (emptied) registered tables from a stored snapshot, checking
 * each chunk's checksum and then the state hash (rig_rebuild).
 */
void
rig_snapshot_restore(RigSnapshotInfo *info)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Oid			owner = rig_rel_owner(rig_relid("snapshot_chunks"));
	char	   *hash;

	for (int c = 0; c < info->chunks; c++)
	{
		Datum		values[2] = {Int64GetDatum(info->id), Int32GetDatum(c)};
		char	   *relation;
		Datum		rows;
		bool		ok;
		bool		isnull;
		MemoryContext cxt = CurrentMemoryContext;

		CHECK_FOR_INTERRUPTS();
		SPI_connect();
		/* a fresh snapshot: the caller's may predate this snapshot (rig_rebuild waited for its locks) */
		if (rig_spi_as_role(owner, "SELECT relation, rows, checksum = md5(rows::text) "
							"FROM rig.snapshot_chunks WHERE snapshot_id = $1 AND chunk = $2",
							2, types, values, false) != SPI_OK_SELECT)
			elog(ERROR, "could not read rig.snapshot_chunks");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("chunk %d of snapshot " INT64_FORMAT " is missing", c, info->id)));
		relation = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			rows = PointerGetDatum(PG_DETOAST_DATUM_COPY(rows));
			MemoryContextSwitchTo(old);
		}
		ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		SPI_finish();
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("chunk %d of snapshot " INT64_FORMAT " does not match its checksum", c, info->id),
					 errdetail("Its rows were changed after the snapshot was taken; nothing was changed.")));
		/* the keys and rig's own tables are still here: only the tables were emptied */
		if (strcmp(relation, RIG_SNAPSHOT_KEYS) != 0 && !rig_snapshot_is_rig_state(relation))
			rig_snapshot_load_rows(relation, rows, Max(info->watermark, 1));
		pfree(DatumGetPointer(rows));
	}
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	hash = rig_snapshot_state_hash(info->relations);
	PopActiveSnapshot();
	if (!rig_snapshot_hash_matches(info->state_hash, hash))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the tables restored from snapshot " INT64_FORMAT " do not match its state hash", info->id),
				 errdetail("Expected %s, got %s; nothing was changed.", info->state_hash, hash)));
}

/*
 * Refuse what would take or change a node's state while it is being
 * bootstrapped (its tables hold part of a snapshot): rig_snapshot() would
 * store that part, rig_rebuild() would empty it under the chunks it keeps.
 */
void
rig_snapshot_refuse_loading(const char *what)
{
	RigSnapshotInfo loading;

	if (rig_snapshots_installed() && rig_snapshot_loading(&loading))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot run while node \"%s\" is being bootstrapped from snapshot " INT64_FORMAT,
						what, rig_node_name(), loading.id),
				 errdetail("Its tables hold part of that snapshot."),
				 errhint("Finish the bootstrap with rig_add_peer() on the primary.")));
}

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
	values[5] = rig_text_list_array(lappend(lappend(lappend(list_copy(relations),
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
