/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Handler and schema changes through the log: rig_ddl(),
 *	  rig_register() and rig_unregister().
 *
 * On a primary each writes one of rig's own records (sysrec.c) at a
 * version of its own, under the barrier, so every node changes its
 * handlers and schema at the same point of the log.  The one exception is
 * a node still being set up: a primary with an empty log, no peers and no
 * followers registers handlers locally, as its starting configuration (a node
 * becomes a replica only while its log is empty, and rig_add_peer
 * compares the handlers it starts with); and so does rig's own extension
 * script, on every node (the reserved rig.transaction.* methods).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "catalog.h"
#include "handlers.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "settings.h"
#include "sysrec.h"
#include "write.h"

static bool rig_has_followers(void);
static bool rig_change_is_local(void);
static char *rig_ddl_search_path(void);
static void rig_ddl_check_session(void);

PG_FUNCTION_INFO_V1(rig_ddl);
PG_FUNCTION_INFO_V1(rig_register);
PG_FUNCTION_INFO_V1(rig_unregister);

/* Does a follower pull this node's log?  It takes handlers from it too. */
static bool
rig_has_followers(void)
{
	bool		found;

	SPI_connect();
	if (rig_spi_as_owner("followers", "SELECT 1 FROM rig.followers LIMIT 1",
						 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.followers");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * A primary with an empty log, no peers and no followers is being set up:
 * its handlers are its starting configuration, not a change at a version
 * (a follower compared them when it started to follow, and takes every
 * later change from the log).  rig's own install and update scripts
 * register the reserved methods' handlers locally too: they run on every
 * node, and a record of a newer rig's would reach peers that may not know
 * it yet.
 */
static bool
rig_change_is_local(void)
{
	if (rig_in_own_extension_script())
		return true;
	return strcmp(rig_node_role(), "primary") == 0 &&
		rig_log_last_version() == 0 && rig_peer_list() == NIL &&
		!rig_has_followers();
}

/*
 * The search_path a rig.ddl record carries: this session's, with "$user"
 * spelt out as the caller's name.  Left as "$user" it would name
 * rig.ddl_role's schema on the peers, and put their objects elsewhere.
 */
static char *
rig_ddl_search_path(void)
{
	char	   *raw = pstrdup(namespace_search_path);
	List	   *names;
	ListCell   *lc;
	StringInfoData buf;

	if (!SplitIdentifierString(raw, ',', &names))
		return pstrdup(namespace_search_path);	/* the GUC checked it */
	initStringInfo(&buf);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		if (strcmp(name, "$user") == 0)
			name = GetUserNameFromId(GetUserId(), false);
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_identifier(name));
	}
	return buf.data;
}

/*
 * Refuse a session whose statements would mean something else on the
 * peers: nothing is written before this passes.
 */
static void
rig_ddl_check_session(void)
{
	/* the peers parse the text with standard_conforming_strings on */
	if (!standard_conforming_strings)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_ddl() needs standard_conforming_strings on"),
				 errdetail("With it off, a backslash in a string literal changes where statements end: the peers, which parse the text with it on, could run other statements."),
				 errhint("SET standard_conforming_strings = on, and write backslash escapes as E'...'.")));
	/* an unqualified name would find it here and a table of that name there */
	if (rig_session_has_temp_objects())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_ddl() does not run in a session that has temporary tables or types"),
				 errdetail("A name in its statements could find this session's temporary object here and another object of that name on the peers."),
				 errhint("Drop them (DISCARD TEMP), or call rig_ddl() from another session.")));
}

/* SQL: run transactional DDL here and on every peer, at one version. */
Datum
rig_ddl(PG_FUNCTION_ARGS)
{
	char	   *sql;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql must not be NULL")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rig_ddl_check_session();
	rig_ddl_check(sql);
	PG_RETURN_INT64(rig_write_system("rig_ddl()", RIG_SYSREC_DDL,
									 rig_sysrec_ddl_data(sql, rig_ddl_search_path())));
}

/* SQL: register (or replace) the handlers of a method, at a version. */
Datum
rig_register(PG_FUNCTION_ARGS)
{
	char	   *method;
	Oid			apply;
	Oid			validate;
	Oid			resources;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("apply handler must not be NULL"),
				 errhint("Every method needs an apply function (version bigint, data jsonb).")));
	method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	apply = PG_GETARG_OID(1);
	validate = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	resources = PG_ARGISNULL(3) ? InvalidOid : PG_GETARG_OID(3);

	rig_handler_check(method, apply, validate, resources);
	if (rig_change_is_local())
		rig_handler_store(method, apply, validate, resources);
	else
		(void) rig_write_system("rig_register()", RIG_SYSREC_REGISTER,
								rig_sysrec_register_data(method, apply, validate, resources));
	PG_RETURN_VOID();
}

/* SQL: remove a method, at a version; its log records stay. */
Datum
rig_unregister(PG_FUNCTION_ARGS)
{
	char	   *method;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL")));
	method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rig_check_not_reserved(method);
	if (rig_change_is_local())
		rig_handler_remove(method);
	else
		(void) rig_write_system("rig_unregister()", RIG_SYSREC_UNREGISTER,
								rig_sysrec_register_data(method, InvalidOid,
														 InvalidOid, InvalidOid));
	PG_RETURN_VOID();
}
