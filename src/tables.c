/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  State tables: the tables rig's handlers own (rig.tables), registering
 *	  them, and emptying them for a rebuild; tableguard.c's hooks let nothing
 *	  else change them.
 *
 * Each process caches the registered OIDs; a change of rig.tables sends a
 * relcache invalidation for it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tables.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "apply.h"
#include "catalog.h"
#include "settings.h"
#include "tables.h"

/* The registered tables, as of the last load (valid until invalidated) */
static Oid *rig_reg_oids = NULL;
static int	rig_reg_n = 0;
static int	rig_reg_cap = 0;
static bool rig_reg_valid = false;
static bool rig_tables_emptying = false;	/* rig_tables_truncate()'s TRUNCATE */
static bool rig_tables_ddl = false;	/* applying a rig.ddl record (sysrec.c) */
static RigTablesLoad rig_tables_loading = RIG_LOAD_NONE;	/* snapshot.c's load */
static uint64 rig_reg_invals = 0;
static Oid	rig_tables_relid = InvalidOid;

static void rig_tables_relcache_cb(Datum arg, Oid relid);
static void rig_tables_load(void);
static void rig_check_registrable(Relation rel);
static void rig_check_table_owner(Oid relid);
static void rig_check_immediate(List *relids, List *conrelids);
static bool rig_tables_truncate_triggers(List *relids);
static List *rig_tables_truncate_as(List *relids, Oid owner);

PG_FUNCTION_INFO_V1(rig_register_table);
PG_FUNCTION_INFO_V1(rig_unregister_table);

/* The cache's invalidation (tableguard.c installs the hooks). */
void
rig_tables_init(void)
{
	CacheRegisterRelcacheCallback(rig_tables_relcache_cb, (Datum) 0);
}

/*
 * Relcache callback: rig.tables (or everything) changed.  Before rig is
 * installed any relation may be the new rig.tables.
 */
static void
rig_tables_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || !OidIsValid(rig_tables_relid) || relid == rig_tables_relid)
	{
		rig_reg_valid = false;
		rig_reg_invals++;
	}
}

/*
 * Read rig.tables into the cache.  An invalidation that arrives while it
 * reads leaves the cache invalid, so the next check reads it again.
 */
static void
rig_tables_load(void)
{
	uint64		invals = rig_reg_invals;
	Oid			nsp;
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;

	rig_reg_n = 0;
	rig_tables_relid = InvalidOid;
	if (OidIsValid(get_extension_oid("rig", true)) &&
		OidIsValid(nsp = get_namespace_oid("rig", true)))
		rig_tables_relid = get_relname_relid("tables", nsp);
	if (OidIsValid(rig_tables_relid))
	{
		rel = table_open(rig_tables_relid, AccessShareLock);
		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

			if (isnull)
				continue;
			if (rig_reg_n == rig_reg_cap)
			{
				rig_reg_cap = Max(16, rig_reg_cap * 2);
				rig_reg_oids = rig_reg_oids == NULL ?
					MemoryContextAlloc(TopMemoryContext, rig_reg_cap * sizeof(Oid)) :
					repalloc(rig_reg_oids, rig_reg_cap * sizeof(Oid));
			}
			rig_reg_oids[rig_reg_n++] = DatumGetObjectId(d);
		}
		systable_endscan(scan);
		UnregisterSnapshot(snap);
		table_close(rel, AccessShareLock);
	}
	rig_reg_valid = (invals == rig_reg_invals);
}

/* Is this relation a registered state table? */
bool
rig_table_is_registered(Oid relid)
{
	if (!OidIsValid(relid) || !IsTransactionState())
		return false;
	if (!rig_reg_valid)
		rig_tables_load();
	for (int i = 0; i < rig_reg_n; i++)
		if (rig_reg_oids[i] == relid)
			return true;
	return false;
}

/* Is any table registered (in this database)? */
bool
rig_tables_any(void)
{
	if (!IsTransactionState())
		return false;
	if (!rig_reg_valid)
		rig_tables_load();
	return rig_reg_n > 0;
}

/* The registered tables' OIDs, in a fresh list. */
List *
rig_registered_tables(void)
{
	List	   *result = NIL;

	rig_reg_valid = false;		/* read them with a fresh snapshot */
	rig_tables_load();
	for (int i = 0; i < rig_reg_n; i++)
		result = lappend_oid(result, rig_reg_oids[i]);
	return result;
}

/* The first registered table in schema nsp (InvalidOid: none). */
Oid
rig_tables_in_schema(Oid nsp)
{
	if (!rig_tables_any())
		return InvalidOid;
	for (int i = 0; i < rig_reg_n; i++)
		if (get_rel_namespace(rig_reg_oids[i]) == nsp)
			return rig_reg_oids[i];
	return InvalidOid;
}

/* Is rig_tables_truncate() running its own TRUNCATE now? */
bool
rig_tables_emptying_now(void)
{
	return rig_tables_emptying;
}

/*
 * May this process change registered tables now (a handler, maintenance)?
 * Maintenance only as a superuser: rig.maintenance is PGC_SUSET, but a
 * superuser's GRANT SET ON PARAMETER, ALTER ROLE / DATABASE ... SET or a
 * SET ROLE after the SET would otherwise give it to any role.
 */
bool
rig_tables_allowed(void)
{
	return rig_in_handler() || (rig_maintenance && superuser());
}

/*
 * May this process change a registered table's definition now?  Also
 * while it applies a rig.ddl record: a schema change at a version of the
 * log, on every node (its DML, which rig_ddl refuses, is never allowed).
 */
bool
rig_tables_schema_allowed(void)
{
	return rig_tables_allowed() || rig_tables_ddl;
}

/*
 * sysrec.c: around the statements of a rig.ddl record (the caller resets
 * it on error too).
 */
void
rig_tables_allow_schema_change(bool allow)
{
	rig_tables_ddl = allow;
}

/*
 * snapshot.c: around the statement that loads a snapshot chunk's rows
 * (RIG_LOAD_ARMED), and RIG_LOAD_NONE after it (on error too).
 */
void
rig_tables_set_loading(RigTablesLoad state)
{
	rig_tables_loading = state;
}

/*
 * May a statement that writes start now?  While a snapshot chunk loads
 * (as the table's owner, with session_replication_role = replica) only
 * the load's own statement: the first to start.  Any other would be code
 * of the table's (a CHECK, a domain's check, an index expression, an
 * ENABLE ALWAYS trigger) writing with every other table's triggers and
 * foreign keys off, which PostgreSQL lets only superusers do.
 */
bool
rig_tables_write_ok_now(void)
{
	if (rig_tables_loading == RIG_LOAD_NONE)
		return true;
	if (rig_tables_loading == RIG_LOAD_ARMED)
	{
		rig_tables_loading = RIG_LOAD_RUNNING;
		return true;
	}
	return false;
}

/* Is a snapshot chunk's load statement running (tableguard.c's utility checks)? */
bool
rig_tables_loading_now(void)
{
	return rig_tables_loading == RIG_LOAD_RUNNING;
}

/*
 * Does any table of relids have a TRUNCATE trigger (its owner's code)?
 * Each is locked as the TRUNCATE will lock it, in the same order.
 */
static bool
rig_tables_truncate_triggers(List *relids)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, relids)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessExclusiveLock);

		found = rel->trigdesc != NULL && (rel->trigdesc->trig_truncate_before_statement ||
										  rel->trigdesc->trig_truncate_after_statement);
		table_close(rel, NoLock);
		if (found)
			break;
	}
	return found;
}

/*
 * One TRUNCATE of the tables of relids owned by owner (InvalidOid: all of
 * them, as the caller); returns the others.
 */
static List *
rig_tables_truncate_as(List *relids, Oid owner)
{
	List	   *rest = NIL;
	StringInfoData sql;
	ListCell   *lc;
	Oid			save_userid;
	int			save_sec;
	int			ret;
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "TRUNCATE TABLE ONLY ");
	foreach(lc, relids)
	{
		if (OidIsValid(owner) && rig_rel_owner(lfirst_oid(lc)) != owner)
			rest = lappend_oid(rest, lfirst_oid(lc));
		else
		{
			appendStringInfo(&sql, "%s%s", first ? "" : ", ", rig_table_name(lfirst_oid(lc)));
			first = false;
		}
	}
	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(owner))
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	ret = SPI_execute(sql.data, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not empty the registered tables");
	return rest;
}

/*
 * Empty every table of relids (rig_rebuild, which then applies the log
 * through the handlers again; a bootstrap starting again).  The caller
 * holds the tables locked and has checked who may rebuild.  A TRUNCATE
 * runs no code of the tables' owners but their TRUNCATE triggers (which
 * an owner may have made before registering the table, and may replace
 * at any time): without one, the tables go in one TRUNCATE as the caller;
 * with one, each owner's tables go in one TRUNCATE run as that owner, in
 * a security-restricted context, as PostgreSQL runs a table's code in
 * VACUUM or REINDEX, never with the rights of the superuser who rebuilds
 * (then a foreign key between two owners' tables makes PostgreSQL refuse,
 * 0A000).  Only the TRUNCATE itself is let through: what a trigger writes
 * to a registered table, or changes of its shape, are refused as anywhere.
 */
void
rig_tables_truncate(List *relids)
{
	SPI_connect();
	rig_tables_emptying = true;
	PG_TRY();
	{
		if (!rig_tables_truncate_triggers(relids))
			(void) rig_tables_truncate_as(relids, InvalidOid);
		else
		{
			/* one owner's tables at a time; each call returns the others' */
			List	   *others = relids;

			while (others != NIL)
				others = rig_tables_truncate_as(others, rig_rel_owner(linitial_oid(others)));
		}
	}
	PG_FINALLY();
	{
		rig_tables_emptying = false;
	}
	PG_END_TRY();
	SPI_finish();
}

/* schema.table, quoted as needed. */
char *
rig_table_name(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL)
		return psprintf("%u", relid);
	return quote_qualified_identifier(nsp, rel);
}

/*
 * Only what can be compared and rebuilt row by row: a permanent plain
 * table with a primary key, outside any inheritance tree, not typed, not
 * rig's own.
 */
static void
rig_check_registrable(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	char	   *name = rig_table_name(relid);

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a plain table", name),
				 errdetail("Only plain tables can be registered (not partitioned tables, views or foreign tables).")));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table %s is not a permanent table", name),
				 errdetail("An unlogged or temporary table loses rows the log still holds.")));
	if (IsCatalogRelationOid(relid) || RelationGetNamespace(rel) == rig_schema_oid())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table %s belongs to the system or to rig", name)));
	if (rel->rd_rel->relispartition || rel->rd_rel->relhassubclass || has_superclass(relid) ||
		OidIsValid(rel->rd_rel->reloftype))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table %s is part of an inheritance tree or a typed table", name),
				 errdetail("A registered table has no parent, no child and no type of its own: "
						   "changes to those would reach it around its handlers.")));
	if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table %s has no primary key", name),
				 errdetail("rig_verify_peer() compares registered tables by primary-key ranges."),
				 errhint("Add a primary key, then register it.")));
}

/*
 * A registered table has no deferrable constraint, its own or another
 * table's foreign key to it: such a check (and a constraint trigger's
 * code) runs when the transaction commits or when the client's SET
 * CONSTRAINTS says, outside the handler that wrote the rows, so the
 * primary (the client's session), its peers (the apply's session,
 * another grouping of ops in catch-up) and a rebuild could accept other
 * ops or store other rows.  PostgreSQL refuses deferrable constraints
 * where it needs a check to hold at once too (ON CONFLICT arbiters,
 * REPLICA IDENTITY indexes).
 */
static void
rig_check_immediate(List *relids, List *conrelids)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *conname = NULL;
	Oid			conrelid = InvalidOid;
	Oid			relid = InvalidOid;

	/* no index on confrelid: one scan, at registration or after a rig.ddl */
	rel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (!con->condeferrable)
			continue;
		if (conrelids != NIL && !list_member_oid(conrelids, con->conrelid))
			continue;
		if (list_member_oid(relids, con->conrelid))
			relid = con->conrelid;
		else if (OidIsValid(con->confrelid) && list_member_oid(relids, con->confrelid))
			relid = con->confrelid;
		else
			continue;
		conname = pstrdup(NameStr(con->conname));
		conrelid = con->conrelid;
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (conname == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("table %s has a deferrable constraint \"%s\"%s", rig_table_name(relid), conname,
					conrelid == relid ? "" : psprintf(" (on %s)", rig_table_name(conrelid))),
			 errdetail("A registered table's constraints are checked inside the handler that wrote "
					   "its rows: a deferrable one is checked at commit or when the client's SET "
					   "CONSTRAINTS says, so the primary, its peers and a rebuild could accept "
					   "other ops or store other rows."),
			 errhint("Make the constraint NOT DEFERRABLE (drop it and add it again without "
					 "DEFERRABLE, or ALTER TABLE ... ALTER CONSTRAINT ... NOT DEFERRABLE for a "
					 "foreign key), then register the table.")));
}

/*
 * sysrec.c, after a rig.ddl record's statements: no registered table got
 * a deferrable constraint (rig_check_immediate).
 */
void
rig_tables_check_immediate(void)
{
	if (rig_tables_any())
		rig_check_immediate(rig_registered_tables(), NIL);
}

/*
 * tableguard.c, after an ALTER TABLE outside rig_ddl: the constraints of
 * the altered tables (conrelids: the table and its inheritors) are not
 * deferrable where they are a registered table's or reference one.  Only
 * those: a table registered before the rule with a deferrable constraint
 * of its own does not stop every other ALTER TABLE in the database.
 */
void
rig_tables_check_immediate_of(List *conrelids)
{
	if (rig_tables_any())
		rig_check_immediate(rig_registered_tables(), conrelids);
}

/* A non-superuser registers or unregisters only tables it owns. */
static void
rig_check_table_owner(Oid relid)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to register or unregister it",
						rig_table_name(relid))));
}

/* SQL: make a table a state table of the handlers (this node only). */
Datum
rig_register_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	int			ret;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL")));
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	rig_check_table_owner(relid);
	/* no writer may be half-way through a statement on it */
	rel = table_open(relid, ShareRowExclusiveLock);
	rig_check_registrable(rel);
	rig_check_immediate(list_make1_oid(relid), NIL);
	table_close(rel, NoLock);

	values[0] = ObjectIdGetDatum(relid);
	SPI_connect();
	ret = rig_spi_as_owner("tables", "INSERT INTO rig.tables (relation) VALUES ($1) "
						   "ON CONFLICT (relation) DO NOTHING",
						   1, argtypes, values, NULL);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not register table: SPI error %d", ret);
	if (SPI_processed == 0)
		ereport(NOTICE,
				(errmsg("table %s is already registered", rig_table_name(relid))));
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("tables"));
	PG_RETURN_VOID();
}

/* SQL: let a table be changed outside the handlers again (this node only). */
Datum
rig_unregister_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	int			ret;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be NULL")));
	relid = PG_GETARG_OID(0);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		rig_check_table_owner(relid);
	else if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));

	values[0] = ObjectIdGetDatum(relid);
	SPI_connect();
	ret = rig_spi_as_owner("tables", "DELETE FROM rig.tables WHERE relation = $1",
						   1, argtypes, values, NULL);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not unregister table: SPI error %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s is not registered", rig_table_name(relid))));
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("tables"));
	PG_RETURN_VOID();
}
