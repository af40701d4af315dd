/*-------------------------------------------------------------------------
 *
 * tableguard.c
 *	  The hooks that let nothing but rig change a registered state table
 *	  (the registry itself is tables.c).
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
 *	- COPY FROM, ALTER TABLE, renames (of the table or of its schema),
 *	  CREATE TRIGGER / RULE / POLICY / INDEX on it, a new child, partition
 *	  or foreign table inheriting it, a foreign key referencing it:
 *	  ProcessUtility_hook;
 *	- TRUNCATE (also by CASCADE) and DROP of the table, a column, an index,
 *	  a trigger, rule, policy, constraint or default of it (also by
 *	  CASCADE or DROP OWNED): object_access_hook;
 *	- a change of the row type of another table, view or composite type
 *	  that a registered table's column holds (ALTER TABLE / TYPE of a
 *	  column or attribute, CREATE OR REPLACE VIEW): ProcessUtility_hook and
 *	  object_access_hook;
 *	- what logical replication's workers write (a subscription's apply and
 *	  table sync, which bypass the executor's hooks): at their commit, from
 *	  pgstat's counts of the transaction, less what rig's handlers wrote in
 *	  it (apply.c's handler context hook).
 *
 * While a snapshot chunk is loaded into a registered table (snapshot.c,
 * with triggers off) no other statement writes anything, registered or
 * not: the same three hooks.
 *
 * A plan without result relations costs nothing; one with them costs a
 * lookup in tables.c's cached array (empty when nothing is registered).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tableguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/logicalworker.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "apply.h"
#include "tableguard.h"
#include "tables.h"

static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

/*
 * What a transaction of a logical replication worker changed in one
 * registered table, by pgstat's counts (kept while track_counts is on, the
 * default), over every subtransaction level
 */
typedef struct RigTableRows
{
	Oid			relid;
	int64		rows;			/* inserted + updated + deleted */
	bool		truncated;
} RigTableRows;

/*
 * In such a transaction: the counts when the handler context was entered
 * (a trigger the worker fires may call rig_do), and what handlers changed
 * in each registered table since the transaction began, which the
 * pre-commit check does not count as the worker's.  In
 * TopTransactionContext, forgotten at the transaction's end.
 */
static RigTableRows *rig_handler_start = NULL;
static int	rig_handler_start_n = 0;
static RigTableRows *rig_handler_wrote = NULL;
static int	rig_handler_wrote_n = 0;

static void rig_refuse(Oid relid, const char *what) pg_attribute_noreturn();
static void rig_refuse_in_load(Oid relid, const char *what) pg_attribute_noreturn();
static void rig_refuse_rv(RangeVar *rv, Node *stmt);
static void rig_refuse_fk_to(List *constraints, Node *stmt);
static void rig_check_alter(AlterTableStmt *stmt);
static void rig_check_create(CreateStmt *stmt);
static void rig_check_schema_rename(RenameStmt *stmt);
static bool rig_type_contains(Oid typid, Oid target, int depth);
static void rig_check_rowtype(Oid relid, const char *what);
static void rig_check_rowtype_rv(RangeVar *rv, const char *what);
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
static RigTableRows rig_table_rows(Oid relid);
static RigTableRows *rig_handler_rows(Oid relid);
static void rig_handler_rows_add(void);
static void rig_tables_handler_context(bool enter, bool ok);
static void rig_tables_xact_callback(XactEvent event, void *arg);

/* Install the hooks, chained to whatever was there before. */
void
rig_tableguard_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = rig_tables_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = rig_tables_utility;
	prev_object_access = object_access_hook;
	object_access_hook = rig_tables_object_access;
	RegisterXactCallback(rig_tables_xact_callback, NULL);
	rig_handler_context_hook = rig_tables_handler_context;
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

/*
 * The error for a write while a snapshot chunk loads with triggers off
 * (tables.c: rig_tables_write_ok_now), whatever the table.
 */
static void
rig_refuse_in_load(Oid relid, const char *what)
{
	char	   *name = OidIsValid(relid) ? rig_table_name(relid) : pstrdup("a table");

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on %s was refused: a snapshot is being loaded into a registered table", what, name),
			 errdetail("rig loads a snapshot's rows as the table's owner with session_replication_role = replica "
					   "(no trigger fires, no foreign key is checked); code the table runs meanwhile (a CHECK, "
					   "a domain's check, an index expression, an ENABLE ALWAYS trigger) may not write, or its "
					   "writes would skip the triggers and foreign keys of other tables."),
			 errhint("Keep writes out of the functions a registered table's constraints, indexes and "
					 "triggers call.")));
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

/*
 * Does a value of type typid hold a value of type target: the type itself,
 * or through a domain, an array, a range or a composite type's attribute?
 * (The walk PostgreSQL's find_composite_type_dependencies makes.)
 */
static bool
rig_type_contains(Oid typid, Oid target, int depth)
{
	TupleDesc	td;
	bool		found = false;

	if (!OidIsValid(typid) || depth > 32)
		return false;
	if (typid == target)
		return true;
	check_stack_depth();
	if (getBaseType(typid) != typid)
		return rig_type_contains(getBaseType(typid), target, depth + 1);
	if (OidIsValid(get_element_type(typid)))
		return rig_type_contains(get_element_type(typid), target, depth + 1);
	if (type_is_range(typid))
		return rig_type_contains(get_range_subtype(typid), target, depth + 1);
	if (type_is_multirange(typid))
		return rig_type_contains(get_multirange_range(typid), target, depth + 1);
	if (!OidIsValid(get_typ_typrelid(typid)) ||
		(td = lookup_rowtype_tupdesc_noerror(typid, -1, true)) == NULL)
		return false;
	for (int i = 0; i < td->natts && !found; i++)
		if (!TupleDescAttr(td, i)->attisdropped)
			found = rig_type_contains(TupleDescAttr(td, i)->atttypid, target, depth + 1);
	ReleaseTupleDesc(td);
	return found;
}

/*
 * A change of the columns of relid (a table or a composite type) whose row
 * type a registered table's column uses (also inside an array, a domain,
 * a range or another composite type): it changes every row of that table
 * (a dropped attribute's values vanish, an added one appears as NULL, a
 * renamed one reads under its new name in the handlers and to_jsonb), and
 * the owner of the other table or type need not own the registered one.
 */
static void
rig_check_rowtype(Oid relid, const char *what)
{
	Oid			rowtype;
	ListCell   *lc;

	if (!OidIsValid(relid) || !rig_tables_any() || rig_table_is_registered(relid) ||
		!OidIsValid(rowtype = get_rel_type_id(relid)))
		return;
	foreach(lc, rig_registered_tables())
	{
		Oid			reg = lfirst_oid(lc);

		if (rig_type_contains(get_rel_type_id(reg), rowtype, 0))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table %s is registered with rig: only its handlers may change it",
							rig_table_name(reg)),
					 errdetail("%s on %s was refused: a column of %s holds its row type, so the change "
							   "would change every row of %s around the log.",
							   what, rig_table_name(relid), rig_table_name(reg), rig_table_name(reg)),
					 errhint("Change it with rig_ddl() (every node at one version), or unregister %s first.",
							 rig_table_name(reg))));
	}
}

/*
 * rig_check_rowtype() of a statement's relation or composite type, by
 * name, and of its inheritors (ALTER TABLE and renames recurse into them).
 */
static void
rig_check_rowtype_rv(RangeVar *rv, const char *what)
{
	Oid			relid;
	ListCell   *lc;

	if (rv == NULL || !rig_tables_any() || !OidIsValid(relid = RangeVarGetRelid(rv, NoLock, true)))
		return;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		rig_check_rowtype(lfirst_oid(lc), what);
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

		/* a column of a table or type whose row type a registered table holds */
		if (cmd->subtype == AT_AddColumn || cmd->subtype == AT_AddColumnRecurse ||
			cmd->subtype == AT_AlterColumnType)
			rig_check_rowtype_rv(stmt->relation, GetCommandTagName(CreateCommandTag((Node *) stmt)));
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
	Oid			relid;

	if (stmt->subname == NULL || !rig_tables_any() ||
		!OidIsValid(nsp = get_namespace_oid(stmt->subname, true)) ||
		!OidIsValid(relid = rig_tables_in_schema(nsp)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("schema \"%s\" holds table %s, which is registered with rig: it cannot be renamed",
					stmt->subname, rig_table_name(relid)),
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
			if (((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN ||
				((RenameStmt *) parsetree)->renameType == OBJECT_ATTRIBUTE)
				rig_check_rowtype_rv(((RenameStmt *) parsetree)->relation,
									 GetCommandTagName(CreateCommandTag(parsetree)));
			break;
		case T_ViewStmt:
			/* CREATE OR REPLACE VIEW may add columns to its row type */
			if (((ViewStmt *) parsetree)->replace)
				rig_check_rowtype_rv(((ViewStmt *) parsetree)->view, "CREATE OR REPLACE VIEW");
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
	/* a column (attribute) of a table or type a registered table's rows hold */
	if (classId == RelationRelationId && subId != 0)
		rig_check_rowtype(relid, "DROP COLUMN");
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
		!rig_tables_write_ok_now())
	{
		RangeTblEntry *rte = rt_fetch(linitial_int(ps->resultRelations), ps->rtable);

		rig_refuse_in_load(rte->relid, rig_plan_action(ps, rte));
	}
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
	/* a snapshot load runs in the apply context: checked whatever the above */
	if (IsA(pstmt->utilityStmt, CopyStmt) && ((CopyStmt *) pstmt->utilityStmt)->is_from &&
		rig_tables_loading_now())
	{
		RangeVar   *rv = ((CopyStmt *) pstmt->utilityStmt)->relation;

		rig_refuse_in_load(rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid, "COPY FROM");
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/*
	 * ALTER TABLE of another table may make its foreign key to a registered
	 * table DEFERRABLE (ALTER CONSTRAINT names no referenced table, so the
	 * checks above cannot see it): look at the result, as after a rig.ddl.
	 */
	if (IsA(pstmt->utilityStmt, AlterTableStmt) && rig_tables_any())
	{
		RangeVar   *rv = ((AlterTableStmt *) pstmt->utilityStmt)->relation;
		Oid			relid = rv != NULL ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;

		if (OidIsValid(relid))
		{
			CommandCounterIncrement();
			rig_tables_check_immediate_of(find_all_inheritors(relid, NoLock, NULL));
		}
	}
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
		if (!rig_tables_allowed() && !rig_tables_emptying_now() && rig_table_is_registered(objectId))
			rig_refuse(objectId, "TRUNCATE");
		if (rig_tables_loading_now())
			rig_refuse_in_load(objectId, "TRUNCATE");
	}
	else if (access == OAT_DROP)
		rig_check_drop(classId, objectId, subId);
}

/* This transaction's changes of relid so far, by pgstat's counts. */
static RigTableRows
rig_table_rows(Oid relid)
{
	RigTableRows r = {relid, 0, false};
	PgStat_TableStatus *counts = find_tabstat_entry(relid);

	for (PgStat_TableXactStatus *x = counts ? counts->trans : NULL; x != NULL; x = x->upper)
	{
		r.rows += x->tuples_inserted + x->tuples_updated + x->tuples_deleted;
		r.truncated |= x->truncdropped;
	}
	return r;
}

/* What handlers changed in relid in this transaction (NULL: nothing). */
static RigTableRows *
rig_handler_rows(Oid relid)
{
	for (int i = 0; i < rig_handler_wrote_n; i++)
		if (rig_handler_wrote[i].relid == relid)
			return &rig_handler_wrote[i];
	return NULL;
}

/* Add what the handler that is leaving changed to what handlers wrote. */
static void
rig_handler_rows_add(void)
{
	/* the first handler's tables, with nothing written yet */
	if (rig_handler_wrote == NULL)
	{
		rig_handler_wrote = MemoryContextAlloc(TopTransactionContext,
											   sizeof(RigTableRows) * rig_handler_start_n);
		for (int i = 0; i < rig_handler_start_n; i++)
			rig_handler_wrote[i] = (RigTableRows) {rig_handler_start[i].relid, 0, false};
		rig_handler_wrote_n = rig_handler_start_n;
	}
	for (int i = 0; i < rig_handler_start_n; i++)
	{
		RigTableRows now = rig_table_rows(rig_handler_start[i].relid);
		RigTableRows *mine = rig_handler_rows(now.relid);

		if (mine == NULL)
		{
			rig_handler_wrote = repalloc(rig_handler_wrote,
										 sizeof(RigTableRows) * (rig_handler_wrote_n + 1));
			mine = &rig_handler_wrote[rig_handler_wrote_n++];
			*mine = (RigTableRows) {now.relid, 0, false};
		}
		mine->rows += Max(now.rows - rig_handler_start[i].rows, 0);
		mine->truncated |= now.truncated && !rig_handler_start[i].truncated;
	}
}

/*
 * rig_handler_context_hook: in a logical replication worker, note what
 * the registered tables' counts are when a handler starts, and what it
 * changed when it ends without an error (after one, its writes are undone
 * with its (sub)transaction, and nothing may read catalogs).
 */
static void
rig_tables_handler_context(bool enter, bool ok)
{
	List	   *tables;
	ListCell   *lc;

	if (!IsLogicalWorker())
		return;
	if (!enter)
	{
		if (ok && rig_handler_start != NULL)
			rig_handler_rows_add();
		if (rig_handler_start != NULL)
			pfree(rig_handler_start);
		rig_handler_start = NULL;
		return;
	}
	rig_handler_start = NULL;
	if (!rig_tables_any())
		return;
	tables = rig_registered_tables();
	rig_handler_start = MemoryContextAlloc(TopTransactionContext,
										   sizeof(RigTableRows) * Max(list_length(tables), 1));
	rig_handler_start_n = 0;
	foreach(lc, tables)
		rig_handler_start[rig_handler_start_n++] = rig_table_rows(lfirst_oid(lc));
}

/*
 * Logical replication's workers write a subscriber's tables without the
 * executor's hooks (the apply worker builds its own EState, the table
 * sync calls COPY's code directly), so a subscription to a publication
 * that carries a table of a registered one's name would change it around
 * the log, on this node only.  Refuse their transaction when it commits
 * or prepares if it changed a registered table: pgstat's counts of the
 * transaction say which, less what rig's handlers changed in it (a trigger
 * the worker fires may call rig_do); with track_counts off (a superuser's
 * ALTER ROLE / DATABASE ... SET reaches the worker) nothing would say it,
 * so every such transaction is refused.
 */
static void
rig_tables_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
	{
		/* the transaction ended (or was prepared): its memory is gone */
		rig_handler_start = rig_handler_wrote = NULL;
		rig_handler_start_n = rig_handler_wrote_n = 0;
		return;
	}
	if (!IsLogicalWorker() || rig_tables_allowed() || !rig_tables_any())
		return;
	/* without counts a write goes unseen (ALTER ROLE / DATABASE ... SET track_counts) */
	if (!pgstat_track_counts)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("logical replication into a database with tables registered with rig needs track_counts = on"),
				 errdetail("rig tells whether a logical replication worker changed a registered table from "
						   "pgstat's counts of its transaction, which track_counts = off does not keep."),
				 errhint("Reset track_counts for the subscription's owner and database "
						 "(ALTER ROLE / ALTER DATABASE ... RESET track_counts), or disable the subscription.")));
	foreach(lc, rig_registered_tables())
	{
		RigTableRows now = rig_table_rows(lfirst_oid(lc));
		RigTableRows *mine = rig_handler_rows(now.relid);

		if (now.rows > (mine ? mine->rows : 0) || (now.truncated && !(mine && mine->truncated)))
		{
			char	   *name = rig_table_name(lfirst_oid(lc));

			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table %s is registered with rig: only its handlers may change it", name),
					 errdetail("A change of %s by logical replication was refused: a registered table "
							   "changes only through rig_do() (or a peer applying its primary's log).", name),
					 errhint("Leave the table out of the publications this node subscribes to, "
							 "or disable the subscription.")));
		}
	}
}
