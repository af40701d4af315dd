/*-------------------------------------------------------------------------
 *
 * log.c
 *	  rigctl log and rigctl export: a node's final log records, in version
 *	  order, read with rig_log_since() (never past the watermark), and
 *	  with --follow the new ones as they become final.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/log.c
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rigctl.h"

/* Records asked for per query */
#define RIGCTL_LOG_BATCH "1000"

/* How a log is printed */
typedef struct RigctlLogOptions
{
	const char *conninfo;
	long long	since;
	bool		follow;
	long		interval_ms;
	bool		json;
} RigctlLogOptions;

static int	rigctl_log_parse(const char *cmd, int argc, char **argv, RigctlLogOptions *o);
static int	rigctl_log_run(const char *cmd, const RigctlLogOptions *o);
static long long rigctl_log_batch(const char *cmd, PGconn *conn, long long after,
								  bool json, int *nrows);
static void rigctl_log_print_text(PGresult *res, int row);
static void rigctl_sleep_ms(long ms);

static const char rigctl_log_sql[] =
"SELECT version, epoch, to_char(op_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
"method, data::text, idempotency_key, origin "
"FROM pg_catalog.rig_log_since($1, " RIGCTL_LOG_BATCH ")";

/* Options of log and export (export: no --follow, always JSON). */
static int
rigctl_log_parse(const char *cmd, int argc, char **argv, RigctlLogOptions *o)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"since", required_argument, NULL, 's'},
		{"follow", no_argument, NULL, 'f'},
		{"interval", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	bool		is_log = strcmp(cmd, "log") == 0;
	int			c;
	char	   *end;

	memset(o, 0, sizeof(*o));
	o->interval_ms = 1000;
	o->json = !is_log;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, is_log ? "d:fh" : "d:h", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				o->conninfo = optarg;
				break;
			case 's':
				if ((o->since = rigctl_parse_version(cmd, "--since", optarg)) < 0)
					return RIGCTL_EXIT_USAGE;
				break;
			case 'f':
			case 'i':
			case 'j':
				if (!is_log)
				{
					rigctl_usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
					return RIGCTL_EXIT_USAGE;
				}
				if (c == 'f')
					o->follow = true;
				else if (c == 'j')
					o->json = true;
				else
				{
					o->interval_ms = strtol(optarg, &end, 10);
					if (*end != '\0' || end == optarg || o->interval_ms < 10 || o->interval_ms > 3600000)
					{
						rigctl_usage_error(cmd, "--interval must be 10 to 3600000 milliseconds, not \"%s\"", optarg);
						return RIGCTL_EXIT_USAGE;
					}
				}
				break;
			case 'h':
				rigctl_help(cmd);
				return RIGCTL_DONE;
			default:
				rigctl_usage_error(cmd, "unknown or incomplete option \"%s\"", argv[optind - 1]);
				return RIGCTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		rigctl_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
		return RIGCTL_EXIT_USAGE;
	}
	return RIGCTL_EXIT_OK;
}

/* A record as a line for people: version, epoch, time, method, data, key. */
static void
rigctl_log_print_text(PGresult *res, int row)
{
	printf("%s\tepoch %s\t%s\t%s\t%s", PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
		   PQgetvalue(res, row, 2), PQgetvalue(res, row, 3), PQgetvalue(res, row, 4));
	if (!PQgetisnull(res, row, 5))
		printf("\tkey %s", PQgetvalue(res, row, 5));
	printf("\torigin %s\n", PQgetvalue(res, row, 6));
}

/*
 * Print the final records after version after (up to one batch); returns
 * the last version printed (after, if none), -1 on error.
 */
static long long
rigctl_log_batch(const char *cmd, PGconn *conn, long long after, bool json, int *nrows)
{
	char		buf[32];
	const char *params[1] = {buf};
	char	   *error = NULL;
	PGresult   *res;

	snprintf(buf, sizeof(buf), "%lld", after);
	res = rigctl_query(conn, rigctl_log_sql, 1, params, &error);
	if (res == NULL)
	{
		rigctl_error(cmd, "%s", error);
		free(error);
		return -1;
	}
	*nrows = PQntuples(res);
	for (int i = 0; i < *nrows; i++)
	{
		if (json)
		{
			json_t	   *rec = rigctl_record_encode(res, i);
			char	   *line = rigctl_json_line(rec);

			puts(line);
			free(line);
			json_decref(rec);
		}
		else
			rigctl_log_print_text(res, i);
		after = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	}
	PQclear(res);
	fflush(stdout);
	return after;
}

/* Wait ms milliseconds. */
static void
rigctl_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Print the log from o->since; with --follow never returns but on error. */
static int
rigctl_log_run(const char *cmd, const RigctlLogOptions *o)
{
	char	   *error = NULL;
	PGconn	   *conn = rigctl_connect(o->conninfo, &error);
	long long	after = o->since;
	int			nrows = 0;

	if (conn == NULL)
	{
		char	   *shown = rigctl_conninfo_display(o->conninfo);

		rigctl_error(cmd, "could not connect to %s: %s", shown, error);
		free(shown);
		free(error);
		return RIGCTL_EXIT_FAIL;
	}
	for (;;)
	{
		after = rigctl_log_batch(cmd, conn, after, o->json, &nrows);
		if (after < 0)
		{
			PQfinish(conn);
			return RIGCTL_EXIT_FAIL;
		}
		if (nrows > 0)
			continue;
		if (!o->follow)
			break;
		rigctl_sleep_ms(o->interval_ms);
	}
	PQfinish(conn);
	return RIGCTL_EXIT_OK;
}

/* rigctl log */
int
rigctl_cmd_log(int argc, char **argv)
{
	RigctlLogOptions o;
	int			rc = rigctl_log_parse("log", argc, argv, &o);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	return rigctl_log_run("log", &o);
}

/* rigctl export */
int
rigctl_cmd_export(int argc, char **argv)
{
	RigctlLogOptions o;
	int			rc = rigctl_log_parse("export", argc, argv, &o);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	return rigctl_log_run("export", &o);
}
