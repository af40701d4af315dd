/*-------------------------------------------------------------------------
 *
 * remotenode.c
 *	  The nodes transaction branches run on: rig_add_node, rig_drop_node
 *	  and the conninfo of a registered node (for xnode.c).
 *
 * rig.remote_nodes is written only by the handlers of the reserved methods
 * rig.node.add and rig.node.drop: the registrations are ops in this
 * node's log, so its peers hold the same nodes and a promoted replica can
 * finish the transactions it inherits.  rig.log is readable by rig_reader,
 * so the op carries the conninfo without its password (and sslpassword):
 * that stays in this node's row, which only superusers read.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/remotenode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "catalog.h"
#include "conn.h"
#include "locks.h"
#include "node.h"
#include "remotenode.h"
#include "settings.h"
#include "write.h"

static void rig_remote_node_check_primary(const char *fn);
static void rig_remote_node_check(const char *name, RigConn *rc);

PG_FUNCTION_INFO_V1(rig_add_node);
PG_FUNCTION_INFO_V1(rig_drop_node);

/*
 * The conninfo of a registered node, or NULL; inside an SPI connection.
 * Read as the table's owner: callers (a rig_writer starting a
 * transaction) may not read it themselves.
 */
char *
rig_remote_node_conninfo(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	static SPIPlanPtr plan = NULL;

	if (rig_spi_kept_as_owner("remote_nodes", &plan,
							  "SELECT conninfo FROM rig.remote_nodes WHERE name = $1",
							  1, types, args, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.remote_nodes");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* Nodes are ops in the log: a replica gets them from its primary. */
static void
rig_remote_node_check_primary(const char *fn)
{
	if (rig_node_is_replica())
	{
		const char *primary = rig_node_primary_name();

		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s() is not allowed on a replica", fn),
				 errdetail("The nodes are operations in the log: this replica gets them from its primary \"%s\".",
						   primary ? primary : "?"),
				 errhint("Run it on the primary.")));
	}
}

/*
 * What rig_add_node checks on the node: rig installed, the role may call
 * rig_do there, the node has the name it is added under and is a primary.
 */
static void
rig_remote_node_check(const char *name, RigConn *rc)
{
	PGresult   *res;
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	char	   *remote_name;
	char	   *role;

	res = rig_conn_query(rc,
						 "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'rig'), "
						 "EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'rig_writer' "
						 "AND pg_catalog.pg_has_role(r.oid, 'MEMBER'))",
						 0, NULL, deadline);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" does not have the rig extension", name),
				 errhint("Run CREATE EXTENSION rig in that node's rig.database, or fix the conninfo's dbname.")));
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not a member of rig_writer on node \"%s\"",
						PQuser(rc->conn), name),
				 errdetail("Branches run as ordinary rig_do() calls on the node."),
				 errhint("On that node: GRANT rig_writer TO %s;", PQuser(rc->conn))));
	}
	PQclear(res);

	res = rig_conn_query(rc, "SELECT node_name, role FROM pg_catalog.rig_node_info()",
						 0, NULL, deadline);
	remote_name = pstrdup(PQgetvalue(res, 0, 0));
	role = pstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (strcmp(remote_name, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the node at that conninfo is named \"%s\", not \"%s\"", remote_name, name)));
	if (strcmp(role, "primary") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not a primary (its role is \"%s\")", name, role),
				 errhint("Branches run rig_do() on the node: add its primary.")));
}

/* SQL: register another rig primary as a target of transaction branches. */
Datum
rig_add_node(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *conninfo;
	char	   *shared;
	RigConn		rc;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	bool		exists;
	StringInfoData data;

	rig_check_database();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("node name and conninfo must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	rig_check_identifier("node name", name);
	rig_remote_node_check_primary("rig_add_node");
	if (strcmp(name, rig_node_name()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node name \"%s\" is this node's name", name),
				 errhint("This node is a branch target by its own name already.")));
	/* a concurrent rig_add_node of this name has ended: the check sees it */
	rig_lock_remote_node(name, true);
	SPI_connect();
	exists = rig_remote_node_conninfo(name) != NULL;
	SPI_finish();
	if (exists)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node \"%s\" already exists", name),
				 errhint("rig_drop_node() removes it.")));

	rig_conn_check_conninfo(name, conninfo);
	memset(&rc, 0, sizeof(rc));
	PG_TRY();
	{
		rig_conn_open(&rc, name, conninfo, rig_deadline(rig_sync_timeout));
		rig_conn_check_used_password(&rc);
		rig_remote_node_check(name, &rc);
	}
	PG_FINALLY();
	{
		rig_conn_discard(&rc);
	}
	PG_END_TRY();

	/* an op, so the peers hold the node too; its password stays here */
	shared = rig_conninfo_without_secrets(conninfo);
	initStringInfo(&data);
	appendStringInfoString(&data, "{\"name\": ");
	escape_json(&data, name);
	appendStringInfoString(&data, ", \"conninfo\": ");
	escape_json(&data, shared);
	appendStringInfoChar(&data, '}');
	(void) rig_do_internal("rig.node.add",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data))),
						   NULL);
	if (strcmp(shared, conninfo) != 0)
	{
		args[0] = CStringGetTextDatum(name);
		args[1] = CStringGetTextDatum(conninfo);
		SPI_connect();
		if (rig_spi_as_owner("remote_nodes", "UPDATE rig.remote_nodes SET conninfo = $2 WHERE name = $1",
							 2, types, args, NULL) != SPI_OK_UPDATE)
			elog(ERROR, "could not update rig.remote_nodes");
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/* SQL: forget a registered node, unless an unfinished transaction uses it. */
Datum
rig_drop_node(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	char	   *name;
	bool		exists;
	StringInfoData data;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("node name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rig_remote_node_check_primary("rig_drop_node");
	args[0] = PG_GETARG_DATUM(0);
	/* wait for the starts that use it; then a fresh snapshot sees them */
	rig_lock_remote_node(name, true);
	SPI_connect();
	if (SPI_execute_with_args("SELECT t.id FROM rig.transactions t, "
							  "jsonb_array_elements(t.branches) b "
							  "WHERE t.state IN ('preparing', 'committing', 'aborting') "
							  "AND b->>'node' = $1 ORDER BY t.id LIMIT 1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.transactions");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("node \"%s\" has a branch of unfinished transaction %s", name,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Wait until rig.transactions shows it committed, aborted or failed.")));
	exists = rig_remote_node_conninfo(name) != NULL;
	SPI_finish();
	if (!exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" does not exist", rig_name_for_message(name)),
				 errhint("rig.remote_nodes lists the registered nodes.")));
	/* an op, so the peers forget it too */
	initStringInfo(&data);
	appendStringInfoString(&data, "{\"name\": ");
	escape_json(&data, name);
	appendStringInfoChar(&data, '}');
	(void) rig_do_internal("rig.node.drop",
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data.data))),
						   NULL);
	PG_RETURN_VOID();
}
