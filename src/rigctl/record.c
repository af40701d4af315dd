/*-------------------------------------------------------------------------
 *
 * record.c
 *	  JSON of rigctl's output (jansson only): a log record as one JSON
 *	  line, and documents printed whole.
 *
 * A record's data is written as a JSON value when jansson gives back
 * exactly the jsonb text the node holds (jansson keeps numbers as int64 or
 * double: 0.1, 1.50 or a 30-digit integer would come back different), and
 * as data_text, that exact text in a string, otherwise; so an import gives
 * every node the identical record.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/record.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rigctl.h"

/* The type OIDs rigctl_row_json() tells apart (pg_type.dat) */
#define RIGCTL_BOOLOID		16
#define RIGCTL_INT8OID		20
#define RIGCTL_INT4OID		23
#define RIGCTL_FLOAT8OID	701

static void rigctl_record_set_data(json_t *rec, const char *text);

/* A JSON string of value, or null. */
json_t *
rigctl_json_text_or_null(const char *value, bool isnull)
{
	return isnull ? json_null() : json_string(value);
}

/*
 * Whether a JSON value holds a number with a fraction or an exponent
 * anywhere: jansson keeps it as a double, so it may not come back as
 * written (0.1 as 0.10000000000000001, 1.50 as 1.5).
 */
bool
rigctl_json_has_real(json_t *value)
{
	const char *key;
	json_t	   *item;
	size_t		i;

	if (json_is_real(value))
		return true;
	if (json_is_object(value))
		json_object_foreach(value, key, item)
			if (rigctl_json_has_real(item))
				return true;
	if (json_is_array(value))
		json_array_foreach(value, i, item)
			if (rigctl_json_has_real(item))
				return true;
	return false;
}

/*
 * data as a JSON value when it survives jansson unchanged and holds no
 * number an import would have to decode as a double (import refuses
 * those in "data"), else as data_text (jsonb prints ", " and ": " between
 * items, in its key order, as jansson does without JSON_COMPACT).
 */
static void
rigctl_record_set_data(json_t *rec, const char *text)
{
	json_error_t err;
	json_t	   *value = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	char	   *back = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;

	if (back != NULL && strcmp(back, text) == 0 && !rigctl_json_has_real(value))
		json_object_set_new(rec, "data", value);
	else
	{
		json_decref(value);
		json_object_set_new(rec, "data_text", json_string(text));
	}
	free(back);
}

/*
 * One log record, from a row of (version, epoch, op_time, method, data,
 * idempotency_key, origin), as a JSON object in that order.
 */
json_t *
rigctl_record_encode(PGresult *res, int row)
{
	json_t	   *rec = json_object();

	json_object_set_new(rec, "version", json_integer(strtoll(PQgetvalue(res, row, 0), NULL, 10)));
	json_object_set_new(rec, "epoch", json_integer(strtoll(PQgetvalue(res, row, 1), NULL, 10)));
	json_object_set_new(rec, "op_time", json_string(PQgetvalue(res, row, 2)));
	json_object_set_new(rec, "method", json_string(PQgetvalue(res, row, 3)));
	rigctl_record_set_data(rec, PQgetvalue(res, row, 4));
	json_object_set_new(rec, "idempotency_key",
						rigctl_json_text_or_null(PQgetvalue(res, row, 5), PQgetisnull(res, row, 5)));
	json_object_set_new(rec, "origin", json_string(PQgetvalue(res, row, 6)));
	return rec;
}

/*
 * A row as a JSON object named by its columns: integers, floats and
 * booleans as JSON numbers and booleans, SQL NULL as null, the rest as
 * strings.
 */
json_t *
rigctl_row_json(PGresult *res, int row)
{
	json_t	   *obj = json_object();

	for (int i = 0; i < PQnfields(res); i++)
	{
		const char *v = PQgetvalue(res, row, i);
		json_t	   *j;

		if (PQgetisnull(res, row, i))
			j = json_null();
		else if (PQftype(res, i) == RIGCTL_INT8OID || PQftype(res, i) == RIGCTL_INT4OID)
			j = json_integer(strtoll(v, NULL, 10));
		else if (PQftype(res, i) == RIGCTL_FLOAT8OID)
			j = json_real(strtod(v, NULL));
		else if (PQftype(res, i) == RIGCTL_BOOLOID)
			j = json_boolean(v[0] == 't');
		else
			j = json_string(v);
		json_object_set_new(obj, PQfname(res, i), j);
	}
	return obj;
}

/* A value as one line of compact JSON (malloc'd), in its keys' order. */
char *
rigctl_json_line(json_t *value)
{
	return json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* A document on standard output, indented for people and tools alike. */
void
rigctl_print_json(json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}
