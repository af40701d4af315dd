/*-------------------------------------------------------------------------
 *
 * rigctl.c
 *	  rigctl's entry point: the commands, their help, usage errors.
 *
 * rigctl administers a rig cluster from the command line: status of every
 * node it can find, the log as JSON lines (and following it), verification
 * of the peers, export and import of a log, promotion and switchover.  It
 * connects with libpq (so PG* environment variables and service files
 * work as for psql) and writes and reads JSON with jansson only.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/rigctl.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rigctl.h"

#define RIGCTL_VERSION "0.1"

/* One command: its name, what runs it, its help text */
typedef struct RigctlCommand
{
	const char *name;
	int			(*run) (int argc, char **argv);
	const char *help;
} RigctlCommand;

static void rigctl_usage(FILE *out);
static const RigctlCommand *rigctl_find(const char *name);

const char *rigctl_progname = "rigctl";

static const char rigctl_connection_help[] =
"Connection: CONNINFO is a libpq connection string or URI; without -d,\n"
"the PG* environment variables and ~/.pg_service.conf apply as for psql.\n"
"Passwords in a CONNINFO are never printed.\n";

static const RigctlCommand rigctl_commands[] = {
	{"status", rigctl_cmd_status,
		"Usage: rigctl status [-d CONNINFO]... [--json] [--max-lag N]\n\n"
		"Discover the cluster from each node given (its peers, when the role may\n"
		"read rig.peers, and a follower's primary) and print each node's role,\n"
		"epoch, last version, watermark and worker, and each peer's and follower's\n"
		"mode, state and lag.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  a node to start from (repeatable; default: libpq's)\n"
		"      --json             one JSON document instead of text\n"
		"      --max-lag=N        versions a peer or follower may lag before a warning\n"
		"                         (default 1000)\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 OK; 1 WARNING (a peer degraded, catching up or lagging, a\n"
		"worker not running, a fenced node); 2 CRITICAL (a node or peer unreachable,\n"
		"a peer diverged, two primaries in one epoch); 3 UNKNOWN (a node answered\n"
		"but its state could not be read); 64 usage error.\n"},
	{"log", rigctl_cmd_log,
		"Usage: rigctl log [-d CONNINFO] [--since V] [--follow [--interval MS]] [--json]\n\n"
		"Print the node's final log records after version V (default 0), in version\n"
		"order, one per line; with --follow, keep printing new records as they\n"
		"become final (below the node's watermark) until interrupted.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the node\n"
		"      --since=V          only records after version V\n"
		"  -f, --follow           wait for new records\n"
		"      --interval=MS      how often --follow asks (default 1000)\n"
		"      --json             JSON lines, as rigctl export writes them\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 OK; 1 error; 64 usage error.\n"},
	{"export", rigctl_cmd_export,
		"Usage: rigctl export [-d CONNINFO] [--since V] > ops.jsonl\n\n"
		"Write the node's final log records after version V (default 0) as JSON\n"
		"lines, one record per line: version, epoch, op_time (UTC, microseconds),\n"
		"method, data (or data_text, the exact jsonb text, when JSON numbers could\n"
		"not carry it exactly), idempotency_key, origin.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the node\n"
		"      --since=V          only records after version V\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 OK; 1 error; 64 usage error.\n"},
	{"import", rigctl_cmd_import,
		"Usage: rigctl import -d CONNINFO [--batch-size N] < ops.jsonl\n\n"
		"Apply the records of an export to a standalone primary without peers\n"
		"(superuser; the same handlers registered), keeping their versions, epochs\n"
		"and op times: through the handlers, one transaction per batch.  Each\n"
		"batch is checked whole before it is sent: a malformed line is reported\n"
		"with its number and nothing of its batch is applied (earlier batches\n"
		"stay).  Records the node holds already are skipped, so importing twice\n"
		"is harmless.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the node to import into\n"
		"      --batch-size=N     records per transaction (default 1000)\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 OK; 1 error (the line is named); 64 usage error.\n"},
	{"verify", rigctl_cmd_verify,
		"Usage: rigctl verify [-d CONNINFO] [--json]\n\n"
		"Compare the primary's log and handlers with each of its peers'\n"
		"(rig_verify_peer) and print the differences.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the primary\n"
		"      --json             one JSON document instead of text\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 no difference; 1 differences; 2 a peer could not be\n"
		"compared (or the primary reached); 64 usage error.\n"},
	{"promote", rigctl_cmd_promote,
		"Usage: rigctl promote [-d CONNINFO]\n\n"
		"Promote the replica (rig_promote()): it becomes the primary of a new epoch.\n"
		"Check rig.status.safe_to_promote first (rigctl status shows it).\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the replica\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 promoted; 1 error; 64 usage error.\n"},
	{"switchover", rigctl_cmd_switchover,
		"Usage: rigctl switchover [-d CONNINFO] NODE\n\n"
		"Hand the primary role over to its in-sync peer NODE (rig_switchover()):\n"
		"the primary stops writes, NODE is promoted and the old primary follows it.\n\n"
		"Options:\n"
		"  -d, --dbname=CONNINFO  the primary\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 switched over; 1 error; 64 usage error.\n"},
};

#define RIGCTL_NCOMMANDS (sizeof(rigctl_commands) / sizeof(rigctl_commands[0]))

/* The overview: every command and the exit codes they share. */
static void
rigctl_usage(FILE *out)
{
	fprintf(out,
			"rigctl administers a rig cluster.\n\n"
			"Usage: rigctl COMMAND [OPTION]...\n\n"
			"Commands:\n"
			"  status      the cluster's nodes, peers and followers (monitoring exit codes)\n"
			"  log         the log as lines or JSON lines, and --follow new records\n"
			"  export      the log as JSON lines\n"
			"  import      JSON lines into a standalone node, with their versions\n"
			"  verify      compare the primary's log with each peer's\n"
			"  promote     promote a replica\n"
			"  switchover  hand the primary role over to an in-sync peer\n\n"
			"rigctl COMMAND --help describes a command.  Usage errors exit with 64.\n\n%s",
			rigctl_connection_help);
}

/* The command called name, or NULL. */
static const RigctlCommand *
rigctl_find(const char *name)
{
	for (size_t i = 0; i < RIGCTL_NCOMMANDS; i++)
		if (strcmp(rigctl_commands[i].name, name) == 0)
			return &rigctl_commands[i];
	return NULL;
}

/* --help of a command, on standard output; returns the exit code. */
int
rigctl_help(const char *cmd)
{
	const RigctlCommand *c = rigctl_find(cmd);

	printf("%s\n%s", c->help, rigctl_connection_help);
	return RIGCTL_EXIT_OK;
}

/* A usage error: what is wrong, and where the help is. */
void
rigctl_usage_error(const char *cmd, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: %s%s", rigctl_progname, cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s %s%s--help\" for more information.\n",
			rigctl_progname, cmd ? cmd : "", cmd ? " " : "");
}

/* An error of a command, on standard error. */
void
rigctl_error(const char *cmd, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: %s: ", rigctl_progname, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * A version given on the command line: a whole number >= 0; -1 (after a
 * usage error) otherwise.
 */
long long
rigctl_parse_version(const char *cmd, const char *opt, const char *value)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < 0)
	{
		rigctl_usage_error(cmd, "%s must be a whole number >= 0, not \"%s\"", opt, value);
		return -1;
	}
	return v;
}

/* Dispatch to the command named first; its exit code is rigctl's. */
int
main(int argc, char **argv)
{
	const RigctlCommand *c;

	if (argc < 2)
	{
		rigctl_usage(stderr);
		return RIGCTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
		strcmp(argv[1], "help") == 0)
	{
		if (argc > 2 && strcmp(argv[1], "help") == 0 && rigctl_find(argv[2]))
			return rigctl_help(argv[2]);
		rigctl_usage(stdout);
		return RIGCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
	{
		printf("rigctl (rig) %s\n", RIGCTL_VERSION);
		return RIGCTL_EXIT_OK;
	}
	c = rigctl_find(argv[1]);
	if (c == NULL)
	{
		rigctl_usage_error(NULL, "unknown command \"%s\"", argv[1]);
		return RIGCTL_EXIT_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
