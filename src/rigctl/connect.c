/*-------------------------------------------------------------------------
 *
 * connect.c
 *	  rigctl's connections: libpq's conninfo handling, a bounded connect,
 *	  queries with their errors, and conninfos shown without secrets.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/connect.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rigctl.h"

/* Seconds a connection attempt may take unless the user says otherwise */
#define RIGCTL_CONNECT_TIMEOUT "5"

/* Milliseconds a query may wait for its answer; 0: no limit (rigctl_exec) */
int			rigctl_query_timeout_ms = 0;

/* Set when rigctl_exec gave up on a query */
static bool rigctl_timed_out = false;

static char *rigctl_strip(char *s);
static long long rigctl_now_ms(void);
static char *rigctl_exec_error(PGconn *conn, PGresult *res);

/* Trailing newlines off a libpq message, in place. */
static char *
rigctl_strip(char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/*
 * Connect with libpq's rules (conninfo string or URI, PG* variables,
 * service files), waiting at most RIGCTL_CONNECT_TIMEOUT seconds unless
 * the conninfo or PGCONNECT_TIMEOUT says otherwise, with times in UTC.
 * NULL and *error (malloc'd) on failure.
 */
PGconn *
rigctl_connect(const char *conninfo, char **error)
{
	const char *keywords[4];
	const char *values[4];
	int			n = 0;
	PGconn	   *conn;
	PQconninfoOption *opts;
	char	   *err = NULL;

	/* parse first: libpq's parse errors may quote parts of a password */
	opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	if (opts == NULL)
	{
		PQfreemem(err);
		*error = strdup("invalid connection string (not shown: it may hold a password)");
		return NULL;
	}
	PQconninfoFree(opts);

	/* earlier keywords are overridden by what the conninfo says */
	if (getenv("PGCONNECT_TIMEOUT") == NULL)
	{
		keywords[n] = "connect_timeout";
		values[n++] = RIGCTL_CONNECT_TIMEOUT;
	}
	keywords[n] = "fallback_application_name";
	values[n++] = "rigctl";
	keywords[n] = "dbname";
	values[n++] = conninfo ? conninfo : "";
	keywords[n] = NULL;
	values[n] = NULL;

	conn = PQconnectdbParams(keywords, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		*error = rigctl_strip(strdup(PQerrorMessage(conn)));
		PQfinish(conn);
		return NULL;
	}
	if (!rigctl_command_ok(conn, "SET TimeZone = 'UTC'", error))
	{
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * How to show a conninfo: its host, port, database, user and service,
 * never its password (nor anything else it holds).
 */
char *
rigctl_conninfo_display(const char *conninfo)
{
	static const char *const shown[] = {"service", "host", "hostaddr", "port", "dbname", "user"};
	PQconninfoOption *opts;
	char	   *err = NULL;
	char	   *out;
	size_t		len = 1;

	opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	if (opts == NULL)
	{
		PQfreemem(err);
		return strdup("(invalid connection string)");
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		len += strlen(o->keyword) + (o->val ? strlen(o->val) : 0) + 2;
	out = calloc(1, len);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (strcmp(o->keyword, shown[i]) == 0 && o->val && o->val[0])
			{
				if (out[0])
					strcat(out, " ");
				strcat(out, o->keyword);
				strcat(out, "=");
				strcat(out, o->val);
			}
	PQconninfoFree(opts);
	if (out[0] == '\0')
	{
		free(out);
		return strdup("(libpq defaults)");
	}
	return out;
}

/* The error of a failed result, "SQLSTATE: message" plus detail and hint. */
char *
rigctl_result_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	char	   *out;
	size_t		len;

	if (msg == NULL)
		return rigctl_strip(strdup(PQresultErrorMessage(res)));
	len = strlen(msg) + 32 + (detail ? strlen(detail) + 10 : 0) + (hint ? strlen(hint) + 10 : 0);
	out = malloc(len);
	snprintf(out, len, "%s%s%s%s%s%s%s",
			 state ? state : "", state ? ": " : "", msg,
			 detail ? "\nDETAIL: " : "", detail ? detail : "",
			 hint ? "\nHINT: " : "", hint ? hint : "");
	return out;
}

/* A monotonic clock in milliseconds. */
static long long
rigctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * PQexecParams, but waiting at most rigctl_query_timeout_ms for the
 * answer: a server that stopped (SIGSTOP, a hung host) cannot cancel its
 * own statement_timeout.  NULL when it gave up or the connection broke;
 * the connection is then unusable.
 */
PGresult *
rigctl_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	long long	deadline;
	PGresult   *last = NULL;

	rigctl_timed_out = false;
	if (rigctl_query_timeout_ms <= 0)
		return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	deadline = rigctl_now_ms() + rigctl_query_timeout_ms;
	for (;;)
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		long long	left;

		while (!PQisBusy(conn))
		{
			PGresult   *res = PQgetResult(conn);

			if (res == NULL)
				return last;
			PQclear(last);
			last = res;
		}
		left = deadline - rigctl_now_ms();
		if (left <= 0)
		{
			rigctl_timed_out = true;
			PQclear(last);
			return NULL;
		}
		if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
			break;
		if (!PQconsumeInput(conn))
			break;
	}
	PQclear(last);
	return NULL;
}

/* The error of a failed rigctl_exec, malloc'd. */
static char *
rigctl_exec_error(PGconn *conn, PGresult *res)
{
	char		buf[128];

	if (res == NULL && rigctl_timed_out)
	{
		snprintf(buf, sizeof(buf), "no answer within %d ms", rigctl_query_timeout_ms);
		return strdup(buf);
	}
	return PQresultStatus(res) == PGRES_FATAL_ERROR ? rigctl_result_error(res) :
		rigctl_strip(strdup(PQerrorMessage(conn)));
}

/*
 * Run a query with text parameters; the result when it returned tuples,
 * NULL and *error (malloc'd) otherwise.
 */
PGresult *
rigctl_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
			 char **error)
{
	PGresult   *res = rigctl_exec(conn, sql, nparams, params);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	*error = rigctl_exec_error(conn, res);
	PQclear(res);
	return NULL;
}

/* Run a command that returns no rows; false and *error on failure. */
bool
rigctl_command_ok(PGconn *conn, const char *sql, char **error)
{
	PGresult   *res = rigctl_exec(conn, sql, 0, NULL);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		*error = rigctl_exec_error(conn, res);
	PQclear(res);
	return ok;
}
