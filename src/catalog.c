/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  rig's own schema and relations: cached OIDs, owners, the helpers that
 *	  write them as their owner, and the check of the names stored in them.
 *
 * rig_do() touches rig.log, rig.version_seq and rig.node on every call;
 * looking their names up each time would cost syscache probes on the hot
 * path.  The OIDs are cached per process and forgotten when any of those
 * relations is invalidated (for instance by DROP EXTENSION).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "utils/rel.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "catalog/indexing.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "settings.h"

#define RIG_SCHEMA_NAME "rig"
#define RIG_MAX_CACHED_RELS 16

typedef struct RigRelEntry
{
	const char *name;			/* points to a string literal */
	Oid			relid;
} RigRelEntry;

static Oid	rig_schema = InvalidOid;
static RigRelEntry rig_rels[RIG_MAX_CACHED_RELS];
static int	rig_nrels = 0;

static void rig_catalog_invalidate(Datum arg, Oid relid);
static int	rig_spi_as(Oid owner, SPIPlanPtr *kept, bool generic, const char *sql,
					   int nargs, Oid *types, Datum *values, const char *nulls,
					   bool read_only);

PG_FUNCTION_INFO_V1(rig_invalidate_caches);

/* Forget cached OIDs whenever one of rig's relations changes. */
void
rig_catalog_init(void)
{
	CacheRegisterRelcacheCallback(rig_catalog_invalidate, (Datum) 0);
}

/* Relcache callback: drop everything if the invalidated relation is ours. */
static void
rig_catalog_invalidate(Datum arg, Oid relid)
{
	bool		ours = !OidIsValid(relid);

	for (int i = 0; i < rig_nrels && !ours; i++)
		ours = (rig_rels[i].relid == relid);
	if (ours)
	{
		rig_schema = InvalidOid;
		rig_nrels = 0;
	}
}

/* OID of schema rig; a clear error when the extension is not installed. */
Oid
rig_schema_oid(void)
{
	if (!OidIsValid(rig_schema))
	{
		rig_schema = get_namespace_oid(RIG_SCHEMA_NAME, true);
		if (!OidIsValid(rig_schema))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_SCHEMA),
					 errmsg("schema \"rig\" does not exist"),
					 errhint("Run CREATE EXTENSION rig in database \"%s\".",
							 rig_database)));
	}
	return rig_schema;
}

/* OID of relation rig.<relname>, which the install script created. */
Oid
rig_relid(const char *relname)
{
	Oid			relid;

	for (int i = 0; i < rig_nrels; i++)
		if (strcmp(rig_rels[i].name, relname) == 0)
			return rig_rels[i].relid;

	relid = get_relname_relid(relname, rig_schema_oid());
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rig.%s\" does not exist", relname),
				 errhint("The rig extension is damaged: reinstall it.")));
	if (rig_nrels < RIG_MAX_CACHED_RELS)
	{
		rig_rels[rig_nrels].name = relname;
		rig_rels[rig_nrels].relid = relid;
		rig_nrels++;
	}
	return relid;
}

/* Owner of a relation. */
Oid
rig_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Insert one row into rig.<relname> directly (heap tuple plus its index
 * entries): the callers' roles hold no privilege on rig's tables, and the
 * write path stays free of executor set-up.  rig's tables written this way
 * have plain btree indexes only, which is what the catalog insert helper
 * supports; it checks uniqueness as the executor would.
 */
void
rig_insert_row(const char *relname, Datum *values, bool *nulls)
{
	Relation	rel = table_open(rig_relid(relname), RowExclusiveLock);
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);

	CatalogTupleInsert(rel, tup);
	heap_freetuple(tup);
	table_close(rel, RowExclusiveLock);
}

/*
 * Run one statement, inside the caller's SPI connection, as role owner:
 * from the kept plan *kept (rig_spi_kept) when given, else from a generic
 * plan when generic, else with SPI_execute_with_args.  Returns SPI's code.
 * The statement's operators and functions are found with search_path
 * pg_catalog, pg_temp, as in a SECURITY DEFINER function: the caller's
 * path could put an "=" of its own first, which would then run as owner.
 */
static int
rig_spi_as(Oid owner, SPIPlanPtr *kept, bool generic, const char *sql, int nargs,
		   Oid *types, Datum *values, const char *nulls, bool read_only)
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	int			ret;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (kept != NULL)
		ret = rig_spi_kept(kept, sql, nargs, types, values, nulls, read_only, 0);
	else if (generic)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		ret = SPI_execute_plan(plan, values, nulls, read_only, 0);
		SPI_freeplan(plan);
	}
	else
		ret = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	AtEOXact_GUC(true, save_nestlevel);
	return ret;
}

/*
 * Run one statement on rig.<relname>, inside the caller's SPI connection,
 * as the table's owner: EXECUTE on the rig function that calls this is the
 * gate, its caller holds no privilege on the table.  Returns SPI's code.
 */
int
rig_spi_as_owner(const char *relname, const char *sql, int nargs, Oid *types,
				 Datum *values, const char *nulls)
{
	return rig_spi_as(rig_rel_owner(rig_relid(relname)), NULL, false, sql, nargs,
					  types, values, nulls, false);
}

/* Run one statement as role owner, read-only in the active snapshot or not. */
int
rig_spi_as_role(Oid owner, const char *sql, int nargs, Oid *types, Datum *values,
				bool read_only)
{
	return rig_spi_as(owner, NULL, false, sql, nargs, types, values, NULL, read_only);
}

/*
 * Run a statement from a plan kept for the session, prepared at its first
 * use: the statements on the path of every transaction across nodes are
 * not parsed and planned again each time.  Returns SPI's code.
 */
int
rig_spi_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, bool read_only, long count)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return SPI_execute_plan(*plan, values, nulls, read_only, count);
}

/* rig_spi_as_owner from a kept plan (see rig_spi_kept). */
int
rig_spi_kept_as_owner(const char *relname, SPIPlanPtr *plan, const char *sql,
					  int nargs, Oid *types, Datum *values, const char *nulls)
{
	return rig_spi_as(rig_rel_owner(rig_relid(relname)), plan, false, sql, nargs,
					  types, values, nulls, false);
}

/*
 * Run one statement as role owner with a plan that keeps its parameters as
 * parameters: SPI_execute_with_args folds them into constants, which the
 * planner copies (and evaluates) at each step, so a statement given a
 * snapshot chunk (megabytes of rows) spent most of its time planning.
 * Returns SPI's code.
 */
int
rig_spi_generic_as(Oid owner, const char *sql, int nargs, Oid *types, Datum *values)
{
	return rig_spi_as(owner, NULL, true, sql, nargs, types, values, NULL, false);
}

/* Throw unless name is a valid rig identifier. */
void
rig_check_identifier(const char *what, const char *name)
{
	if (!rig_identifier_ok(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", what, rig_name_for_message(name)),
				 errdetail("A %s is 1 to %d characters: letters, digits and _ . - : /",
						   what, RIG_MAX_NAME_LEN)));
}

/* Trigger: a rig table changed; every session drops what it cached of it. */
Datum
rig_invalidate_caches(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "rig_invalidate_caches: not called by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
