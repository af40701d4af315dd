/*-------------------------------------------------------------------------
 *
 * status.c
 *	  rigctl status: discover a cluster from the nodes given and judge its
 *	  health with monitoring-plugin exit codes.
 *
 * Each node reached tells its own state (rig.status), its peers' as it
 * sees them (rig.peer_status) and its followers (rig.followers).  Where
 * the role may read them, rig.peers and rig.follow_source name more nodes
 * to reach (their conninfos are used, never shown).  The report is one
 * JSON document (--json prints it; the text form is printed from it).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/status.c
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rigctl.h"

/* How long a node may take to answer one of status's queries */
#define RIGCTL_STATUS_TIMEOUT "10s"
/* ... and how long rigctl waits for any answer (a stopped server sends none) */
#define RIGCTL_STATUS_WAIT_MS 15000

/* Severities, in rising order of precedence (critical beats unknown) */
typedef enum RigctlLevel
{
	RIGCTL_OK,
	RIGCTL_WARNING,
	RIGCTL_UNKNOWN,
	RIGCTL_CRITICAL
} RigctlLevel;

/* A node to reach: from -d, or named by a node reached before */
typedef struct RigctlTarget
{
	char	   *conninfo;
	char	   *name;			/* NULL: not known before connecting */
} RigctlTarget;

/* The status being gathered */
typedef struct RigctlStatus
{
	RigctlTarget targets[RIGCTL_MAX_TARGETS];
	int			ntargets;
	long long	max_lag;
	RigctlLevel level;
	json_t	   *nodes;
	json_t	   *problems;
} RigctlStatus;

static int	rigctl_status_parse(int argc, char **argv, RigctlStatus *st, bool *json);
static void rigctl_problem(RigctlStatus *st, RigctlLevel level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static bool rigctl_status_reached(RigctlStatus *st, const char *name);
static void rigctl_status_add_target(RigctlStatus *st, const char *conninfo, const char *name);
static void rigctl_status_visit(RigctlStatus *st, RigctlTarget *t);
static json_t *rigctl_status_rows(RigctlStatus *st, PGconn *conn, const char *node,
								  const char *what, const char *sql);
static json_t *rigctl_status_followers(RigctlStatus *st, PGconn *conn, json_t *node);
static void rigctl_status_discover(RigctlStatus *st, PGconn *conn);
static void rigctl_status_judge_node(RigctlStatus *st, json_t *node);
static void rigctl_status_judge_peer(RigctlStatus *st, const char *node, json_t *peer);
static void rigctl_status_judge_cluster(RigctlStatus *st);

static const char *const rigctl_level_names[] = {"OK", "WARNING", "UNKNOWN", "CRITICAL"};
static const int rigctl_level_exit[] = {
	RIGCTL_EXIT_OK, RIGCTL_EXIT_WARNING, RIGCTL_EXIT_UNKNOWN, RIGCTL_EXIT_CRITICAL
};

/* status's options; RIGCTL_EXIT_OK to go on. */
static int
rigctl_status_parse(int argc, char **argv, RigctlStatus *st, bool *json)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"max-lag", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	*json = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				if (st->ntargets == RIGCTL_MAX_TARGETS)
				{
					rigctl_usage_error("status", "at most %d nodes", RIGCTL_MAX_TARGETS);
					return RIGCTL_EXIT_USAGE;
				}
				rigctl_status_add_target(st, optarg, NULL);
				break;
			case 'j':
				*json = true;
				break;
			case 'l':
				if ((st->max_lag = rigctl_parse_version("status", "--max-lag", optarg)) < 0)
					return RIGCTL_EXIT_USAGE;
				break;
			case 'h':
				rigctl_help("status");
				return RIGCTL_DONE;
			default:
				rigctl_usage_error("status", "unknown or incomplete option \"%s\"", argv[optind - 1]);
				return RIGCTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		rigctl_usage_error("status", "unexpected argument \"%s\"", argv[optind]);
		return RIGCTL_EXIT_USAGE;
	}
	/* no -d: libpq's defaults (PG* variables, service) */
	if (st->ntargets == 0)
		rigctl_status_add_target(st, "", NULL);
	return RIGCTL_EXIT_OK;
}

/* Record a problem and raise the status to its level. */
static void
rigctl_problem(RigctlStatus *st, RigctlLevel level, const char *fmt,...)
{
	char		buf[1024];
	char		line[1100];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s", rigctl_level_names[level], buf);
	json_array_append_new(st->problems, json_string(line));
	if (level > st->level)
		st->level = level;
}

/* Whether a node of that name was reached already. */
static bool
rigctl_status_reached(RigctlStatus *st, const char *name)
{
	size_t		i;
	json_t	   *node;

	json_array_foreach(st->nodes, i, node)
	{
		json_t	   *n = json_object_get(node, "name");

		if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
			return true;
	}
	return false;
}

/* Queue a node to reach (discovered ones: unless known, while there is room). */
static void
rigctl_status_add_target(RigctlStatus *st, const char *conninfo, const char *name)
{
	if (name != NULL && rigctl_status_reached(st, name))
		return;
	for (int t = 0; t < st->ntargets; t++)
		if (name != NULL && st->targets[t].name && strcmp(st->targets[t].name, name) == 0)
			return;
	if (st->ntargets == RIGCTL_MAX_TARGETS)
		return;
	st->targets[st->ntargets].conninfo = strdup(conninfo);
	st->targets[st->ntargets].name = name ? strdup(name) : NULL;
	st->ntargets++;
}

/*
 * Rows of a query as an array of objects; NULL (and an UNKNOWN problem)
 * when the node would not answer it.
 */
static json_t *
rigctl_status_rows(RigctlStatus *st, PGconn *conn, const char *node, const char *what,
				   const char *sql)
{
	char	   *error = NULL;
	PGresult   *res = rigctl_query(conn, sql, 0, NULL, &error);
	json_t	   *rows;

	if (res == NULL)
	{
		rigctl_problem(st, RIGCTL_UNKNOWN, "node %s: could not read %s: %s", node, what, error);
		free(error);
		return NULL;
	}
	rows = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(rows, rigctl_row_json(res, i));
	PQclear(res);
	return rows;
}

/*
 * More nodes, where this role may see their conninfos: the peers, and a
 * follower's primary.
 */
static void
rigctl_status_discover(RigctlStatus *st, PGconn *conn)
{
	static const char *const sql[] = {
		"SELECT name, conninfo FROM rig.peers ORDER BY name",
		"SELECT primary_name, conninfo FROM rig.follow_source"
	};

	for (int q = 0; q < 2; q++)
	{
		/* (without the privilege to read them there is nothing to discover) */
		PGresult   *res = rigctl_exec(conn, sql[q], 0, NULL);

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			for (int i = 0; i < PQntuples(res); i++)
				rigctl_status_add_target(st, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0));
		PQclear(res);
	}
}

/*
 * The node's followers and how far behind each is; null where the role
 * may not read rig.followers (pg_monitor may not: rig_reader may).
 */
static json_t *
rigctl_status_followers(RigctlStatus *st, PGconn *conn, json_t *node)
{
	const char *name = json_string_value(json_object_get(node, "name"));
	long long	last = json_integer_value(json_object_get(node, "last_version"));
	PGresult   *res = rigctl_exec(conn, "SELECT pg_catalog.has_table_privilege('rig.followers', 'SELECT')", 0, NULL);
	bool		may = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	json_t	   *rows;
	json_t	   *f;
	size_t		i;

	PQclear(res);
	if (!may)
		return json_null();
	rows = rigctl_status_rows(st, conn, name, "rig.followers",
							  "SELECT name, acked_version, last_seen FROM rig.followers ORDER BY name");
	json_array_foreach(rows, i, f)
	{
		long long	behind = last - json_integer_value(json_object_get(f, "acked_version"));

		json_object_set_new(f, "versions_behind", json_integer(behind > 0 ? behind : 0));
	}
	return rows;
}

/* Reach one node and add what it says to the report. */
static void
rigctl_status_visit(RigctlStatus *st, RigctlTarget *t)
{
	char	   *error = NULL;
	char	   *shown;
	PGconn	   *conn;
	json_t	   *rows;
	json_t	   *node;
	const char *name;

	if (t->name != NULL && rigctl_status_reached(st, t->name))
		return;
	shown = rigctl_conninfo_display(t->conninfo);
	conn = rigctl_connect(t->conninfo, &error);
	if (conn == NULL)
	{
		node = json_object();
		json_object_set_new(node, "name", t->name ? json_string(t->name) : json_null());
		json_object_set_new(node, "conninfo", json_string(shown));
		json_object_set_new(node, "reachable", json_false());
		json_object_set_new(node, "error", json_string(error));
		json_array_append_new(st->nodes, node);
		rigctl_problem(st, RIGCTL_CRITICAL, "node %s is unreachable: %s",
					   t->name ? t->name : shown, error);
		free(error);
		free(shown);
		return;
	}
	/* a node that cannot answer (a lock held on rig.log) must not hang status */
	if (!rigctl_command_ok(conn, "SET statement_timeout = '" RIGCTL_STATUS_TIMEOUT "'", &error))
	{
		rigctl_problem(st, RIGCTL_UNKNOWN, "node %s: %s", t->name ? t->name : shown, error);
		free(error);
		free(shown);
		PQfinish(conn);
		return;
	}
	rows = rigctl_status_rows(st, conn, t->name ? t->name : shown, "rig.status",
							  "SELECT * FROM rig.status");
	if (rows != NULL && json_array_size(rows) != 1)
		rigctl_problem(st, RIGCTL_UNKNOWN, "node %s: rig.status has %zu rows",
					   t->name ? t->name : shown, json_array_size(rows));
	if (rows == NULL || json_array_size(rows) != 1)
	{
		json_decref(rows);
		free(shown);
		PQfinish(conn);
		return;
	}
	node = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	name = json_string_value(json_object_get(node, "node_name"));
	if (rigctl_status_reached(st, name))
	{
		/* the same node again, under another conninfo */
		json_decref(node);
		free(shown);
		PQfinish(conn);
		return;
	}
	json_object_set_new(node, "name", json_string(name));
	json_object_set_new(node, "conninfo", json_string(shown));
	json_object_set_new(node, "reachable", json_true());
	json_object_set_new(node, "peers",
						rigctl_status_rows(st, conn, name, "rig.peer_status",
										   "SELECT name, mode, state, connection, versions_behind, "
										   "seconds_behind, acked_version, last_contact, last_error "
										   "FROM rig.peer_status ORDER BY name"));
	json_object_set_new(node, "followers", rigctl_status_followers(st, conn, node));
	json_array_append_new(st->nodes, node);
	rigctl_status_discover(st, conn);
	rigctl_status_judge_node(st, node);
	free(shown);
	PQfinish(conn);
}

/*
 * What one peer's state (as its primary sees it) says of the cluster.  A
 * semisync peer its primary cannot reach shows degraded (commits go on
 * without it): a warning here, critical once rigctl finds it down itself.
 */
static void
rigctl_status_judge_peer(RigctlStatus *st, const char *node, json_t *peer)
{
	const char *name = json_string_value(json_object_get(peer, "name"));
	const char *state = json_string_value(json_object_get(peer, "state"));
	long long	behind = json_integer_value(json_object_get(peer, "versions_behind"));

	if (strcmp(state, "diverged") == 0)
		rigctl_problem(st, RIGCTL_CRITICAL, "peer %s of %s is diverged", name, node);
	else if (strcmp(state, "unreachable") == 0)
		rigctl_problem(st, RIGCTL_CRITICAL, "peer %s of %s is unreachable", name, node);
	else if (strcmp(state, "in_sync") != 0)
		rigctl_problem(st, RIGCTL_WARNING, "peer %s of %s is %s (%lld versions behind)",
					   name, node, state, behind);
	else if (behind > st->max_lag)
		rigctl_problem(st, RIGCTL_WARNING, "peer %s of %s is %lld versions behind", name, node, behind);
}

/* What a node, its peers and its followers say of the cluster. */
static void
rigctl_status_judge_node(RigctlStatus *st, json_t *node)
{
	const char *name = json_string_value(json_object_get(node, "name"));
	const char *role = json_string_value(json_object_get(node, "role"));
	json_t	   *list;
	json_t	   *item;
	size_t		i;

	if (strcmp(role, "fenced") == 0)
		rigctl_problem(st, RIGCTL_WARNING, "node %s is fenced (another node was promoted)", name);
	if (json_is_null(json_object_get(node, "worker_pid")))
		rigctl_problem(st, RIGCTL_WARNING, "the worker of %s is not running (%s)", name,
					   json_string_value(json_object_get(node, "worker_state")));
	if ((list = json_object_get(node, "peers")) != NULL)
		json_array_foreach(list, i, item)
			rigctl_status_judge_peer(st, name, item);
	if ((list = json_object_get(node, "followers")) != NULL)
		json_array_foreach(list, i, item)
			if (json_integer_value(json_object_get(item, "versions_behind")) > st->max_lag)
				rigctl_problem(st, RIGCTL_WARNING, "follower %s of %s is %lld versions behind",
							   json_string_value(json_object_get(item, "name")), name,
							   json_integer_value(json_object_get(item, "versions_behind")));
}

/* Two nodes that both write in one epoch: the worst there is. */
static void
rigctl_status_judge_cluster(RigctlStatus *st)
{
	size_t		i,
				j;
	json_t	   *a,
			   *b;

	json_array_foreach(st->nodes, i, a)
		json_array_foreach(st->nodes, j, b)
	{
		if (j <= i || !json_is_true(json_object_get(a, "reachable")) ||
			!json_is_true(json_object_get(b, "reachable")))
			continue;
		if (strcmp(json_string_value(json_object_get(a, "role")), "primary") == 0 &&
			strcmp(json_string_value(json_object_get(b, "role")), "primary") == 0 &&
			json_integer_value(json_object_get(a, "epoch")) ==
			json_integer_value(json_object_get(b, "epoch")))
			rigctl_problem(st, RIGCTL_CRITICAL, "nodes %s and %s are both primaries of epoch %lld",
						   json_string_value(json_object_get(a, "name")),
						   json_string_value(json_object_get(b, "name")),
						   json_integer_value(json_object_get(a, "epoch")));
	}
}

/* rigctl status */
int
rigctl_cmd_status(int argc, char **argv)
{
	RigctlStatus st = {0};
	json_t	   *report;
	bool		json;
	int			rc;

	st.max_lag = 1000;
	rigctl_query_timeout_ms = RIGCTL_STATUS_WAIT_MS;
	if ((rc = rigctl_status_parse(argc, argv, &st, &json)) != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	st.nodes = json_array();
	st.problems = json_array();
	/* targets grow as nodes name their peers */
	for (int t = 0; t < st.ntargets; t++)
		rigctl_status_visit(&st, &st.targets[t]);
	rigctl_status_judge_cluster(&st);

	report = json_object();
	json_object_set_new(report, "status", json_string(rigctl_level_names[st.level]));
	json_object_set_new(report, "exit_code", json_integer(rigctl_level_exit[st.level]));
	json_object_set_new(report, "problems", st.problems);
	json_object_set_new(report, "nodes", st.nodes);
	if (json)
		rigctl_print_json(report);
	else
		rigctl_status_print_text(report);
	json_decref(report);
	for (int t = 0; t < st.ntargets; t++)
	{
		free(st.targets[t].conninfo);
		free(st.targets[t].name);
	}
	return rigctl_level_exit[st.level];
}
