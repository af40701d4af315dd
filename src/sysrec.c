/*-------------------------------------------------------------------------
 *
 * sysrec.c
 *	  rig's own log records: handler and schema changes (rig.register,
 *	  rig.unregister, rig.ddl), what they hold and how a node applies one.
 *
 * A handler or schema change is a row of rig.log like an op, with a
 * reserved method (RIG_SYSTEM_METHOD_PREFIX) and its details in data:
 *   rig.register    {"method", "apply", "validate", "resources"}: the
 *                   functions as schema-qualified signatures (regprocedure
 *                   text; validate and resources may be null), resolved by
 *                   signature on each node;
 *   rig.unregister  {"method"};
 *   rig.ddl         {"sql", "search_path", "timezone", "datestyle",
 *                   "intervalstyle", "lc_monetary", "timezone_abbreviations"}:
 *                   the statements and the settings they ran under on the
 *                   primary (a record without one leaves it as it is).
 * So followers, catch-up, rig_log_since, verification and compaction treat
 * it as any record; only applying it differs.  It runs under the barrier
 * (locks.c) and rig.ddl_timeout, in a security-restricted context: on the
 * primary as the caller, on a peer (and wherever a record is applied that
 * this node did not write) as the role the node's administrator named in
 * rig.ddl_role, with the checks a call by that role would get.
 *
 * rig_ddl takes transactional DDL only: the parse tree of every statement
 * is checked against a list of statement kinds (rig_ddl_check), on the
 * primary before anything is written and again on each node that applies it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/sysrec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/regproc.h"

#include "handlers.h"
#include "settings.h"
#include "sysrec.h"
#include "tables.h"

static bool rig_rangevar_temp(RangeVar *rv);
static bool rig_name_list_temp(List *names);
static bool rig_stmt_temp(Node *stmt);
static bool rig_stmt_outside_xact(Node *stmt);
static bool rig_stmt_allowed(Node *stmt);
static char *rig_jsonb_field(Jsonb *data, const char *key, bool required);
static Oid	rig_proc_by_signature(const char *signature);
static Oid	rig_ddl_role_oid(const char *method);
static void rig_apply_register(Jsonb *data);
static void rig_apply_ddl(Jsonb *data);

/*
 * Settings a rig.ddl record carries besides search_path: how the
 * constants in its statements are read ('1,5'::money is 1.50 under a
 * German lc_monetary, 15.00 under C), absent from records written before
 * they were added: the applying session's then.
 */
static const char *const rig_ddl_settings[] = {"timezone", "datestyle", "intervalstyle", "lc_monetary",
	"timezone_abbreviations"};

/*
 * Settings a rig.ddl record is applied under on every node, whatever the
 * session's: its statements parse alike (ddl.c refuses
 * standard_conforming_strings off), x = NULL and '{a,NULL}' read alike
 * (PostgreSQL's defaults), and function bodies are checked, so that what
 * one node refuses, all refuse.
 */
static const char *const rig_ddl_pinned[][2] = {
	{"standard_conforming_strings", "on"},
	{"transform_null_equals", "off"},
	{"array_nulls", "on"},
	{"check_function_bodies", "on"},
};

/* True while this backend applies one of rig's own records */
static bool rig_system_applying = false;

/*
 * Is this one of rig's own records rather than an op of a handler?  Only
 * these three names: rig.transaction.* are ordinary methods with handlers.
 */
bool
rig_is_system_method(const char *method)
{
	return strcmp(method, RIG_SYSREC_REGISTER) == 0 ||
		strcmp(method, RIG_SYSREC_UNREGISTER) == 0 ||
		strcmp(method, RIG_SYSREC_DDL) == 0;
}

/* A relation named in pg_temp, or created TEMPORARY. */
static bool
rig_rangevar_temp(RangeVar *rv)
{
	return rv != NULL &&
		(rv->relpersistence == RELPERSISTENCE_TEMP ||
		 (rv->schemaname != NULL && strncmp(rv->schemaname, "pg_temp", 7) == 0));
}

/* A qualified name (of a function, type ...) in pg_temp. */
static bool
rig_name_list_temp(List *names)
{
	return list_length(names) > 1 &&
		strncmp(strVal(linitial(names)), "pg_temp", 7) == 0;
}

/*
 * Does the statement create a temporary object?  A transaction that used
 * one cannot be prepared, so the peers could never take it.
 */
static bool
rig_stmt_temp(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			return rig_rangevar_temp(((CreateStmt *) stmt)->relation);
		case T_ViewStmt:
			return rig_rangevar_temp(((ViewStmt *) stmt)->view);
		case T_CreateSeqStmt:
			return rig_rangevar_temp(((CreateSeqStmt *) stmt)->sequence);
		case T_CompositeTypeStmt:
			return rig_rangevar_temp(((CompositeTypeStmt *) stmt)->typevar);
		case T_CreateFunctionStmt:
			return rig_name_list_temp(((CreateFunctionStmt *) stmt)->funcname);
		case T_DefineStmt:
			return rig_name_list_temp(((DefineStmt *) stmt)->defnames);
		case T_CreateDomainStmt:
			return rig_name_list_temp(((CreateDomainStmt *) stmt)->domainname);
		case T_CreateEnumStmt:
			return rig_name_list_temp(((CreateEnumStmt *) stmt)->typeName);
		case T_CreateRangeStmt:
			return rig_name_list_temp(((CreateRangeStmt *) stmt)->typeName);
		default:
			return false;
	}
}

/* Statements PostgreSQL refuses inside a transaction block (or its CONCURRENTLY forms). */
static bool
rig_stmt_outside_xact(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_VacuumStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_CreateSubscriptionStmt:
		case T_DropSubscriptionStmt:
		case T_AlterSubscriptionStmt:
			return true;
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->concurrent;
		case T_DropStmt:
			return ((DropStmt *) stmt)->concurrent;
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						return true;
				}
				return false;
			}
		default:
			return false;
	}
}

/*
 * The statement kinds rig_ddl runs: transactional schema changes.  Data
 * changes, queries, transaction control, session state and cluster-wide
 * objects (roles, databases, tablespaces) are not among them.
 */
static bool
rig_stmt_allowed(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
		case T_AlterTableStmt:
		case T_DropStmt:
		case T_IndexStmt:
		case T_CreateFunctionStmt:
		case T_AlterFunctionStmt:
		case T_CreateSchemaStmt:
		case T_RenameStmt:
		case T_CommentStmt:
		case T_GrantStmt:
		case T_AlterDefaultPrivilegesStmt:
		case T_ViewStmt:
		case T_CreateSeqStmt:
		case T_AlterSeqStmt:
		case T_DefineStmt:
		case T_CompositeTypeStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CreateRangeStmt:
		case T_CreateDomainStmt:
		case T_AlterDomainStmt:
		case T_AlterTypeStmt:
		case T_CreateTrigStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_RuleStmt:
		case T_AlterOwnerStmt:
		case T_AlterObjectSchemaStmt:
		case T_CreateStatsStmt:
		case T_AlterStatsStmt:
		case T_CreateCastStmt:
		case T_CreateExtensionStmt:
			return true;
		default:
			return false;
	}
}

/*
 * Refuse, with its own SQLSTATE, every statement of sql that rig_ddl does
 * not run: nothing is written before this passes.
 */
void
rig_ddl_check(const char *sql)
{
	List	   *stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	ListCell   *lc;

	if (stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rig_ddl() needs at least one statement")));
	foreach(lc, stmts)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;
		const char *tag = GetCommandTagName(CreateCommandTag(stmt));

		if (rig_stmt_outside_xact(stmt))
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s cannot run in rig_ddl()", tag),
					 errdetail("It cannot run inside a transaction block, and rig_ddl() runs in one on every node, at one version."),
					 errhint("Run it on each node yourself; it changes no handler's results.")));
		if (rig_stmt_temp(stmt))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("rig_ddl() cannot create temporary objects"),
					 errdetail("A transaction that used a temporary object cannot be prepared, and the peers take rig_ddl() in prepared transactions.")));
		if (!rig_stmt_allowed(stmt))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s is not allowed in rig_ddl()", tag),
					 errdetail("rig_ddl() runs transactional schema changes only; data changes go through rig_do() and its handlers."),
					 errhint("See README.md, \"Handler and schema changes\", for the statements rig_ddl() takes.")));
	}
}

/*
 * Set rig.ddl_timeout as the lock timeout until rig_sysrec_timeout_pop:
 * a change waits that long for the barrier (every op in flight) and for
 * its DDL's locks.
 */
int
rig_sysrec_timeout_push(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", psprintf("%d", rig_ddl_timeout),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nest;
}

/* Back to the lock timeout before rig_sysrec_timeout_push (after success). */
void
rig_sysrec_timeout_pop(int nest)
{
	AtEOXact_GUC(true, nest);
}

/*
 * data of a rig.ddl record: the statements, the search_path, and the
 * settings that decide what a constant in them means (a timestamptz or
 * interval default is stored as the value this session reads).
 */
Jsonb *
rig_sysrec_ddl_data(const char *sql, const char *search_path)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"sql\": ");
	escape_json(&buf, sql);
	appendStringInfoString(&buf, ", \"search_path\": ");
	escape_json(&buf, search_path);
	for (int i = 0; i < (int) lengthof(rig_ddl_settings); i++)
	{
		appendStringInfo(&buf, ", \"%s\": ", rig_ddl_settings[i]);
		escape_json(&buf, GetConfigOption(rig_ddl_settings[i], false, false));
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* data of a rig.register (apply valid) or rig.unregister record */
Jsonb *
rig_sysrec_register_data(const char *method, Oid apply, Oid validate, Oid resources)
{
	StringInfoData buf;
	Oid			oids[3] = {apply, validate, resources};
	const char *keys[3] = {"apply", "validate", "resources"};

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"method\": ");
	escape_json(&buf, method);
	for (int i = 0; i < 3 && OidIsValid(apply); i++)
	{
		appendStringInfo(&buf, ", \"%s\": ", keys[i]);
		if (OidIsValid(oids[i]))
			escape_json(&buf, format_procedure_qualified(oids[i]));
		else
			appendStringInfoString(&buf, "null");
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* A string field of a record's data (NULL when absent or null). */
static char *
rig_jsonb_field(Jsonb *data, const char *key, bool required)
{
	JsonbValue	k;
	JsonbValue *v = NULL;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	if (JB_ROOT_IS_OBJECT(data))
		v = findJsonbValueFromContainer(&data->root, JB_FOBJECT, &k);
	if ((v == NULL || v->type == jbvNull) && !required)
		return NULL;
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed rig record: \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A function named by its signature in a record (NULL: InvalidOid). */
static Oid
rig_proc_by_signature(const char *signature)
{
	if (signature == NULL)
		return InvalidOid;
	return DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(signature)));
}

/*
 * The role that applies records this node did not write: the one its
 * administrator named in rig.ddl_role; none named refuses them.
 */
static Oid
rig_ddl_role_oid(const char *method)
{
	Oid			role;

	if (rig_ddl_role == NULL || rig_ddl_role[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" does not apply handler or schema changes (%s): rig.ddl_role is not set",
						rig_node_name(), method),
				 errdetail("Changes from the primary run as a role this node's administrator chose, never with the replication role's rights."),
				 errhint("Set rig.ddl_role on this node (ALTER SYSTEM SET rig.ddl_role = '...'; SELECT pg_reload_conf();) and retry.")));
	role = get_role_oid(rig_ddl_role, true);
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" named by rig.ddl_role on node \"%s\" does not exist",
						rig_ddl_role, rig_node_name())));
	return role;
}

/* Apply a rig.register record as the current user. */
static void
rig_apply_register(Jsonb *data)
{
	char	   *method = rig_jsonb_field(data, "method", true);
	Oid			apply = rig_proc_by_signature(rig_jsonb_field(data, "apply", true));
	Oid			validate = rig_proc_by_signature(rig_jsonb_field(data, "validate", false));
	Oid			resources = rig_proc_by_signature(rig_jsonb_field(data, "resources", false));

	rig_handler_check(method, apply, validate, resources);
	rig_handler_store(method, apply, validate, resources);
}

/* Apply a rig.ddl record as the current user, under its search_path. */
static void
rig_apply_ddl(Jsonb *data)
{
	char	   *sql = rig_jsonb_field(data, "sql", true);
	char	   *path = rig_jsonb_field(data, "search_path", true);
	volatile int ret = 0;

	for (int i = 0; i < (int) lengthof(rig_ddl_pinned); i++)
		(void) set_config_option(rig_ddl_pinned[i][0], rig_ddl_pinned[i][1], PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	rig_ddl_check(sql);
	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	for (int i = 0; i < (int) lengthof(rig_ddl_settings); i++)
	{
		char	   *value = rig_jsonb_field(data, rig_ddl_settings[i], false);

		if (value != NULL)
			(void) set_config_option(rig_ddl_settings[i], value, PGC_USERSET,
									 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	SPI_connect();
	/* a registered table's definition may change here (tables.c) */
	rig_tables_allow_schema_change(true);
	PG_TRY();
	{
		ret = SPI_execute(sql, false, 0);
	}
	PG_FINALLY();
	{
		rig_tables_allow_schema_change(false);
	}
	PG_END_TRY();
	if (ret < 0)
		elog(ERROR, "rig_ddl: SPI_execute returned %s", SPI_result_code_string(ret));
	SPI_finish();
	/* the change may not leave a registered table a deferrable constraint */
	rig_tables_check_immediate();
}

/*
 * Is a handler or schema change being applied here?  Its statements may
 * not write rig records: a peer, which cannot write, runs them too.
 */
bool
rig_applying_system(void)
{
	return rig_system_applying;
}

/*
 * Apply one of rig's own records: as the caller when this node writes it
 * (remote false), else as rig.ddl_role; security-restricted either way
 * (no temporary objects, no SET ROLE).  The caller holds the barrier.
 */
void
rig_apply_system(const char *method, Jsonb *data, bool remote)
{
	Oid			save_userid;
	int			save_sec;
	Oid			role;
	int			nest;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	role = remote ? rig_ddl_role_oid(method) : save_userid;
	nest = NewGUCNestLevel();
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	rig_system_applying = true;
	PG_TRY();
	{
		if (strcmp(method, RIG_SYSREC_REGISTER) == 0)
			rig_apply_register(data);
		else if (strcmp(method, RIG_SYSREC_UNREGISTER) == 0)
			rig_handler_remove(rig_jsonb_field(data, "method", true));
		else if (strcmp(method, RIG_SYSREC_DDL) == 0)
			rig_apply_ddl(data);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("unknown rig record \"%s\"", rig_name_for_message(method)),
					 errdetail("This node's rig is older than the one that wrote it."),
					 errhint("Update rig on this node.")));
	}
	PG_FINALLY();
	{
		rig_system_applying = false;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	/* the ops after it in this transaction (a batch, rig_rebuild) see it */
	CommandCounterIncrement();
}
