/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  rigctl verify, promote and switchover: thin wrappers over
 *	  rig_verify_peer(), rig_promote() and rig_switchover().
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/admin.c
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rigctl.h"

/* The options these commands share */
typedef struct RigctlAdminOptions
{
	const char *conninfo;
	bool		json;
	const char *node;			/* switchover's NODE */
} RigctlAdminOptions;

static int	rigctl_admin_parse(const char *cmd, int argc, char **argv, bool json_ok,
							   int nargs, RigctlAdminOptions *o);
static PGconn *rigctl_admin_connect(const char *cmd, const char *conninfo);
static int	rigctl_verify_peer(PGconn *conn, const char *peer, json_t *out, bool json);
static int	rigctl_call_epoch(const char *cmd, const char *sql, const char *arg,
							  const char *conninfo);

/* -d, --json (where json_ok) and nargs positional arguments. */
static int
rigctl_admin_parse(const char *cmd, int argc, char **argv, bool json_ok, int nargs,
				   RigctlAdminOptions *o)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1)
	{
		if (c == 'd')
			o->conninfo = optarg;
		else if (c == 'j' && json_ok)
			o->json = true;
		else if (c == 'h')
		{
			rigctl_help(cmd);
			return RIGCTL_DONE;
		}
		else
		{
			rigctl_usage_error(cmd, "unknown or incomplete option \"%s\"", argv[optind - 1]);
			return RIGCTL_EXIT_USAGE;
		}
	}
	if (argc - optind != nargs)
	{
		if (argc - optind > nargs)
			rigctl_usage_error(cmd, "unexpected argument \"%s\"", argv[optind + nargs]);
		else
			rigctl_usage_error(cmd, "the node to hand over to is missing");
		return RIGCTL_EXIT_USAGE;
	}
	if (nargs > 0)
		o->node = argv[optind];
	return RIGCTL_EXIT_OK;
}

/* Connect, or say why not (without the conninfo's secrets). */
static PGconn *
rigctl_admin_connect(const char *cmd, const char *conninfo)
{
	char	   *error = NULL;
	PGconn	   *conn = rigctl_connect(conninfo, &error);

	if (conn == NULL)
	{
		char	   *shown = rigctl_conninfo_display(conninfo);

		rigctl_error(cmd, "could not connect to %s: %s", shown, error);
		free(shown);
		free(error);
	}
	return conn;
}

/*
 * Verify one peer: print (or add to out) its differences; returns the
 * exit code it calls for.
 */
static int
rigctl_verify_peer(PGconn *conn, const char *peer, json_t *out, bool json)
{
	const char *params[1] = {peer};
	char	   *error = NULL;
	json_t	   *entry = json_object();
	json_t	   *diffs = json_array();
	PGresult   *res = rigctl_query(conn,
								   "SELECT relation, first_version, last_version, key_range, problem "
								   "FROM pg_catalog.rig_verify_peer($1)", 1, params, &error);
	int			rc;

	json_object_set_new(entry, "peer", json_string(peer));
	if (res == NULL)
	{
		if (!json)
			printf("peer %s: could not verify: %s\n", peer, error);
		json_object_set_new(entry, "error", json_string(error));
		free(error);
		json_decref(diffs);
		json_array_append_new(out, entry);
		return RIGCTL_EXIT_ERROR;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		json_t	   *d = json_object();

		json_object_set_new(d, "relation", json_string(PQgetvalue(res, i, 0)));
		json_object_set_new(d, "first_version", PQgetisnull(res, i, 1) ? json_null() :
							json_integer(strtoll(PQgetvalue(res, i, 1), NULL, 10)));
		json_object_set_new(d, "last_version", PQgetisnull(res, i, 2) ? json_null() :
							json_integer(strtoll(PQgetvalue(res, i, 2), NULL, 10)));
		json_object_set_new(d, "key_range",
							rigctl_json_text_or_null(PQgetvalue(res, i, 3), PQgetisnull(res, i, 3)));
		json_object_set_new(d, "problem", json_string(PQgetvalue(res, i, 4)));
		json_array_append_new(diffs, d);
		if (!json)
			printf("peer %s: %s %s..%s%s%s: %s\n", peer, PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				   PQgetisnull(res, i, 3) ? "" : " ", PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	}
	rc = PQntuples(res) > 0 ? RIGCTL_EXIT_FAIL : RIGCTL_EXIT_OK;
	if (!json && rc == RIGCTL_EXIT_OK)
		printf("peer %s: identical\n", peer);
	PQclear(res);
	json_object_set_new(entry, "differences", diffs);
	json_array_append_new(out, entry);
	return rc;
}

/* rigctl verify: every peer of the node; the worst outcome is the exit code. */
int
rigctl_cmd_verify(int argc, char **argv)
{
	RigctlAdminOptions o;
	PGconn	   *conn;
	PGresult   *res;
	char	   *error = NULL;
	json_t	   *peers;
	int			rc = rigctl_admin_parse("verify", argc, argv, true, 0, &o);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	if ((conn = rigctl_admin_connect("verify", o.conninfo)) == NULL)
		return RIGCTL_EXIT_ERROR;
	res = rigctl_query(conn, "SELECT name FROM rig.peer_status ORDER BY name", 0, NULL, &error);
	if (res == NULL)
	{
		rigctl_error("verify", "%s", error);
		free(error);
		PQfinish(conn);
		return RIGCTL_EXIT_ERROR;
	}
	peers = json_array();
	if (PQntuples(res) == 0 && !o.json)
		printf("no peers\n");
	for (int i = 0; i < PQntuples(res); i++)
	{
		int			prc = rigctl_verify_peer(conn, PQgetvalue(res, i, 0), peers, o.json);

		if (prc > rc)
			rc = prc;
	}
	if (o.json)
	{
		json_t	   *doc = json_object();

		json_object_set_new(doc, "peers", peers);
		json_object_set_new(doc, "exit_code", json_integer(rc));
		rigctl_print_json(doc);
		json_decref(doc);
	}
	else
		json_decref(peers);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* Call a function that returns the new epoch, and say so. */
static int
rigctl_call_epoch(const char *cmd, const char *sql, const char *arg, const char *conninfo)
{
	const char *params[1] = {arg};
	char	   *error = NULL;
	PGconn	   *conn = rigctl_admin_connect(cmd, conninfo);
	PGresult   *res;

	if (conn == NULL)
		return RIGCTL_EXIT_FAIL;
	res = rigctl_query(conn, sql, arg ? 1 : 0, params, &error);
	if (res == NULL)
	{
		rigctl_error(cmd, "%s", error);
		free(error);
		PQfinish(conn);
		return RIGCTL_EXIT_FAIL;
	}
	printf("%s is the primary of epoch %s\n", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return RIGCTL_EXIT_OK;
}

/* rigctl promote */
int
rigctl_cmd_promote(int argc, char **argv)
{
	RigctlAdminOptions o;
	int			rc = rigctl_admin_parse("promote", argc, argv, false, 0, &o);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	return rigctl_call_epoch("promote",
							 "SELECT pg_catalog.rig_promote(), "
							 "(SELECT node_name FROM pg_catalog.rig_node_info())",
							 NULL, o.conninfo);
}

/* rigctl switchover NODE */
int
rigctl_cmd_switchover(int argc, char **argv)
{
	RigctlAdminOptions o;
	int			rc = rigctl_admin_parse("switchover", argc, argv, false, 1, &o);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	return rigctl_call_epoch("switchover", "SELECT pg_catalog.rig_switchover($1), $1", o.node,
							 o.conninfo);
}
