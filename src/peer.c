/*-------------------------------------------------------------------------
 *
 * peer.c
 *	  Managing the peers of a primary: rig_add_peer(), rig_drop_peer()
 *	  and rig_set_peer_mode().  The list itself is peerlist.c's; shipping
 *	  the log to a peer is ship.c's.
 *
 * Adding a peer checks it (extension, rig_replication, prepared
 * transactions enabled, same handlers, compatible history), makes it this
 * primary's replica, ships it the log in two phases, and only then records
 * it: first without blocking writers, up to the watermark; then under the
 * exclusive commit gate, everything committed since.  Transactions that
 * commit after the gate is released see the new peer and prepare on it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/peer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/genam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "compare.h"
#include "conn.h"
#include "node.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "ship.h"
#include "verify.h"
#include "watermark.h"
#include "wire.h"
#include "xact.h"

static void rig_check_peer(RigConn *rc, const char *name);
static int64 rig_check_peer_history(RigConn *rc, const char *name);
static void rig_add_peer_work(RigConn *rc, const char *name,
							  const char *conninfo, const char *mode);

PG_FUNCTION_INFO_V1(rig_add_peer);
PG_FUNCTION_INFO_V1(rig_drop_peer);
PG_FUNCTION_INFO_V1(rig_set_peer_mode);

/* The peer must run rig, let us replicate, and be able to prepare. */
static void
rig_check_peer(RigConn *rc, const char *name)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	PGresult   *res;

	res = rig_conn_query(rc, "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'rig'",
						 0, NULL, deadline);
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" does not have the rig extension", name),
				 errhint("Run CREATE EXTENSION rig on the peer, in the database its rig.database names.")));
	}
	PQclear(res);

	res = rig_conn_query(rc, "SELECT pg_catalog.pg_has_role('rig_replication', 'MEMBER'), "
						 "current_user, pg_catalog.current_setting('max_prepared_transactions')::int",
						 0, NULL, deadline);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		char	   *user = pstrdup(PQgetvalue(res, 0, 1));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" on peer \"%s\" is not a member of rig_replication", user, name),
				 errhint("On the peer, run GRANT rig_replication TO %s.", user)));
	}
	if (atoi(PQgetvalue(res, 0, 2)) == 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" has max_prepared_transactions = 0", name),
				 errdetail("rig prepares every transaction on its sync peers."),
				 errhint("Set max_prepared_transactions to at least max_connections on the peer and restart it.")));
	}
	PQclear(res);
}

/*
 * The peer must be empty or already our replica with a log that is a prefix
 * of ours.  Returns the peer's last version.
 */
static int64
rig_check_peer_history(RigConn *rc, const char *name)
{
	PGresult   *res;
	int64		last;
	char	   *peer_primary;
	char	   *node_name;
	bool		is_replica;
	char	   *last_row;

	res = rig_conn_query(rc, "SELECT node_name, role, primary_name, last_version, "
						 "(SELECT l.epoch || '/' || l.method || '/' || md5(l.data::text) "
						 "   FROM rig.log l WHERE l.version = i.last_version) "
						 "FROM pg_catalog.rig_node_info() i",
						 0, NULL, rig_deadline(rig_sync_timeout));
	if (strcmp(PQgetvalue(res, 0, 0), rig_node_name()) == 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("peer \"%s\" is this node", name)));
	}
	node_name = pstrdup(PQgetvalue(res, 0, 0));
	is_replica = strcmp(PQgetvalue(res, 0, 1), "replica") == 0;
	peer_primary = pstrdup(PQgetvalue(res, 0, 2));
	last = strtoi64(PQgetvalue(res, 0, 3), NULL, 10);
	last_row = pstrdup(PQgetvalue(res, 0, 4));
	PQclear(res);

	if (is_replica && strcmp(peer_primary, rig_node_name()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" is a replica of another primary, \"%s\"", name, peer_primary),
				 errhint("Drop it from that primary and rebuild it before adding it here.")));
	if (!is_replica && last > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" is a primary with its own log", name),
				 errdetail("Its log reaches version " INT64_FORMAT ".", last),
				 errhint("Only an empty node or a replica of this primary can be added; rebuild the peer with DROP EXTENSION rig; CREATE EXTENSION rig.")));
	/* peers are known by their node names, so one node cannot join twice */
	if (strcmp(node_name, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the node at that conninfo is named \"%s\", not \"%s\"", node_name, name),
				 errhint("A peer's name is its rig.node_name: use rig_add_peer('%s', ...).", node_name)));
	if (last > 0)
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(last)};
		char	   *local_row = NULL;

		SPI_connect();
		if (SPI_execute_with_args("SELECT l.epoch || '/' || l.method || '/' || md5(l.data::text) "
								  "FROM rig.log l WHERE l.version = $1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read rig.log");
		if (SPI_processed == 1)
			local_row = MemoryContextStrdup(TopTransactionContext,
											SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SPI_finish();
		if (local_row == NULL || strcmp(local_row, last_row) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("peer \"%s\" has a log that diverged from this node's", name),
					 errdetail("Version " INT64_FORMAT " differs between the nodes.", last),
					 errhint("Rebuild the peer: DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers; add it again.")));
	}
	return last;
}

/* The steps of rig_add_peer() once connected. */
static void
rig_add_peer_work(RigConn *rc, const char *name, const char *conninfo,
				  const char *mode)
{
	int64		shipped;
	int64		wm;
	char		epoch[32];
	const char *params[2];
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];

	rig_check_peer(rc, name);
	rig_check_handlers_match(rc, name);
	(void) rig_check_peer_history(rc, name);

	snprintf(epoch, sizeof(epoch), INT64_FORMAT, rig_node_epoch());
	params[0] = rig_node_name();
	params[1] = epoch;
	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_become_replica($1, $2)",
						   2, params, rig_deadline(rig_sync_timeout)));

	/*
	 * Start from the verified horizon, not the peer's last version: a failed
	 * earlier attempt may have left holes (its connections commit
	 * independently), which this ships first.
	 */
	shipped = rig_verified_start(rc, name, conninfo, 0, false);

	/* catch up without blocking writers, then the tail under the gate */
	shipped = rig_ship_log(name, conninfo, shipped, rig_compute_watermark());
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	wm = rig_compute_watermark();
	shipped = rig_ship_log(name, conninfo, shipped, -1);
	rig_peer_forget(name);
	rig_peer_event(name, RIG_PEER_CAUGHT_UP, shipped, "added");
	rig_peer_set_horizon(name, wm);
	/* it holds every version up to wm now: its watermark may rise that far */
	rig_send_confirm(name, conninfo, wm);

	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(conninfo);
	args[2] = CStringGetTextDatum(mode);
	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO rig.peers (name, conninfo, mode) VALUES ($1, $2, $3)",
							  3, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record peer");
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("peers"));
}

/* SQL: make a node this primary's replica and commit on it from now on. */
Datum
rig_add_peer(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *conninfo;
	char	   *mode;
	RigConn		rc;
	ListCell   *lc;

	rig_check_database();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer name, conninfo and mode must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	mode = text_to_cstring(PG_GETARG_TEXT_PP(2));
	rig_check_identifier("peer name", name);
	(void) rig_peer_parse_mode(mode);
	rig_xact_refuse_ops("rig_add_peer()");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_add_peer() requires the READ COMMITTED isolation level")));
	if (rig_node_is_replica())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a replica cannot have peers"),
				 errhint("Add peers on the primary \"%s\".", rig_node_primary_name())));
	if (strcmp(name, rig_node_name()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("peer name \"%s\" is this node's name", name)));
	foreach(lc, rig_peer_list())
	{
		if (strcmp(((RigPeer *) lfirst(lc))->name, name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("peer \"%s\" already exists", name),
					 errhint("rig_set_peer_mode() changes its mode; rig_drop_peer() removes it.")));
	}

	rig_conn_check_conninfo(name, conninfo);
	/* inside the PG_TRY: a cancel while connecting must not leak the PGconn */
	memset(&rc, 0, sizeof(rc));
	PG_TRY();
	{
		rig_conn_open(&rc, name, conninfo, rig_deadline(rig_sync_timeout));
		rig_conn_check_used_password(&rc);
		rig_add_peer_work(&rc, name, conninfo, mode);
	}
	PG_CATCH();
	{
		rig_conn_discard(&rc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_conn_discard(&rc);
	PG_RETURN_VOID();
}

/* SQL: stop replicating to a peer (it stays a replica until rebuilt). */
Datum
rig_drop_peer(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer name must not be NULL")));
	args[0] = PG_GETARG_DATUM(0);
	/* no commit may be preparing on the peer while it leaves */
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM rig.peers WHERE name = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop peer");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", TextDatumGetCString(args[0]))));
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("peers"));
	rig_peer_forget(TextDatumGetCString(args[0]));
	PG_RETURN_VOID();
}

/* SQL: change how commits treat a peer. */
Datum
rig_set_peer_mode(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	RigPeerMode mode;
	RigPeerMode old_mode;
	char	   *name;

	rig_check_database();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer name and mode must not be NULL")));
	mode = rig_peer_parse_mode(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	name = TextDatumGetCString(args[0]);
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	old_mode = rig_peer_mode(name);
	SPI_connect();
	if (SPI_execute_with_args("UPDATE rig.peers SET mode = $2 WHERE name = $1",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update peer");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", name)));
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("peers"));

	/* an async peer, or a lagging semisync one, must catch up before sync */
	if (mode != RIG_PEER_ASYNC && rig_peer_get_state(name) != RIG_STATE_DIVERGED &&
		(old_mode == RIG_PEER_ASYNC || rig_peer_get_state(name) != RIG_STATE_IN_SYNC))
		rig_peer_event(name, RIG_PEER_LAGGING, 0, NULL);
	PG_RETURN_VOID();
}
