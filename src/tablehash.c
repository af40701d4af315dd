/*-------------------------------------------------------------------------
 *
 * tablehash.c
 *	  The node-local side of comparing state tables: hashing a registered
 *	  table's rows by primary-key range, and choosing bounds that split a
 *	  range evenly (tablediff.c drives both nodes).
 *
 * Both SQL functions accept only registered tables, read them as the
 * table's owner in the caller's snapshot (SPI read-only: the comparing
 * node's registered snapshot, the peer's REPEATABLE READ transaction),
 * and build their query from the table's primary key: column names
 * quoted, key values as literals cast to the columns' types, ranges as
 * row comparisons on the key.  Their SET clauses (rig--0.1.sql) fix how
 * rows print, so both nodes hash the same text.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tablehash.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "tablehash.h"
#include "tables.h"

/* Buckets rig_table_key_bounds splits a range into by default */
#define RIG_TABLE_DEFAULT_BUCKETS	16

static Oid	rig_table_open_registered(text *name, RigTableKey *key);
static void rig_append_key(StringInfo buf, RigTableKey *key, char **vals);
static void rig_append_cols(StringInfo buf, RigTableKey *key, const char *prefix);
static void rig_append_range(StringInfo buf, RigTableKey *key, char **lo, char **hi);
static void rig_spi_as(Oid owner, const char *sql, int *ret);

PG_FUNCTION_INFO_V1(rig_table_range_hashes);
PG_FUNCTION_INFO_V1(rig_table_key_bounds);

/* Look up a table's primary key columns, their types and its owner. */
void
rig_table_key(Oid relid, RigTableKey *key)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pk = RelationGetPrimaryKeyIndex(rel);
	HeapTuple	tup;
	Form_pg_index idx;

	if (!OidIsValid(pk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("registered table %s has no primary key", RelationGetRelationName(rel))));
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", pk);
	idx = (Form_pg_index) GETSTRUCT(tup);
	key->relid = relid;
	key->owner = rel->rd_rel->relowner;
	key->relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  RelationGetRelationName(rel));
	key->nkeys = idx->indnkeyatts;
	key->cols = palloc(sizeof(char *) * key->nkeys);
	key->types = palloc(sizeof(char *) * key->nkeys);
	for (int i = 0; i < key->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), idx->indkey.values[i] - 1);

		key->cols[i] = pstrdup(quote_identifier(NameStr(att->attname)));
		key->types[i] = format_type_be_qualified(att->atttypid);
	}
	ReleaseSysCache(tup);
	table_close(rel, AccessShareLock);
}

/* The registered table a caller named (schema.table); throws if there is none. */
static Oid
rig_table_open_registered(text *name, RigTableKey *key)
{
	RangeVar   *rv = makeRangeVarFromNameList(textToQualifiedNameList(name));
	Oid			relid = RangeVarGetRelid(rv, AccessShareLock, true);

	if (!rig_table_is_registered(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s is not registered with rig on this node",
						text_to_cstring(name))));
	rig_table_key(relid, key);
	return relid;
}

/* The elements of a text[] (NULL: none); its length must be a multiple of expect. */
char **
rig_text_array_values(ArrayType *arr, int expect, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **vals;

	*n = 0;
	if (arr == NULL)
		return NULL;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	if (*n % expect != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a key needs %d values, got %d", expect, *n)));
	vals = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a primary key value must not be NULL")));
		vals[i] = TextDatumGetCString(elems[i]);
	}
	return vals;
}

/* "('v1'::t1, 'v2'::t2)" */
static void
rig_append_key(StringInfo buf, RigTableKey *key, char **vals)
{
	appendStringInfoChar(buf, '(');
	for (int i = 0; i < key->nkeys; i++)
		appendStringInfo(buf, "%s%s::%s", i > 0 ? ", " : "",
						 quote_literal_cstr(vals[i]), key->types[i]);
	appendStringInfoChar(buf, ')');
}

/* "(t.c1, t.c2)" */
static void
rig_append_cols(StringInfo buf, RigTableKey *key, const char *prefix)
{
	appendStringInfoChar(buf, '(');
	for (int i = 0; i < key->nkeys; i++)
		appendStringInfo(buf, "%s%s%s", i > 0 ? ", " : "", prefix, key->cols[i]);
	appendStringInfoChar(buf, ')');
}

/* " WHERE key >= lo AND key < hi" (either bound may be absent) */
static void
rig_append_range(StringInfo buf, RigTableKey *key, char **lo, char **hi)
{
	appendStringInfoString(buf, " WHERE true");
	if (lo != NULL)
	{
		appendStringInfoString(buf, " AND ");
		rig_append_cols(buf, key, "t.");
		appendStringInfoString(buf, " >= ");
		rig_append_key(buf, key, lo);
	}
	if (hi != NULL)
	{
		appendStringInfoString(buf, " AND ");
		rig_append_cols(buf, key, "t.");
		appendStringInfoString(buf, " < ");
		rig_append_key(buf, key, hi);
	}
}

/* Run a read-only query in the current snapshot as the table's owner. */
static void
rig_spi_as(Oid owner, const char *sql, int *ret)
{
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	*ret = SPI_execute(sql, true, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * SQL (on each node): hash a registered table's rows with keys in [lo, hi)
 * (NULL: unbounded) in buckets split at bounds (keys, flattened); the
 * same hash as the log's, of each row's text.  One row per bucket that
 * has rows (all of them: bucket 0 with n = 0 when bounds is empty).
 */
Datum
rig_table_range_hashes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RigTableKey key;
	StringInfoData sql;
	char	  **lo;
	char	  **hi;
	char	  **bounds;
	int			n;
	int			nbounds;
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL")));
	rig_table_open_registered(PG_GETARG_TEXT_PP(0), &key);
	lo = rig_text_array_values(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), key.nkeys, &n);
	hi = rig_text_array_values(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), key.nkeys, &n);
	bounds = rig_text_array_values(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3), key.nkeys, &n);
	nbounds = n / key.nkeys;

	initStringInfo(&sql);
	appendStringInfoString(&sql, nbounds > 0 ? "SELECT CASE" : "SELECT 0");
	for (int b = 0; b < nbounds; b++)
	{
		appendStringInfoString(&sql, " WHEN ");
		rig_append_cols(&sql, &key, "t.");
		appendStringInfoString(&sql, " < ");
		rig_append_key(&sql, &key, bounds + b * key.nkeys);
		appendStringInfo(&sql, " THEN %d", b);
	}
	if (nbounds > 0)
		appendStringInfo(&sql, " ELSE %d END", nbounds);
	appendStringInfo(&sql, ", count(*), "
					 "coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text "
					 "FROM ONLY %s t", key.relname);
	rig_append_range(&sql, &key, lo, hi);
	appendStringInfoString(&sql, nbounds > 0 ? " GROUP BY 1 ORDER BY 1" : "");

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	rig_spi_as(key.owner, sql.data, &ret);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not hash table %s: SPI error %d", key.relname, ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		bool		isnull;

		values[0] = SPI_getbinval(tup, desc, 1, &isnull);
		values[1] = SPI_getbinval(tup, desc, 2, &isnull);
		values[2] = CStringGetTextDatum(SPI_getvalue(tup, desc, 3));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * SQL (on the comparing node): keys of a registered table's rows in
 * [lo, hi) that split them into up to `buckets` even buckets; each row:
 * how many rows the range holds, and a key (the first row's, then the
 * bounds).
 */
Datum
rig_table_key_bounds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RigTableKey key;
	StringInfoData sql;
	char	  **lo;
	char	  **hi;
	int			n;
	int			buckets = PG_ARGISNULL(3) ? RIG_TABLE_DEFAULT_BUCKETS : Max(PG_GETARG_INT32(3), 1);
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL")));
	rig_table_open_registered(PG_GETARG_TEXT_PP(0), &key);
	lo = rig_text_array_values(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), key.nkeys, &n);
	hi = rig_text_array_values(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), key.nkeys, &n);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT s.cnt, ARRAY[");
	for (int i = 0; i < key.nkeys; i++)
		appendStringInfo(&sql, "%ss.%s::text", i > 0 ? ", " : "", key.cols[i]);
	appendStringInfoString(&sql, "] FROM (SELECT ");
	for (int i = 0; i < key.nkeys; i++)
		appendStringInfo(&sql, "t.%s, ", key.cols[i]);
	appendStringInfoString(&sql, "row_number() OVER (ORDER BY ");
	for (int i = 0; i < key.nkeys; i++)
		appendStringInfo(&sql, "%st.%s", i > 0 ? ", " : "", key.cols[i]);
	appendStringInfo(&sql, ") AS rn, count(*) OVER () AS cnt FROM ONLY %s t", key.relname);
	rig_append_range(&sql, &key, lo, hi);
	appendStringInfo(&sql, ") s WHERE (s.rn - 1) %% greatest(1, ceil(s.cnt / %d.0)::bigint) = 0 "
					 "ORDER BY s.rn", buckets);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	rig_spi_as(key.owner, sql.data, &ret);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read table %s: SPI error %d", key.relname, ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		Datum		values[2];
		bool		nulls[2] = {false, false};
		bool		isnull;

		values[0] = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		values[1] = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
