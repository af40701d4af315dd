/*-------------------------------------------------------------------------
 *
 * follow.c
 *	  Async followers: nodes that pull their primary's log.
 *
 * rig_follow(primary, conninfo) on an empty node makes it a replica of
 * that primary without the primary knowing it: the follower's worker
 * pulls rig_log_since(<its last version>) from the primary and applies
 * each record like rig_apply_remote would.  rig_log_since never returns a
 * record past the primary's watermark, so every record at or below the
 * follower's last version that will ever exist has already arrived, and
 * pulling from the last version never leaves a gap.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/follow.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "conn.h"
#include "follow.h"
#include "node.h"
#include "oplog.h"
#include "replica.h"
#include "settings.h"
#include "compare.h"
#include "xact.h"

/* Records pulled per query, and queries per worker round */
#define RIG_FOLLOW_BATCH	1000
#define RIG_FOLLOW_BATCHES	20

/* Did the last round find the primary's handlers or settings other than ours? */
static bool rig_follow_mismatch = false;

static bool rig_follow_source(char **primary, char **conninfo);
static void rig_follow_check_primary(RigConn *rc, const char *primary);

PG_FUNCTION_INFO_V1(rig_follow);

/* The primary this follower pulls from, from rig.follow_source. */
static bool
rig_follow_source(char **primary, char **conninfo)
{
	bool		found = false;

	SPI_connect();
	if (SPI_execute("SELECT primary_name, conninfo FROM rig.follow_source", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.follow_source");
	if (SPI_processed == 1)
	{
		*primary = MemoryContextStrdup(TopTransactionContext,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		*conninfo = MemoryContextStrdup(TopTransactionContext,
										SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		found = true;
	}
	SPI_finish();
	return found;
}

/*
 * Before a round applies anything: the primary's handlers and the settings
 * they run under (rig.handler_search_path, _timezone, _locale) must still
 * be ours, as rig_follow() checked once; a reload here since would make
 * this node store other rows for the same ops, and nothing else compares
 * a follower with its primary.  While they differ the round throws (the
 * worker reports it and rig.status keeps it) and nothing is applied; the
 * first round that finds them alike again says so.
 */
static void
rig_follow_check_primary(RigConn *rc, const char *primary)
{
	PG_TRY();
	{
		rig_check_handlers_match(rc, primary, true);
	}
	PG_CATCH();
	{
		/* a mismatch, not a lost connection */
		if (geterrcode() == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
			rig_follow_mismatch = true;
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (rig_follow_mismatch)
		ereport(LOG,
				(errmsg("rig follower applies the log of \"%s\" again", primary),
				 errdetail("Its handlers and the settings they run under match this node's again.")));
	rig_follow_mismatch = false;
}

/*
 * Worker: pull what the primary has beyond our last version and apply it.
 * Returns how many records were applied.
 */
int64
rig_follow_round(void)
{
	char	   *primary;
	char	   *conninfo;
	RigConn    *rc;
	int64		applied = 0;

	if (!rig_node_is_replica() || !rig_follow_source(&primary, &conninfo))
		return 0;

	rc = rig_conn_get(primary, conninfo, rig_deadline(rig_sync_timeout));
	rig_follow_check_primary(rc, primary);
	for (int b = 0; b < RIG_FOLLOW_BATCHES; b++)
	{
		char		after[32];
		const char *params[2] = {after, rig_node_name()};
		PGresult   *res;
		int			n;

		snprintf(after, sizeof(after), INT64_FORMAT, rig_log_last_version());
		/* tell the primary what we hold, so that it keeps what we lack */
		if (b == 0)
			PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_follower_ack($2, $1)",
								   2, params, rig_deadline(rig_sync_timeout)));
		res = rig_conn_query(rc,
							 "SELECT version, epoch, method, data::text, idempotency_key, "
							 "(extract(epoch FROM op_time) * 1000000)::bigint, origin "
							 "FROM pg_catalog.rig_log_since($1, " CppAsString2(RIG_FOLLOW_BATCH) ")",
							 1, params, rig_deadline(rig_sync_timeout));
		n = PQntuples(res);
		for (int i = 0; i < n; i++)
		{
			int64		unix_us = strtoi64(PQgetvalue(res, i, 5), NULL, 10);
			TimestampTz op_time = unix_us -
				((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
			Jsonb	   *data = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																  CStringGetDatum(PQgetvalue(res, i, 3))));

			rig_apply_op(strtoi64(PQgetvalue(res, i, 0), NULL, 10),
						 strtoi64(PQgetvalue(res, i, 1), NULL, 10),
						 PQgetvalue(res, i, 2), data,
						 PQgetisnull(res, i, 4) ? NULL : cstring_to_text(PQgetvalue(res, i, 4)),
						 op_time, PQgetvalue(res, i, 6), NULL, -1);
			CommandCounterIncrement();
			applied++;
		}
		PQclear(res);
		if (n < RIG_FOLLOW_BATCH)
			break;
	}
	/* pulled in order and never past the primary's watermark: no holes */
	rig_xact_note_confirmed(rig_log_last_version());
	return applied;
}

/*
 * SQL: make this (empty) node an async follower of a primary, which it
 * reaches with conninfo as a role holding rig_reader.
 */
Datum
rig_follow(PG_FUNCTION_ARGS)
{
	char	   *primary;
	char	   *conninfo;
	RigConn		rc;
	PGresult   *res;
	const char *params[1];
	int64		epoch;

	rig_check_database();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("primary name and conninfo must not be NULL")));
	primary = text_to_cstring(PG_GETARG_TEXT_PP(0));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	rig_check_identifier("node name", primary);

	rig_conn_check_conninfo(primary, conninfo);
	/* inside the PG_TRY: a cancel while connecting must not leak the PGconn */
	memset(&rc, 0, sizeof(rc));
	PG_TRY();
	{
		rig_conn_open(&rc, primary, conninfo, rig_deadline(rig_sync_timeout));
		rig_conn_check_used_password(&rc);
		res = rig_conn_query(&rc, "SELECT node_name, role, epoch FROM pg_catalog.rig_node_info()",
							 0, NULL, rig_deadline(rig_sync_timeout));
		if (strcmp(PQgetvalue(res, 0, 0), primary) != 0 ||
			strcmp(PQgetvalue(res, 0, 1), "primary") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the node at that conninfo is \"%s\" (%s), not primary \"%s\"",
							PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), primary)));
		epoch = strtoi64(PQgetvalue(res, 0, 2), NULL, 10);
		PQclear(res);
		rig_check_handlers_match(&rc, primary, true);
		/* register with the primary before it could compact what we need */
		params[0] = rig_node_name();
		PQclear(rig_conn_query(&rc, "SELECT pg_catalog.rig_follower_ack($1, 0)",
							   1, params, rig_deadline(rig_sync_timeout)));
	}
	PG_CATCH();
	{
		rig_conn_discard(&rc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_conn_discard(&rc);

	rig_set_replica_of(primary, epoch, NULL);
	rig_follow_source_set(primary, conninfo);
	PG_RETURN_VOID();
}

/*
 * Pull from primary at conninfo from now on (rig.follow_source, written as
 * its owner: rig_switchover() calls this for whoever may run it).
 */
void
rig_follow_source_set(const char *primary, const char *conninfo)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(primary), CStringGetTextDatum(conninfo)};

	SPI_connect();
	if (rig_spi_as_owner("follow_source", "DELETE FROM rig.follow_source", 0, NULL, NULL, NULL) != SPI_OK_DELETE ||
		rig_spi_as_owner("follow_source",
						 "INSERT INTO rig.follow_source (primary_name, conninfo) VALUES ($1, $2)",
						 2, types, args, NULL) != SPI_OK_INSERT)
		elog(ERROR, "could not record the follow source");
	SPI_finish();
}
