/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  State tables: the tables rig's handlers own (rig.tables), and the
 *	  hooks that let nothing else change them.
 *
 * A registered table changes only through the log: inside a handler that
 * rig_do() or a peer's apply (rig_apply_remote, catch-up) is running, or
 * in a superuser's session with rig.maintenance = on; its definition also
 * while a rig.ddl record is applied (rig_ddl, sysrec.c).  Everything else is
 * refused, for every role, the table's owner and superusers included:
 *
 *	- DML of any kind, from any depth (functions, triggers, rules, foreign
 *	  key actions, writable CTEs, prepared statements): ExecutorStart_hook
 *	  checks the plan's result relations;
 *	- COPY FROM, ALTER TABLE, renames, CREATE TRIGGER / RULE / POLICY /
 *	  INDEX on it, a new child or partition of it, a foreign key
 *	  referencing it: ProcessUtility_hook;
 *	- TRUNCATE (also by CASCADE) and DROP of the table, a column, an index,
 *	  a trigger, rule, policy, constraint or default of it (also by
 *	  CASCADE or DROP OWNED): object_access_hook.
 *
 * Each process caches the registered OIDs; a change of rig.tables sends a
 * relcache invalidation for it.  A plan without result relations costs
 * nothing; one with them costs a lookup in the cached array (empty when
 * nothing is registered).
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
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
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
static uint64 rig_reg_invals = 0;
static Oid	rig_tables_relid = InvalidOid;

static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

static void rig_tables_relcache_cb(Datum arg, Oid relid);
static void rig_tables_load(void);
static bool rig_tables_any(void);
static bool rig_tables_allowed(void);
static bool rig_tables_schema_allowed(void);
static char *rig_table_name(Oid relid);
static void rig_refuse(Oid relid, const char *what) pg_attribute_noreturn();
static void rig_refuse_rv(RangeVar *rv, Node *stmt);
static void rig_refuse_fk_to(List *constraints, Node *stmt);
static void rig_check_alter(AlterTableStmt *stmt);
static void rig_check_create(CreateStmt *stmt);
static void rig_check_schema_rename(RenameStmt *stmt);
static void rig_check_utility(Node *parsetree);
static Oid	rig_owning_relation(Oid classId, Oid objectId);
static void rig_check_drop(Oid classId, Oid objectId, int subId);
static void rig_tables_executor_start(QueryDesc *queryDesc, int eflags);
static const char *rig_plan_action(PlannedStmt *ps, RangeTblEntry *rte);
static void rig_tables_utility(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc);
static void rig_tables_object_access(ObjectAccessType access, Oid classId,
									 Oid objectId, int subId, void *arg);
static void rig_check_registrable(Relation rel);
static void rig_check_table_owner(Oid relid);
static bool rig_tables_truncate_triggers(List *relids);
static List *rig_tables_truncate_as(List *relids, Oid owner);

PG_FUNCTION_INFO_V1(rig_register_table);
PG_FUNCTION_INFO_V1(rig_unregister_table);

/* Install the hooks (chained) and the cache's invalidation. */
void
rig_tables_init(void)
{
	CacheRegisterRelcacheCallback(rig_tables_relcache_cb, (Datum) 0);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = rig_tables_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = rig_tables_utility;
	prev_object_access = object_access_hook;
	object_access_hook = rig_tables_object_access;
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
static bool
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

/* May this process change registered tables now (a handler, maintenance)? */
static bool
rig_tables_allowed(void)
{
	return rig_in_handler() || rig_maintenance;
}

/*
 * May this process change a registered table's definition now?  Also
 * while it applies a rig.ddl record: a schema change at a version of the
 * log, on every node (its DML, which rig_ddl refuses, is never allowed).
 */
static bool
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
			List	   *todo = list_copy(relids);

			while (todo != NIL)
				todo = rig_tables_truncate_as(todo, rig_rel_owner(linitial_oid(todo)));
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
static char *
rig_table_name(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL)
		return psprintf("%u", relid);
	return quote_qualified_identifier(nsp, rel);
}

/* The error every refused change gets. */
static void
rig_refuse(Oid relid, const char *what)
{
	char	   *name = rig_table_name(relid);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("table %s is registered with rig: only its handlers may change it", name),
			 errdetail("%s on %s was refused: a registered table changes only through rig_do() "
					   "(or a peer applying its primary's log), for every role.", what, name),
			 errhint("Change it with rig_do(). For a repair a superuser may SET rig.maintenance = on "
					 "(what it changes is neither logged nor replicated), or rig_unregister_table() it.")));
}

/* Refuse if a statement names a registered table. */
static void
rig_refuse_rv(RangeVar *rv, Node *stmt)
{
	Oid			relid;

	if (rv == NULL || !rig_tables_any())
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (rig_table_is_registered(relid))
		rig_refuse(relid, GetCommandTagName(CreateCommandTag(stmt)));
}

/*
 * Refuse a foreign key that references a registered table: its triggers
 * on that table would make a handler's writes fail or succeed by another
 * table's contents, which are not in the log.
 */
static void
rig_refuse_fk_to(List *constraints, Node *stmt)
{
	ListCell   *lc;

	foreach(lc, constraints)
	{
		Node	   *n = lfirst(lc);

		if (IsA(n, Constraint) && ((Constraint *) n)->contype == CONSTR_FOREIGN)
			rig_refuse_rv(((Constraint *) n)->pktable, stmt);
		else if (IsA(n, ColumnDef))
			rig_refuse_fk_to(((ColumnDef *) n)->constraints, stmt);
	}
}

/* ALTER TABLE of a registered table, or one that would tie another to it. */
static void
rig_check_alter(AlterTableStmt *stmt)
{
	ListCell   *lc;

	rig_refuse_rv(stmt->relation, (Node *) stmt);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (cmd->def == NULL)
			continue;
		if (cmd->subtype == AT_AttachPartition && IsA(cmd->def, PartitionCmd))
			rig_refuse_rv(((PartitionCmd *) cmd->def)->name, (Node *) stmt);
		else if (cmd->subtype == AT_AddInherit && IsA(cmd->def, RangeVar))
			rig_refuse_rv((RangeVar *) cmd->def, (Node *) stmt);
		else
			rig_refuse_fk_to(list_make1(cmd->def), (Node *) stmt);
	}
}

/* CREATE TABLE: no child or partition of a registered table, no foreign key to it. */
static void
rig_check_create(CreateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->inhRelations)
		rig_refuse_rv(lfirst(lc), (Node *) stmt);
	rig_refuse_fk_to(stmt->tableElts, (Node *) stmt);
	rig_refuse_fk_to(stmt->constraints, (Node *) stmt);
}

/*
 * ALTER SCHEMA ... RENAME of a schema that holds a registered table: the
 * handlers name their tables by schema, so they would write a table of
 * the old name (made after the rename, not registered) or fail, and the
 * registered table would miss ops the log holds.  A rename through
 * rig_ddl (every node at one version) is let through by the caller.
 */
static void
rig_check_schema_rename(RenameStmt *stmt)
{
	Oid			nsp;

	if (stmt->subname == NULL || !rig_tables_any() ||
		!OidIsValid(nsp = get_namespace_oid(stmt->subname, true)))
		return;
	for (int i = 0; i < rig_reg_n; i++)
		if (get_rel_namespace(rig_reg_oids[i]) == nsp)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("schema \"%s\" holds table %s, which is registered with rig: it cannot be renamed",
							stmt->subname, rig_table_name(rig_reg_oids[i])),
					 errdetail("The handlers name their tables by schema: after a rename they would write "
							   "another table of the old name, or none, around the registered one."),
					 errhint("Rename it with rig_ddl() (every node at one version), or unregister its tables first.")));
}

/* The utility statements that could change a registered table's data or shape. */
static void
rig_check_utility(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			rig_check_alter((AlterTableStmt *) parsetree);
			break;
		case T_CreateStmt:
			rig_check_create((CreateStmt *) parsetree);
			break;
		case T_CreateForeignTableStmt:
			rig_check_create(&((CreateForeignTableStmt *) parsetree)->base);
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_SCHEMA)
				rig_check_schema_rename((RenameStmt *) parsetree);
			else
				rig_refuse_rv(((RenameStmt *) parsetree)->relation, parsetree);
			break;
		case T_AlterObjectSchemaStmt:
			rig_refuse_rv(((AlterObjectSchemaStmt *) parsetree)->relation, parsetree);
			break;
		case T_CreateTrigStmt:
			rig_refuse_rv(((CreateTrigStmt *) parsetree)->relation, parsetree);
			break;
		case T_RuleStmt:
			rig_refuse_rv(((RuleStmt *) parsetree)->relation, parsetree);
			break;
		case T_CreatePolicyStmt:
			rig_refuse_rv(((CreatePolicyStmt *) parsetree)->table, parsetree);
			break;
		case T_AlterPolicyStmt:
			rig_refuse_rv(((AlterPolicyStmt *) parsetree)->table, parsetree);
			break;
		case T_IndexStmt:
			rig_refuse_rv(((IndexStmt *) parsetree)->relation, parsetree);
			break;
		case T_CopyStmt:
			if (((CopyStmt *) parsetree)->is_from)
				rig_refuse_rv(((CopyStmt *) parsetree)->relation, parsetree);
			break;
		default:
			break;
	}
}

/*
 * The table a trigger, rule, policy, constraint or default belongs to.
 * Read through each catalog's oid index: PostgreSQL 15's object property
 * table (behind get_catalog_object_by_oid) does not know pg_attrdef.
 */
static Oid
rig_owning_relation(Oid classId, Oid objectId)
{
	HeapTuple	tup;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	Oid			relid = InvalidOid;
	Oid			indexoid;
	AttrNumber	oidattnum;
	AttrNumber	attnum;
	bool		isnull;
	Datum		d;

	switch (classId)
	{
		case TriggerRelationId:
			indexoid = TriggerOidIndexId;
			oidattnum = Anum_pg_trigger_oid;
			attnum = Anum_pg_trigger_tgrelid;
			break;
		case RewriteRelationId:
			indexoid = RewriteOidIndexId;
			oidattnum = Anum_pg_rewrite_oid;
			attnum = Anum_pg_rewrite_ev_class;
			break;
		case PolicyRelationId:
			indexoid = PolicyOidIndexId;
			oidattnum = Anum_pg_policy_oid;
			attnum = Anum_pg_policy_polrelid;
			break;
		case ConstraintRelationId:
			indexoid = ConstraintOidIndexId;
			oidattnum = Anum_pg_constraint_oid;
			attnum = Anum_pg_constraint_conrelid;
			break;
		case AttrDefaultRelationId:
			indexoid = AttrDefaultOidIndexId;
			oidattnum = Anum_pg_attrdef_oid;
			attnum = Anum_pg_attrdef_adrelid;
			break;
		default:
			return InvalidOid;
	}
	rel = table_open(classId, AccessShareLock);
	ScanKeyInit(&key, oidattnum, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
	scan = systable_beginscan(rel, indexoid, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		/* a foreign key's triggers on the referenced table go with it */
		if (classId == TriggerRelationId && ((Form_pg_trigger) GETSTRUCT(tup))->tgisinternal)
			relid = InvalidOid;
		else
		{
			d = heap_getattr(tup, attnum, RelationGetDescr(rel), &isnull);
			relid = isnull ? InvalidOid : DatumGetObjectId(d);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return relid;
}

/*
 * DROP (direct, by CASCADE or DROP OWNED) of a registered table is always
 * refused: unregister it first.  Its columns, indexes, triggers, rules,
 * policies, constraints and defaults go only where it may be changed.
 */
static void
rig_check_drop(Oid classId, Oid objectId, int subId)
{
	Oid			relid;

	if (classId == RelationRelationId && subId == 0 && rig_table_is_registered(objectId))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop table %s because it is registered with rig",
						rig_table_name(objectId)),
				 errhint("Unregister it first with rig_unregister_table('%s').",
						 rig_table_name(objectId))));
	if (rig_tables_schema_allowed() || !rig_tables_any())
		return;
	if (classId == RelationRelationId)
	{
		if (subId != 0)
			relid = objectId;
		else if (get_rel_relkind(objectId) == RELKIND_INDEX)
			relid = IndexGetRelation(objectId, true);
		else
			return;
	}
	else
		relid = rig_owning_relation(classId, objectId);
	if (rig_table_is_registered(relid))
		rig_refuse(relid, "DROP");
}

/*
 * What a plan does to one of its result relations, for rig_refuse(): its
 * statement's tag, or, for a SELECT whose WITH query writes, that write.
 */
static const char *
rig_plan_action(PlannedStmt *ps, RangeTblEntry *rte)
{
	if (ps->commandType != CMD_SELECT)
		return GetCommandTagName(CreateCommandTag((Node *) ps));
	if (rte->requiredPerms & ACL_INSERT)
		return "INSERT (in a WITH query)";
	if (rte->requiredPerms & ACL_UPDATE)
		return "UPDATE (in a WITH query)";
	if (rte->requiredPerms & ACL_DELETE)
		return "DELETE (in a WITH query)";
	return "a WITH query";
}

/* ExecutorStart_hook: no plan writes a registered table outside a handler. */
static void
rig_tables_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *ps = queryDesc->plannedstmt;

	if (ps->resultRelations != NIL && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		!rig_tables_allowed())
	{
		ListCell   *lc;

		foreach(lc, ps->resultRelations)
		{
			RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

			if (rig_table_is_registered(rte->relid))
				rig_refuse(rte->relid, rig_plan_action(ps, rte));
		}
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* ProcessUtility_hook: DDL and COPY FROM on registered tables. */
static void
rig_tables_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	if (!rig_tables_schema_allowed())
		rig_check_utility(pstmt->utilityStmt);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* object_access_hook: TRUNCATE and DROP, however they were reached. */
static void
rig_tables_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access == OAT_TRUNCATE)
	{
		/*
		 * rig_tables_truncate() lets its own TRUNCATE through and nothing
		 * else: a TRUNCATE trigger it fires writes nothing registered.
		 */
		if (!rig_tables_allowed() && !rig_tables_emptying && rig_table_is_registered(objectId))
			rig_refuse(objectId, "TRUNCATE");
	}
	else if (access == OAT_DROP)
		rig_check_drop(classId, objectId, subId);
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
