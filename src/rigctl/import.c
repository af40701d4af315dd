/*-------------------------------------------------------------------------
 *
 * import.c
 *	  rigctl import: JSON lines of an export applied to a standalone node
 *	  with their versions, epochs and op times (rig_import(), through the
 *	  handlers), one transaction per batch.
 *
 * A batch is read and checked whole before anything of it is sent: a
 * malformed line stops the import naming its line, and nothing of its
 * batch reaches the node; an error of the node does the same (its
 * transaction is rolled back).  Earlier batches stay committed: a second
 * run skips what the node holds, so it is safe to run again.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/import.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rigctl.h"

/* rig_import()'s arguments, as text */
#define RIGCTL_NPARAMS 7

/* One record of the input, checked, ready to send */
typedef struct RigctlImportRecord
{
	long long	lineno;
	long long	version;
	char	   *params[RIGCTL_NPARAMS];	/* NULL: SQL NULL (the key) */
} RigctlImportRecord;

/* Where an import is */
typedef struct RigctlImport
{
	PGconn	   *conn;
	long long	lineno;			/* lines read */
	long long	last_version;	/* of the last record read */
	long long	applied;
	long long	present;
	char	   *line;
	size_t		linecap;
} RigctlImport;

static int	rigctl_import_parse_args(int argc, char **argv, const char **conninfo, long *batch);
static bool rigctl_import_decode(const char *text, size_t len, RigctlImportRecord *rec,
								 long long prev, char **error);
static bool rigctl_import_field_check(json_t *obj, char **error);
static bool rigctl_import_int(json_t *obj, const char *key, long long *out, char **error);
static bool rigctl_import_str(json_t *obj, const char *key, bool nullable, char **out,
							  char **error);
static int	rigctl_import_read_batch(RigctlImport *im, RigctlImportRecord *recs, long batch);
static bool rigctl_import_send(RigctlImport *im, RigctlImportRecord *recs, int n);
static void rigctl_import_free(RigctlImportRecord *recs, int n);
static char *rigctl_sprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static const char rigctl_import_sql[] =
"SELECT pg_catalog.rig_import($1::bigint, $2::bigint, $3, $4::jsonb, $5, $6::timestamptz, $7)";

static const char *const rigctl_import_fields[] = {
	"version", "epoch", "op_time", "method", "data", "data_text", "idempotency_key", "origin"
};

/* A malloc'd printf. */
static char *
rigctl_sprintf(const char *fmt,...)
{
	va_list		ap;
	int			len;
	char	   *out;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out = malloc(len + 1);
	va_start(ap, fmt);
	vsnprintf(out, len + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* import's options; RIGCTL_EXIT_OK to go on. */
static int
rigctl_import_parse_args(int argc, char **argv, const char **conninfo, long *batch)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"batch-size", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	char	   *end;

	*conninfo = NULL;
	*batch = 1000;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				*conninfo = optarg;
				break;
			case 'b':
				errno = 0;
				*batch = strtol(optarg, &end, 10);
				if (errno || *end != '\0' || end == optarg || *batch < 1 || *batch > 1000000)
				{
					rigctl_usage_error("import", "--batch-size must be 1 to 1000000, not \"%s\"", optarg);
					return RIGCTL_EXIT_USAGE;
				}
				break;
			case 'h':
				rigctl_help("import");
				return RIGCTL_DONE;
			default:
				rigctl_usage_error("import", "unknown or incomplete option \"%s\"", argv[optind - 1]);
				return RIGCTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		rigctl_usage_error("import", "unexpected argument \"%s\" (the records come on standard input)",
						   argv[optind]);
		return RIGCTL_EXIT_USAGE;
	}
	return RIGCTL_EXIT_OK;
}

/* Every field is one a record has; the required ones are there. */
static bool
rigctl_import_field_check(json_t *obj, char **error)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		bool		known = false;

		for (size_t i = 0; i < sizeof(rigctl_import_fields) / sizeof(rigctl_import_fields[0]); i++)
			known |= strcmp(key, rigctl_import_fields[i]) == 0;
		if (!known)
		{
			*error = rigctl_sprintf("unknown field \"%s\"", key);
			return false;
		}
	}
	if ((json_object_get(obj, "data") == NULL) == (json_object_get(obj, "data_text") == NULL))
	{
		*error = strdup("a record has either \"data\" or \"data_text\"");
		return false;
	}
	return true;
}

/* A required positive integer field. */
static bool
rigctl_import_int(json_t *obj, const char *key, long long *out, char **error)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 1)
	{
		*error = rigctl_sprintf("\"%s\" must be a whole number >= 1", key);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* A string field (absent or null allowed if nullable: *out NULL). */
static bool
rigctl_import_str(json_t *obj, const char *key, bool nullable, char **out, char **error)
{
	json_t	   *v = json_object_get(obj, key);

	*out = NULL;
	if (nullable && (v == NULL || json_is_null(v)))
		return true;
	if (v == NULL || !json_is_string(v) || json_string_length(v) == 0)
	{
		*error = rigctl_sprintf("\"%s\" must be a non-empty string%s", key, nullable ? " or null" : "");
		return false;
	}
	*out = strdup(json_string_value(v));
	return true;
}

/*
 * Decode one line of len bytes strictly (one JSON object, no NUL byte, no
 * duplicate key, no unknown field, each field of its type, no number in
 * "data" that decoding could change, versions rising) into rig_import()'s
 * arguments; false and *error otherwise.
 */
static bool
rigctl_import_decode(const char *text, size_t len, RigctlImportRecord *rec, long long prev,
					 char **error)
{
	json_error_t jerr;
	json_t	   *obj;
	json_t	   *data;
	long long	epoch;
	bool		ok = false;

	memset(rec->params, 0, sizeof(rec->params));
	if (len == 0)
	{
		*error = strdup("empty line");
		return false;
	}
	/* (JSON text never holds one: the bytes after it would be ignored) */
	if (strlen(text) != len)
	{
		*error = rigctl_sprintf("a NUL byte at column %zu", strlen(text) + 1);
		return false;
	}
	obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
	{
		*error = rigctl_sprintf("invalid JSON at column %d: %s", jerr.column, jerr.text);
		return false;
	}
	if (!json_is_object(obj))
		*error = strdup("a record must be a JSON object");
	else if (rigctl_import_field_check(obj, error) &&
			 rigctl_import_int(obj, "version", &rec->version, error) &&
			 rigctl_import_int(obj, "epoch", &epoch, error) &&
			 rigctl_import_str(obj, "method", false, &rec->params[2], error) &&
			 rigctl_import_str(obj, "idempotency_key", true, &rec->params[4], error) &&
			 rigctl_import_str(obj, "op_time", false, &rec->params[5], error) &&
			 rigctl_import_str(obj, "origin", false, &rec->params[6], error))
	{
		if (rec->version <= prev)
			*error = rigctl_sprintf("version %lld does not follow version %lld (records come in version order)",
									rec->version, prev);
		else if ((data = json_object_get(obj, "data")) != NULL && rigctl_json_has_real(data))
			*error = strdup("\"data\" holds a number with a fraction or an exponent, which JSON "
							"decoding may change (0.1, 1.50): give the payload's exact text as "
							"\"data_text\" instead");
		else if (data != NULL)
			ok = (rec->params[3] = json_dumps(data, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)) != NULL;
		else if (!json_is_string(json_object_get(obj, "data_text")))
			*error = strdup("\"data_text\" must be a string");
		else
			ok = (rec->params[3] = strdup(json_string_value(json_object_get(obj, "data_text")))) != NULL;
		rec->params[0] = rigctl_sprintf("%lld", rec->version);
		rec->params[1] = rigctl_sprintf("%lld", epoch);
	}
	json_decref(obj);
	return ok;
}

/*
 * Read and check up to batch records; how many (0 at the end of input),
 * -1 after reporting a malformed line.
 */
static int
rigctl_import_read_batch(RigctlImport *im, RigctlImportRecord *recs, long batch)
{
	int			n = 0;
	ssize_t		len;
	char	   *error = NULL;

	while (n < batch && (len = getline(&im->line, &im->linecap, stdin)) >= 0)
	{
		im->lineno++;
		if (len > 0 && im->line[len - 1] == '\n')
			im->line[--len] = '\0';
		recs[n].lineno = im->lineno;
		if (!rigctl_import_decode(im->line, (size_t) len, &recs[n], im->last_version, &error))
		{
			rigctl_error("import", "line %lld: %s", im->lineno, error);
			free(error);
			rigctl_import_free(recs, n + 1);
			return -1;
		}
		im->last_version = recs[n].version;
		n++;
	}
	if (ferror(stdin))
	{
		rigctl_error("import", "could not read standard input after line %lld", im->lineno);
		rigctl_import_free(recs, n);
		return -1;
	}
	return n;
}

/* Apply a batch in one transaction; false after reporting the failing line. */
static bool
rigctl_import_send(RigctlImport *im, RigctlImportRecord *recs, int n)
{
	char	   *error = NULL;
	long long	applied = 0;

	if (!rigctl_command_ok(im->conn, "BEGIN", &error))
		goto fail;
	for (int i = 0; i < n; i++)
	{
		PGresult   *res = rigctl_query(im->conn, rigctl_import_sql, RIGCTL_NPARAMS,
									   (const char *const *) recs[i].params, &error);

		if (res == NULL)
		{
			rigctl_error("import", "line %lld (version %lld): %s", recs[i].lineno, recs[i].version, error);
			free(error);
			PQclear(PQexec(im->conn, "ROLLBACK"));
			return false;
		}
		applied += strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
	}
	if (rigctl_command_ok(im->conn, "COMMIT", &error))
	{
		im->applied += applied;
		im->present += n - applied;
		return true;
	}
fail:
	rigctl_error("import", "lines %lld to %lld: %s", recs[0].lineno, recs[n - 1].lineno, error);
	free(error);
	return false;
}

/* Free what a batch's records hold. */
static void
rigctl_import_free(RigctlImportRecord *recs, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < RIGCTL_NPARAMS; j++)
		{
			free(recs[i].params[j]);
			recs[i].params[j] = NULL;
		}
}

/* rigctl import */
int
rigctl_cmd_import(int argc, char **argv)
{
	const char *conninfo;
	long		batch;
	RigctlImport im = {0};
	RigctlImportRecord *recs;
	char	   *error = NULL;
	int			n;
	int			rc = rigctl_import_parse_args(argc, argv, &conninfo, &batch);

	if (rc != RIGCTL_EXIT_OK)
		return rc == RIGCTL_DONE ? RIGCTL_EXIT_OK : rc;
	if ((im.conn = rigctl_connect(conninfo, &error)) == NULL)
	{
		char	   *shown = rigctl_conninfo_display(conninfo);

		rigctl_error("import", "could not connect to %s: %s", shown, error);
		free(shown);
		free(error);
		return RIGCTL_EXIT_FAIL;
	}
	recs = calloc(batch, sizeof(RigctlImportRecord));
	rc = RIGCTL_EXIT_OK;
	while ((n = rigctl_import_read_batch(&im, recs, batch)) > 0)
	{
		bool		sent = rigctl_import_send(&im, recs, n);

		rigctl_import_free(recs, n);
		if (!sent)
		{
			rc = RIGCTL_EXIT_FAIL;
			break;
		}
	}
	if (n < 0)
		rc = RIGCTL_EXIT_FAIL;
	printf("%s: import: %lld records applied, %lld already present%s\n", rigctl_progname,
		   im.applied, im.present, rc == RIGCTL_EXIT_OK ? "" : " (before the error)");
	free(recs);
	free(im.line);
	PQfinish(im.conn);
	return rc;
}
