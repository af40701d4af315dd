/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Stored snapshots of the state tables (rig_snapshot() takes them,
 *	  snaptake.c): reading them from rig.snapshots, their state hash, and
 *	  loading their rows back into the tables (rig_rebuild, a new node's
 *	  bootstrap).
 *
 * A snapshot holds every version <= its watermark W and the later versions
 * it records as "included"; a replay from it applies every later version
 * except those.  Its chunks hold the registered tables' rows (then the
 * idempotency keys of versions <= W, then rig's own tables:
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/regproc.h"

#include "apply.h"
#include "catalog.h"
#include "settings.h"
#include "snapshot.h"
#include "tablehash.h"
#include "tables.h"

/* A table's rows of a chunk inserted as they were */
typedef struct RigLoad
{
	const char *sql;
	Oid			owner;
	Datum		rows;			/* jsonb */
} RigLoad;

static void rig_snapshot_fill(RigSnapshotInfo *info, HeapTuple tup, TupleDesc desc);
static bool rig_snapshot_read(const char *cond, int64 id, bool lock, RigSnapshotInfo *info);
static void rig_load_work(void *arg);

/*
 * Pin the settings that decide how values are written as text and read
 * back (those rig_table_range_hashes runs under), so that a snapshot's rows
 * do not depend on the caller's session (extra_float_digits = 0 would round
 * floats, IntervalStyle sql_standard write intervals another style reads
 * otherwise, lc_monetary money in another currency's format) and load
 * back exactly; the search_path of rig's own statements too.  Returns the
 * GUC nest level, for AtEOXact_GUC.
 */
int
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
bool
rig_snapshots_installed(void)
{
	return OidIsValid(get_relname_relid("snapshots", rig_schema_oid()));
}

/* A text[] of the strings of names. */
Datum
rig_snapshot_text_array(List *names)
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
	Datum		values[1] = {rig_snapshot_text_array(relations)};
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
