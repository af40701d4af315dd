/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  rig's settings and the checks everything else builds on: the node's
 *	  name, the database rig runs in, the names rig accepts, and the fault
 *	  points of the crash tests.
 *
 * All settings live under the reserved "rig." prefix.  This is the bottom
 * of rig: it calls nothing of rig's own.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <locale.h>

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/varlena.h"

#include "settings.h"

char	   *rig_database = NULL;
char	   *rig_node_name_setting = NULL;
int			rig_sync_timeout = 5000;
int			rig_catchup_connections = 4;
bool		rig_commit_wait = true;
int			rig_resolver_interval = 10000;
int			rig_verify_interval = 60000;
int			rig_max_payload = 1024 * 1024;
char	   *rig_handler_search_path = NULL;
char	   *rig_handler_timezone = NULL;
char	   *rig_handler_locale = NULL;
char	   *rig_ddl_role = NULL;
int			rig_ddl_timeout = 10000;
int			rig_key_retention = 7 * 24 * 3600;
int			rig_follower_max_lag = 10000000;
int			rig_promote_lease = 30000;
int			rig_bootstrap_max_rate = 0;
char	   *rig_fault_point = NULL;
bool		rig_maintenance = false;

/* Bytes of a caller's name quoted in a message */
#define RIG_MESSAGE_NAME_LEN 64

/* A rig.node_name the server was started with and the check refused */
static char *rig_node_name_refused = NULL;

static bool rig_check_node_name(char **newval, void **extra, GucSource source);
static bool rig_check_handler_search_path(char **newval, void **extra,
										  GucSource source);
static bool rig_check_handler_timezone(char **newval, void **extra,
									   GucSource source);
static bool rig_check_handler_locale(char **newval, void **extra,
									 GucSource source);
static void rig_refuse_bad_node_name(void);

PG_FUNCTION_INFO_V1(rig_check_install);

/*
 * All GUCs in one place, so the prefix can be reserved after them; a bad
 * rig.node_name stops the server.
 */
void
rig_settings_define(void)
{
	DefineCustomStringVariable("rig.database",
							   "Database in which rig runs; the node is this database.",
							   NULL,
							   &rig_database,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("rig.node_name",
							   "Name of this node in its peers' logs; empty derives it from the system identifier.",
							   NULL,
							   &rig_node_name_setting,
							   "",
							   PGC_POSTMASTER,
							   0,
							   rig_check_node_name, NULL, NULL);

	DefineCustomIntVariable("rig.sync_timeout",
							"How long a commit waits for a sync peer to prepare.",
							NULL,
							&rig_sync_timeout,
							5000, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rig.catchup_connections",
							"Connections per peer over which catch-up applies non-conflicting operations in parallel.",
							NULL,
							&rig_catchup_connections,
							4, 1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("rig.commit_wait",
							 "Answer the client only after peers ran COMMIT PREPARED.",
							 NULL,
							 &rig_commit_wait,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("rig.resolver_interval",
							"How often the worker resolves in-doubt transactions; -1 turns it off.",
							NULL,
							&rig_resolver_interval,
							10000, -1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rig.verify_interval",
							"How often the worker compares each in-sync peer's log with this node's; -1 turns it off.",
							"Catch-up always verifies before it ships; handlers are compared every round.",
							&rig_verify_interval,
							60000, -1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("rig.maintenance",
							 "Let this session write rig's registered tables outside handlers (superuser only).",
							 "For repairs: what it writes is not in the log and not replicated.",
							 &rig_maintenance,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("rig.handler_search_path",
							   "search_path under which handlers run (pg_temp last; the same on every node).",
							   "Handlers run as their owner; the caller's search_path could put the caller's temporary objects before the handler's tables.",
							   &rig_handler_search_path,
							   "\"$user\", public, pg_temp",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   rig_check_handler_search_path, NULL, NULL);
	DefineCustomStringVariable("rig.handler_timezone",
							   "TimeZone under which handlers run (the same on every node).",
							   "A handler that reads a date or time without its offset, truncates one to a day or formats one would otherwise compute other rows on each node, under the caller's or the apply session's TimeZone.",
							   &rig_handler_timezone,
							   "UTC",
							   PGC_SIGHUP,
							   0,
							   rig_check_handler_timezone, NULL, NULL);
	DefineCustomStringVariable("rig.handler_locale",
							   "lc_monetary, lc_numeric and lc_time under which handlers run (the same on every node).",
							   "to_char and money's text follow them; the caller's or the apply session's would make each node store other rows.",
							   &rig_handler_locale,
							   "C",
							   PGC_SIGHUP,
							   0,
							   rig_check_handler_locale, NULL, NULL);
	DefineCustomStringVariable("rig.ddl_role",
							   "Role as which this node applies its primary's schema and handler changes (rig_ddl, rig_register); empty refuses them.",
							   "Set by this node's administrator; the replication role's own rights are never used for them.",
							   &rig_ddl_role,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("rig.ddl_timeout",
							"How long a schema or handler change waits for the barrier and for its locks; 0 waits without limit.",
							"It waits for every operation in flight, and its DDL for the locks of the tables it changes.",
							&rig_ddl_timeout,
							10000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("rig.max_payload",
							"Largest operation data rig_do() accepts.",
							"Every operation is shipped to each peer in one message.",
							&rig_max_payload,
							1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("rig.key_retention",
							"How long rig_compact() keeps the idempotency keys of compacted records; -1 keeps them forever.",
							NULL,
							&rig_key_retention,
							7 * 24 * 3600, -1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("rig.follower_max_lag",
							"Versions a registered follower may fall behind before rig_compact() stops keeping the log for it; -1 keeps it for every follower.",
							NULL,
							&rig_follower_max_lag,
							10000000, -1, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("rig.promote_lease",
							"How long a replica's last word from its primary proves it safe to promote; a primary weakens a peer it cannot tell only after this long without contact.",
							"Keep it the same on every node, above rig.resolver_interval plus a failover manager's detection window.",
							&rig_promote_lease,
							30000, 100, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("rig.bootstrap_max_rate",
							"Most data per second rig_add_peer sends a new node (snapshot chunks, then the log); 0 = no limit.",
							"Read again between chunks and batches: a reload changes it for a bootstrap in progress, unless its session set its own value.",
							&rig_bootstrap_max_rate,
							0, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("rig.fault_point",
							   "Testing only: pause a committing backend (or the worker promoting the node) at this point until it is killed.",
							   "Points: before_prepare (peers connected, nothing sent to them yet), "
							   "after_peer_prepare (peers prepared, local commit not done), "
							   "after_local_commit (local commit done, COMMIT PREPARED not sent), "
							   "after_commit_sent (COMMIT PREPARED sent, answers not read); "
							   "in the worker, during rig_promote(): promote_after_epoch (role 'promoting' and the new epoch committed), "
							   "promote_between_commits (the first of the old primary's prepared transactions committed, the others not yet), "
							   "promote_before_finish (all committed, role still 'promoting'); "
							   "in rig_switchover(): switchover_stopped (rig_do refused), switchover_before_promote "
							   "(peer caught up under the commit gate), switchover_after_promote (peer promoted, this node not yet its follower); "
							   "in rig_add_peer(): add_peer_after_become_replica (the peer follows this node, nothing shipped or recorded yet).",
							   &rig_fault_point,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	MarkGUCPrefixReserved("rig");
	rig_refuse_bad_node_name();
}

/* Handlers run as their owner: pg_temp must come last in their search_path. */
static bool
rig_check_handler_search_path(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && rig_search_path_safe(*newval))
		return true;
	GUC_check_errdetail("rig.handler_search_path must name pg_temp last.");
	return false;
}

/* rig.handler_timezone must be a time zone PostgreSQL knows. */
static bool
rig_check_handler_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' && pg_tzset(*newval) != NULL)
		return true;
	GUC_check_errdetail("rig.handler_timezone must name a time zone, e.g. 'UTC' or 'Europe/Berlin'.");
	return false;
}

/* rig.handler_locale must be a locale this server has, for all three. */
static bool
rig_check_handler_locale(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' &&
		check_locale(LC_MONETARY, *newval, NULL) &&
		check_locale(LC_NUMERIC, *newval, NULL) &&
		check_locale(LC_TIME, *newval, NULL))
		return true;
	GUC_check_errdetail("rig.handler_locale must name a locale this server has, e.g. 'C' or 'en_US.UTF-8'.");
	return false;
}

/*
 * Node names go into GIDs and peers' logs: keep them plain.  A value the
 * server starts with is remembered, for _PG_init to refuse.
 */
static bool
rig_check_node_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || rig_identifier_ok(*newval))
		return true;
	if (process_shared_preload_libraries_in_progress)
		rig_node_name_refused = MemoryContextStrdup(TopMemoryContext,
													rig_name_for_message(*newval));
	GUC_check_errdetail("rig.node_name may contain only letters, digits and _ . - : / (at most %d).",
						RIG_MAX_NAME_LEN);
	return false;
}

/*
 * PostgreSQL only warns about a bad value of a custom setting and takes
 * the default, so the node would silently take another name: stop the
 * server instead.
 */
static void
rig_refuse_bad_node_name(void)
{
	if (rig_node_name_refused == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for parameter \"rig.node_name\": \"%s\"",
					rig_node_name_refused),
			 errdetail("A node name is 1 to %d characters: letters, digits and _ . - : /",
					   RIG_MAX_NAME_LEN),
			 errhint("Fix rig.node_name in postgresql.conf, or leave it empty to derive the name from the system identifier.")));
}



/* The node's name: rig.node_name, or one derived from the system identifier. */
const char *
rig_node_name(void)
{
	static char derived[32];

	if (rig_node_name_setting && rig_node_name_setting[0] != '\0')
		return rig_node_name_setting;
	if (derived[0] == '\0')
		snprintf(derived, sizeof(derived), "node_" UINT64_FORMAT,
				 GetSystemIdentifier());
	return derived;
}

/* rig lives in exactly one database per cluster: the one rig.database names. */
void
rig_check_database(void)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (dbname == NULL || strcmp(dbname, rig_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig can only be used in database \"%s\"", rig_database),
				 errdetail("rig.database is \"%s\"; this is database \"%s\".",
						   rig_database, dbname ? dbname : "?"),
				 errhint("Connect to \"%s\", or set rig.database in postgresql.conf and restart.",
						 rig_database)));
}

/*
 * Crash tests: when rig.fault_point names this point, log it and wait (up
 * to five minutes) so the test can kill the server with -9 right here.
 * After the local commit nothing may throw, so there the wait just ends
 * on a pending interrupt.
 */
void
rig_fault(const char *point, bool interruptible)
{
	if (rig_fault_point == NULL || strcmp(rig_fault_point, point) != 0)
		return;
	ereport(LOG, (errmsg("rig: paused at fault point \"%s\"", point)));
	for (int i = 0; i < 600; i++)
	{
		int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
								   500, PG_WAIT_EXTENSION);

		ResetLatch(MyLatch);
		if (rc & WL_POSTMASTER_DEATH)
		{
			/* inside the commit callback the process must not exit */
			if (interruptible)
				proc_exit(1);
			break;
		}
		if (interruptible)
			CHECK_FOR_INTERRUPTS();
		else if (InterruptPending)
			break;
	}
}

/* Called once by the install script, before any object is created. */
Datum
rig_check_install(PG_FUNCTION_ARGS)
{
	rig_check_database();
	PG_RETURN_VOID();
}

/*
 * Names rig puts in GIDs, logs and messages (methods, nodes, peers) are
 * kept to letters, digits and _ . - : / so they never need quoting.
 */
bool
rig_identifier_ok(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > RIG_MAX_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
			  c == ':' || c == '/'))
			return false;
	}
	return true;
}

/*
 * A name a caller passed, cut for messages: a 10 MB method name must not
 * go whole into the error and the server log.
 */
const char *
rig_name_for_message(const char *name)
{
	int			len = strlen(name);
	int			cut;

	if (len <= RIG_MESSAGE_NAME_LEN)
		return name;
	cut = pg_mbcliplen(name, len, RIG_MESSAGE_NAME_LEN);
	return psprintf("%.*s...", cut, name);
}

/*
 * Is pg_temp named last in a search_path value?  Otherwise it is searched
 * first (for relations), and whoever calls can put a temporary table, view
 * or trigger in front of the handler's tables.
 */
bool
rig_search_path_safe(const char *value)
{
	char	   *copy = pstrdup(value);
	List	   *names;
	bool		safe;

	if (!SplitIdentifierString(copy, ',', &names) || names == NIL)
		return false;
	safe = strcmp((char *) llast(names), "pg_temp") == 0;
	list_free(names);
	pfree(copy);
	return safe;
}
