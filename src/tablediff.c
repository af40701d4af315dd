/*-------------------------------------------------------------------------
 *
 * tablediff.c
 *	  Comparing the registered tables with a peer's, at one version.
 *
 * Both nodes must be compared in the same state: the primary takes the
 * commit gate exclusively (no commit in flight), the peer opens a
 * REPEATABLE READ transaction and both take their snapshots; the gate is
 * released at once.  The states are the same when both snapshots hold the
 * same log versions above the verified part of the log (a fingerprint of
 * them); if not (a lagging peer, a COMMIT PREPARED still on its way), rig
 * tries again until rig.sync_timeout.  Every later query runs in those
 * two snapshots.
 *
 * A table is compared by primary-key ranges, as the log is by version
 * ranges: both nodes hash the rows of a range in buckets
 * (rig_table_range_hashes), the bucket bounds being keys of this node's
 * rows that split the range evenly (rig_table_key_bounds), and only
 * buckets that differ are split again, down to a range with at most one
 * row here.  A clean table costs one query per side.  The node-local side
 * (both SQL functions) is tablehash.c.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tablediff.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "catalog.h"
#include "conn.h"
#include "settings.h"
#include "tablediff.h"
#include "tablehash.h"

/* Buckets a differing range is split into */
#define RIG_TABLE_FANOUT	16

/* Differences reported per table at most */
#define RIG_TABLE_MAX_DIFFS	100

/* The registered tables of a node, as both nodes spell them */
#define RIG_TABLES_SQL \
	"SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) " \
	"FROM rig.tables t JOIN pg_catalog.pg_class c ON c.oid = t.relation " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY 1"

/* Does a node's SQL have rig.tables (1.0's has not)? */
#define RIG_TABLES_INSTALLED_SQL \
	"SELECT pg_catalog.to_regclass('rig.tables') IS NOT NULL"

/* Which log versions above $1 a snapshot holds */
#define RIG_STATE_SQL \
	"SELECT count(*), coalesce(sum(pg_catalog.hashint8(version)::numeric), 0)::text, " \
	"coalesce(max(version), $1) FROM rig.log WHERE version > $1"

#define RIG_TABLE_HASH_SQL \
	"SELECT bucket, n, hash FROM pg_catalog.rig_table_range_hashes($1, $2, $3, $4)"

#define RIG_TABLE_BOUNDS_SQL \
	"SELECT n, key FROM pg_catalog.rig_table_key_bounds($1, $2, $3, $4)"

/* One bucket of a range, on one node */
typedef struct RigTableBucket
{
	int64		n;
	char		hash[48];
} RigTableBucket;

/* The comparison of one table in progress */
typedef struct RigTableState
{
	RigConn    *rc;
	MemoryContext cxt;			/* where the result lives */
	RigTablesResult *res;
	const char *name;
	int			ndiffs;
} RigTableState;

static char *rig_array_literal(char **vals, int n);
static Datum rig_text_array(char **vals, int n);
static char *rig_key_text(char **vals, int n);
static char *rig_range_text(char **lo, char **hi, int n);
static void rig_add_table_diff(RigTableState *st, char *key_range, const char *problem);
static bool rig_name_in(List *names, const char *name);
static List *rig_tables_local(void);
static List *rig_tables_remote(RigTableState *st);
static bool rig_same_state(RigConn *rc, int64 upto, Snapshot *snap, int64 *version);
static int	rig_bounds_local(RigTableState *st, int nkeys, char **lo, char **hi,
							 List **bounds);
static void rig_table_hashes(RigTableState *st, int nkeys, char **lo, char **hi,
							 List *bounds, RigTableBucket *here, RigTableBucket *there);
static void rig_table_descend(RigTableState *st, int nkeys, char **lo, char **hi,
							  int64 here_n, int64 there_n);
static void rig_compare_table(RigTableState *st);
static void rig_verify_tables_guts(RigTableState *st, int64 final_upto);


/* A text[] literal of n values (NULL when there are none), for the peer. */
static char *
rig_array_literal(char **vals, int n)
{
	StringInfoData buf;

	if (vals == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (const char *p = vals[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* A text[] of n values, for this node's own calls. */
static Datum
rig_text_array(char **vals, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(vals[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* "(v1, v2)" */
static char *
rig_key_text(char **vals, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", vals[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* "[(5), (6))", "(-inf, (6))", "[(5), +inf)" */
static char *
rig_range_text(char **lo, char **hi, int n)
{
	return psprintf("%s%s, %s)", lo ? "[" : "(", lo ? rig_key_text(lo, n) : "-inf",
					hi ? rig_key_text(hi, n) : "+inf");
}

/* Record a difference of the table being compared. */
static void
rig_add_table_diff(RigTableState *st, char *key_range, const char *problem)
{
	MemoryContext old;
	RigTableDiff *d;

	if (st->ndiffs >= RIG_TABLE_MAX_DIFFS)
	{
		st->res->truncated = true;
		return;
	}
	old = MemoryContextSwitchTo(st->cxt);
	d = palloc(sizeof(RigTableDiff));
	d->relation = pstrdup(st->name);
	d->key_range = key_range ? pstrdup(key_range) : NULL;
	d->problem = problem;
	st->res->diffs = lappend(st->res->diffs, d);
	MemoryContextSwitchTo(old);
	st->ndiffs++;
}

/* Is name one of names (C strings)? */
static bool
rig_name_in(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/* This node's registered tables, by name (in the caller's SPI connection). */
static List *
rig_tables_local(void)
{
	List	   *names = NIL;

	/* a node whose SQL is still 1.0 has no registered tables */
	if (!OidIsValid(get_relname_relid("tables", rig_schema_oid())))
		return NIL;
	if (SPI_execute(RIG_TABLES_SQL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list registered tables");
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return names;
}

/* The peer's registered tables, by name. */
static List *
rig_tables_remote(RigTableState *st)
{
	PGresult   *res;
	List	   *names = NIL;
	bool		installed;

	/* a peer whose SQL is still 1.0 has no registered tables */
	res = rig_conn_query(st->rc, RIG_TABLES_INSTALLED_SQL, 0, NULL, rig_deadline(rig_sync_timeout));
	installed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	st->res->queries++;
	if (!installed)
		return NIL;
	res = rig_conn_query(st->rc, RIG_TABLES_SQL, 0, NULL, rig_deadline(rig_sync_timeout));
	st->res->queries++;
	for (int i = 0; i < PQntuples(res); i++)
		names = lappend(names, pstrdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return names;
}

/*
 * One attempt at a common state: with no commit in flight here (the
 * commit gate held exclusively for the moment), open a REPEATABLE READ
 * transaction on the peer and take a snapshot here; true when both hold
 * the same log versions above upto (*snap: this node's snapshot, *version:
 * the last version both hold).  On false the peer's transaction is closed.
 */
static bool
rig_same_state(RigConn *rc, int64 upto, Snapshot *snap, int64 *version)
{
	char		p[32];
	const char *params[1] = {p};
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(upto)};
	PGresult   *res;
	bool		same;

	snprintf(p, sizeof(p), INT64_FORMAT, upto);
	/* commits wait while the gate is held: no longer than for a peer */
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	PQclear(rig_conn_query(rc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
						   rig_deadline(rig_sync_timeout)));
	res = rig_conn_query(rc, RIG_STATE_SQL, 1, params, rig_deadline(rig_sync_timeout));
	*snap = RegisterSnapshot(GetLatestSnapshot());
	UnlockRelationOid(rig_relid("commit_gate"), ExclusiveLock);

	PushActiveSnapshot(*snap);
	if (SPI_execute_with_args(RIG_STATE_SQL, 1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	PopActiveSnapshot();
	same = strcmp(PQgetvalue(res, 0, 0), SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)) == 0 &&
		strcmp(PQgetvalue(res, 0, 1), SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)) == 0;
	*version = strtoi64(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	if (!same)
	{
		PQclear(rig_conn_query(rc, "ROLLBACK", 0, NULL, rig_deadline(rig_sync_timeout)));
		UnregisterSnapshot(*snap);
	}
	return same;
}

/*
 * This node's bucket bounds for [lo, hi) (a list of keys); returns how
 * many rows the range holds here.
 */
static int
rig_bounds_local(RigTableState *st, int nkeys, char **lo, char **hi, List **bounds)
{
	Oid			types[4] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		args[4];
	char		nulls[4] = {' ', lo ? ' ' : 'n', hi ? ' ' : 'n', ' '};
	int64		cnt = 0;

	args[0] = CStringGetTextDatum(st->name);
	args[1] = lo ? rig_text_array(lo, nkeys) : (Datum) 0;
	args[2] = hi ? rig_text_array(hi, nkeys) : (Datum) 0;
	args[3] = Int32GetDatum(RIG_TABLE_FANOUT);
	*bounds = NIL;
	if (SPI_execute_with_args(RIG_TABLE_BOUNDS_SQL, 4, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not split table %s", st->name);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int			n;

		cnt = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		if (i > 0)
			*bounds = lappend(*bounds,
							  rig_text_array_values(DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)),
													nkeys, &n));
	}
	return (int) Min(cnt, INT_MAX);
}

/* Both nodes' hashes of the buckets of [lo, hi] split at bounds (zeroed by the caller). */
static void
rig_table_hashes(RigTableState *st, int nkeys, char **lo, char **hi, List *bounds,
				 RigTableBucket *here, RigTableBucket *there)
{
	int			nb = list_length(bounds);
	char	  **flat = palloc(sizeof(char *) * Max(nb * nkeys, 1));
	Oid			types[4] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[4];
	char		nulls[4] = {' ', lo ? ' ' : 'n', hi ? ' ' : 'n', ' '};
	const char *params[4];
	PGresult   *res;
	ListCell   *lc;
	int			k = 0;

	foreach(lc, bounds)
		for (int i = 0; i < nkeys; i++)
			flat[k++] = ((char **) lfirst(lc))[i];

	params[0] = st->name;
	params[1] = rig_array_literal(lo, nkeys);
	params[2] = rig_array_literal(hi, nkeys);
	params[3] = nb > 0 ? rig_array_literal(flat, k) : "{}";
	res = rig_conn_query_long(st->rc, RIG_TABLE_HASH_SQL, 4, params, 0);
	st->res->queries++;
	for (int i = 0; i < PQntuples(res); i++)
	{
		int64		b = strtoi64(PQgetvalue(res, i, 0), NULL, 10);

		if (b < 0 || b > nb)
			elog(ERROR, "peer returned bucket " INT64_FORMAT " of a table range", b);
		there[b].n = strtoi64(PQgetvalue(res, i, 1), NULL, 10);
		strlcpy(there[b].hash, PQgetvalue(res, i, 2), sizeof(there[b].hash));
	}
	PQclear(res);

	args[0] = CStringGetTextDatum(st->name);
	args[1] = lo ? rig_text_array(lo, nkeys) : (Datum) 0;
	args[2] = hi ? rig_text_array(hi, nkeys) : (Datum) 0;
	args[3] = rig_text_array(flat, k);
	if (SPI_execute_with_args(RIG_TABLE_HASH_SQL, 4, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not hash table %s", st->name);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		b = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

		if (b < 0 || b > nb)
			elog(ERROR, "rig_table_range_hashes returned bucket " INT64_FORMAT, b);
		here[b].n = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		strlcpy(here[b].hash, SPI_getvalue(tup, SPI_tuptable->tupdesc, 3), sizeof(here[b].hash));
	}
}

/*
 * [lo, hi) differs (here_n rows here, there_n on the peer): split it at
 * this node's keys and descend into the buckets that differ; a range
 * with at most one row here is reported.
 */
static void
rig_table_descend(RigTableState *st, int nkeys, char **lo, char **hi,
				  int64 here_n, int64 there_n)
{
	List	   *bounds;
	RigTableBucket here[RIG_TABLE_FANOUT + 1];
	RigTableBucket there[RIG_TABLE_FANOUT + 1];
	int			nb;

	CHECK_FOR_INTERRUPTS();
	if (st->res->truncated)
		return;
	(void) rig_bounds_local(st, nkeys, lo, hi, &bounds);
	if (bounds == NIL)
	{
		rig_add_table_diff(st, rig_range_text(lo, hi, nkeys),
						   there_n == 0 ? "missing on peer" :
						   here_n == 0 ? "extra on peer" : "differs");
		return;
	}
	nb = list_length(bounds);
	memset(here, 0, sizeof(here));
	memset(there, 0, sizeof(there));
	rig_table_hashes(st, nkeys, lo, hi, bounds, here, there);
	for (int b = 0; b <= nb; b++)
	{
		if (here[b].n == there[b].n && strcmp(here[b].hash, there[b].hash) == 0)
			continue;
		rig_table_descend(st, nkeys,
						  b == 0 ? lo : list_nth(bounds, b - 1),
						  b == nb ? hi : list_nth(bounds, b),
						  here[b].n, there[b].n);
	}
}

/* Compare one table registered on both nodes: one hash of each, then the descent. */
static void
rig_compare_table(RigTableState *st)
{
	RigTableBucket here[1];
	RigTableBucket there[1];
	RigTableKey key;
	RangeVar   *rv = makeRangeVarFromNameList(stringToQualifiedNameList(st->name));

	rig_table_key(RangeVarGetRelid(rv, AccessShareLock, false), &key);
	memset(here, 0, sizeof(here));
	memset(there, 0, sizeof(there));
	rig_table_hashes(st, key.nkeys, NULL, NULL, NIL, here, there);
	if (here[0].n == there[0].n && strcmp(here[0].hash, there[0].hash) == 0)
		return;
	rig_table_descend(st, key.nkeys, NULL, NULL, here[0].n, there[0].n);
}

/*
 * The comparison proper (in an SPI connection); the peer's transaction
 * is left open on an error.
 */
static void
rig_verify_tables_guts(RigTableState *st, int64 final_upto)
{
	RigTablesResult *res = st->res;
	List	   *here = rig_tables_local();
	List	   *there = rig_tables_remote(st);
	Snapshot	snap = NULL;
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	ListCell   *lc;

	if (here != NIL)
	{
		while (!(res->compared = rig_same_state(st->rc, final_upto, &snap, &res->version)) &&
			   GetCurrentTimestamp() < deadline)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 20, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	foreach(lc, here)
	{
		st->name = lfirst(lc);
		st->ndiffs = 0;
		if (!rig_name_in(there, st->name))
			rig_add_table_diff(st, NULL, "not registered on peer");
		else if (!res->compared)
			rig_add_table_diff(st, NULL, "not compared: the peer did not reach this node's state");
		else
		{
			PushActiveSnapshot(snap);
			rig_compare_table(st);
			PopActiveSnapshot();
		}
	}
	foreach(lc, there)
	{
		st->name = lfirst(lc);
		st->ndiffs = 0;
		if (!rig_name_in(here, st->name))
			rig_add_table_diff(st, NULL, "registered only on peer");
	}
	if (res->compared)
	{
		PQclear(rig_conn_query(st->rc, "ROLLBACK", 0, NULL, rig_deadline(rig_sync_timeout)));
		UnregisterSnapshot(snap);
	}
}

/*
 * Compare every registered table with the peer's, at one version both
 * hold (final_upto: a version up to which both logs are final and equal).
 * res (allocated by the caller) gets the version, whether a common state
 * was found, and the differences.
 */
void
rig_verify_tables(RigConn *rc, int64 final_upto, RigTablesResult *res)
{
	RigTableState st;

	memset(res, 0, sizeof(*res));
	memset(&st, 0, sizeof(st));
	st.rc = rc;
	st.cxt = CurrentMemoryContext;
	st.res = res;

	SPI_connect();
	PG_TRY();
	{
		rig_verify_tables_guts(&st, final_upto);
	}
	PG_CATCH();
	{
		/* the peer may be left inside our transaction */
		rig_conn_discard(rc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_finish();
}
