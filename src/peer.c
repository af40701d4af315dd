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

#include "bootstrap.h"
#include "catalog.h"
#include "catchup.h"
#include "compact.h"
#include "compare.h"
#include "conn.h"
#include "node.h"
#include "pace.h"
#include "peerlist.h"
#include "peerstate.h"
#include "replica.h"
#include "settings.h"
#include "verify.h"
#include "watermark.h"
#include "wire.h"
#include "xact.h"

/* A node's epochs up to $1, as "epoch:first_version,..." */
#define RIG_EPOCHS_SQL \
	"SELECT coalesce(string_agg(epoch || ':' || first_version, ',' ORDER BY epoch), '') " \
	"FROM rig.epochs WHERE epoch <= $1"

/* Divergent versions named at most in an error */
#define RIG_MAX_DIVERGENT_SHOWN	20

static void rig_check_peer(RigConn *rc, const char *name);
static int64 rig_check_peer_history(RigConn *rc, const char *name);
static void rig_check_last_row(const char *name, int64 last, const char *last_row);
static void rig_check_rejoin(RigConn *rc, const char *name, int64 peer_epoch);
static char *rig_local_epochs(int64 upto, int64 *next_first);
static void rig_refuse_divergent(RigConn *rc, const char *name, List *ranges);
static char *rig_epochs_json(void);
static void rig_tell_mode_work(void *arg);
static void rig_tell_mode(const char *name, RigPeerMode mode);
static void rig_check_lease_over(const char *name, const char *why);
static void rig_make_replica(RigConn *rc, RigBootPlan *boot);
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
 * The peer must be empty, already our replica with a log that is a prefix
 * of ours, or a node of an older epoch (an old primary, or a replica of
 * one) whose history is compatible with ours (rig_check_rejoin).  Returns
 * the peer's last version.
 */
static int64
rig_check_peer_history(RigConn *rc, const char *name)
{
	PGresult   *res;
	int64		last;
	int64		peer_epoch;
	char	   *peer_primary;
	char	   *node_name;
	bool		is_replica;
	bool		older;
	char	   *last_row;

	res = rig_conn_query(rc, "SELECT node_name, role, primary_name, last_version, epoch, "
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
	peer_epoch = strtoi64(PQgetvalue(res, 0, 4), NULL, 10);
	last_row = pstrdup(PQgetvalue(res, 0, 5));
	PQclear(res);

	if (peer_epoch > rig_node_epoch())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" is in epoch " INT64_FORMAT ", newer than this node's epoch " INT64_FORMAT,
						name, peer_epoch, rig_node_epoch()),
				 errdetail("A node was promoted after this one; this node is no longer the primary."),
				 errhint("Make this node a replica of the current primary (rig_add_peer there).")));
	older = peer_epoch < rig_node_epoch();

	if (is_replica && strcmp(peer_primary, rig_node_name()) != 0 && !older)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" is a replica of another primary, \"%s\"", name, peer_primary),
				 errhint("Drop it from that primary and rebuild it before adding it here.")));
	if (!is_replica && last > 0 && !older)
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
	if (older)
		rig_check_rejoin(rc, name, peer_epoch);
	else if (last > 0)
		rig_check_last_row(name, last, last_row);
	return last;
}

/* A replica of ours must hold our record at its last version. */
static void
rig_check_last_row(const char *name, int64 last, const char *last_row)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(last)};
	char	   *local_row = NULL;

	/*
	 * Not read-only: a fresh snapshot, since the peer (a follower pulling
	 * our log) may hold a record this statement's snapshot predates.
	 */
	SPI_connect();
	if (SPI_execute_with_args("SELECT l.epoch || '/' || l.method || '/' || md5(l.data::text) "
							  "FROM rig.log l WHERE l.version = $1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
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

/*
 * A node of an older epoch (an old primary, or a replica of one) may
 * become this primary's replica only if its history is a prefix of ours:
 * the same (epoch, first version) pairs up to its epoch (a bare epoch
 * number would not tell two promotions apart), and no op this node lacks.
 * Every op it holds from the first version of the epoch that superseded it
 * on is one we lack (our ops there carry the newer epoch); below that, the
 * logs are compared by range hashes.  Holes on the peer are fine: ops its
 * clients never saw succeed, which the promotion committed (catch-up ships
 * them).  Otherwise refuse, listing the versions only the peer holds with
 * their idempotency keys, so the operator can reconcile them.
 */
static void
rig_check_rejoin(RigConn *rc, const char *name, int64 peer_epoch)
{
	char		epoch_arg[32];
	const char *params[1] = {epoch_arg};
	PGresult   *res;
	char	   *theirs;
	char	   *ours;
	int64		superseded_at;
	RigVerifyResult vres;
	List	   *ranges = NIL;
	ListCell   *lc;

	snprintf(epoch_arg, sizeof(epoch_arg), INT64_FORMAT, peer_epoch);
	res = rig_conn_query(rc, RIG_EPOCHS_SQL, 1, params, rig_deadline(rig_sync_timeout));
	theirs = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	ours = rig_local_epochs(peer_epoch, &superseded_at);
	if (strcmp(theirs, ours) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("peer \"%s\" has another history of epochs than this node", name),
				 errdetail("Epochs (epoch:first version) up to %s there: %s; here: %s.",
						   epoch_arg, theirs[0] ? theirs : "(none)", ours[0] ? ours : "(none)"),
				 errhint("Rebuild the peer from this node: on it, DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers; then rig_add_peer('%s', ...) here.",
						 name)));

	/* what differs below the first version of the newer epoch ... */
	rig_verify_log(rc, 0, &vres);
	foreach(lc, vres.diffs)
	{
		RigLogDiff *d = lfirst(lc);

		if (d->kind != RIG_DIFF_MISSING && d->first < superseded_at)
			ranges = lappend(ranges, d);
	}
	/* ... and everything the peer holds from it on */
	{
		RigLogDiff *tail = palloc(sizeof(RigLogDiff));

		tail->first = superseded_at;
		tail->last = PG_INT64_MAX;
		tail->kind = RIG_DIFF_EXTRA;
		ranges = lappend(ranges, tail);
	}
	rig_refuse_divergent(rc, name, ranges);
}

/*
 * This node's epochs up to upto, as RIG_EPOCHS_SQL gives them; sets
 * *next_first to the first version of the first epoch after upto.
 */
static char *
rig_local_epochs(int64 upto, int64 *next_first)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(upto)};
	char	   *epochs;
	bool		isnull;
	Datum		d;

	SPI_connect();
	if (SPI_execute_with_args(RIG_EPOCHS_SQL, 1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.epochs");
	epochs = MemoryContextStrdup(TopTransactionContext,
								 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	if (SPI_execute_with_args("SELECT first_version FROM rig.epochs WHERE epoch > $1 "
							  "ORDER BY epoch LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.epochs");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig.epochs on node \"%s\" has no epoch after " INT64_FORMAT,
						rig_node_name(), upto),
				 errdetail("This node is in epoch " INT64_FORMAT ", but its history does not say where it began.",
						   rig_node_epoch())));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*next_first = DatumGetInt64(d);
	SPI_finish();
	return epochs;
}

/*
 * Refuse a peer that holds ops in ranges (RigLogDiff, versions only it
 * holds or holds otherwise), naming them with their idempotency keys; do
 * nothing when it holds none there.
 */
static void
rig_refuse_divergent(RigConn *rc, const char *name, List *ranges)
{
	StringInfoData shown;
	int64		count = 0;
	ListCell   *lc;

	initStringInfo(&shown);
	foreach(lc, ranges)
	{
		RigLogDiff *d = lfirst(lc);
		char		p[3][32];
		const char *params[3] = {p[0], p[1], p[2]};
		PGresult   *res;

		snprintf(p[0], sizeof(p[0]), INT64_FORMAT, d->first);
		snprintf(p[1], sizeof(p[1]), INT64_FORMAT, d->last);
		snprintf(p[2], sizeof(p[2]), "%d", RIG_MAX_DIVERGENT_SHOWN + 1);
		res = rig_conn_query(rc, "SELECT (SELECT count(*) FROM rig.log WHERE version BETWEEN $1 AND $2), "
							 "version, coalesce('key ' || quote_literal(idempotency_key), 'no key') "
							 "FROM rig.log WHERE version BETWEEN $1 AND $2 ORDER BY version LIMIT $3",
							 3, params, rig_deadline(rig_sync_timeout));
		if (PQntuples(res) > 0)
			count += strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
		for (int i = 0; i < PQntuples(res) && shown.len < 2000; i++)
			appendStringInfo(&shown, "%sversion %s (%s)", shown.len > 0 ? ", " : "",
							 PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		PQclear(res);
	}
	if (count == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("peer \"%s\" holds " INT64_FORMAT " operation(s) this node does not have", name, count),
			 errdetail("It committed them after this node's history left it (a promotion it did not take part in): %s%s.",
					   shown.data, count > RIG_MAX_DIVERGENT_SHOWN ? ", ..." : ""),
			 errhint("Reconcile them (read them in rig.log on \"%s\" and redo what is still wanted here with rig_do), "
					 "then rebuild the peer from this node: on it, DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers; "
					 "then rig_add_peer('%s', ...) here.", name, name)));
}

/* This node's rig.epochs as a JSON array, for its new replica to record. */
static char *
rig_epochs_json(void)
{
	char	   *json;

	SPI_connect();
	if (SPI_execute(RIG_EPOCHS_JSON_SQL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.epochs");
	json = MemoryContextStrdup(TopTransactionContext,
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return json;
}

/*
 * Make the peer our replica and, when it is to load a snapshot, have it
 * begin that (checking it can) in the same remote transaction: a peer
 * that refuses the snapshot stays what it was, not our replica.
 */
static void
rig_make_replica(RigConn *rc, RigBootPlan *boot)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	char		epoch[32];
	const char *params[3];

	snprintf(epoch, sizeof(epoch), INT64_FORMAT, rig_node_epoch());
	params[0] = rig_node_name();
	params[1] = epoch;
	params[2] = rig_epochs_json();
	PQclear(rig_conn_query(rc, "BEGIN", 0, NULL, deadline));
	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_become_replica($1, $2, $3)",
						   3, params, deadline));
	if (boot->load)
		rig_bootstrap_begin_remote(rc, boot);
	PQclear(rig_conn_query(rc, "COMMIT", 0, NULL, rig_deadline(rig_sync_timeout)));
}

/* The steps of rig_add_peer() once connected. */
static void
rig_add_peer_work(RigConn *rc, const char *name, const char *conninfo,
				  const char *mode)
{
	int64		shipped;
	int64		wm;
	RigPace		pace;
	RigBootPlan boot;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];

	/* nothing the new node lacks is compacted away until it is a peer */
	rig_compact_hold();
	rig_check_peer(rc, name);
	rig_check_handlers_match(rc, name, false);
	(void) rig_check_peer_history(rc, name);
	rig_bootstrap_plan(rc, name, &boot);
	rig_make_replica(rc, &boot);
	rig_fault("add_peer_after_become_replica", true);

	/*
	 * Start from the verified horizon, not the peer's last version: a failed
	 * earlier attempt may have left holes (its connections commit
	 * independently), which this ships first.  An empty peer that needs
	 * compacted records is bootstrapped from the latest snapshot first, and
	 * the horizon starts at the snapshot's W.
	 */
	shipped = rig_verified_start(rc, name, conninfo,
								 rig_bootstrap_peer(rc, name, &boot), false);

	/*
	 * Catch up without blocking writers, at rig.bootstrap_max_rate like the
	 * snapshot's chunks, in passes until the backlog is short; then the
	 * tail under the gate, at full speed, since writers wait for it.
	 */
	rig_pace_start(&pace, &rig_bootstrap_max_rate);
	shipped = rig_ship_backlog(name, conninfo, shipped, &pace, false, NULL);
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	wm = rig_compute_watermark();
	shipped = rig_ship_tail(name, conninfo, shipped);
	rig_peer_forget(name);
	rig_peer_event(name, RIG_PEER_CAUGHT_UP, shipped, "added");
	rig_peer_set_horizon(name, wm);
	/* it holds every version up to wm now: its watermark may rise that far */
	rig_send_confirm(name, conninfo, wm, rig_peer_parse_mode(mode));

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
	/* a node being promoted, or one superseded, takes no peers either */
	if (strcmp(rig_node_role(), "primary") != 0 || rig_node_fenced(NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" cannot add peers while its role is \"%s\"",
						rig_node_name(), rig_node_fenced(NULL) ? "fenced" : rig_node_role()),
				 errhint("A promoting node takes peers once rig.status shows it primary; a fenced node rejoins the new primary as its replica.")));
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
	/* it must stop saying it is safe to promote (rig_set_peer_mode's rule) */
	if (rig_peer_mode(TextDatumGetCString(args[0])) != RIG_PEER_ASYNC)
		rig_tell_mode(TextDatumGetCString(args[0]), RIG_PEER_ASYNC);
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
	/* weaker than before: the peer must stop claiming it is safe to promote */
	if (mode > old_mode)
		rig_tell_mode(name, mode);
	PG_RETURN_VOID();
}

/*
 * A peer that cannot be told it is no longer waited for may still say it
 * is safe to promote, for rig.promote_lease after it last heard from this
 * node (counted from this server's start when it has not heard since):
 * weakening it before that lease is over could let a failover manager
 * promote it without the commits acknowledged from now on.  Throws then.
 */
static void
rig_check_lease_over(const char *name, const char *why)
{
	TimestampTz since = Max(rig_peer_last_contact(name), PgStartTime);
	long		secs;
	int			usecs;

	if (TimestampDifferenceExceeds(since, GetCurrentTimestamp(), rig_promote_lease))
		return;
	TimestampDifference(since, GetCurrentTimestamp(), &secs, &usecs);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("peer \"%s\" cannot be told that commits no longer wait for it: %s", name, why),
			 errdetail("It heard from this node %ld s ago; until rig.promote_lease (%d ms) has passed since then, it may still say it is safe to promote, and promoting it would lose the commits made without it.",
					   secs, rig_promote_lease),
			 errhint("Retry once the peer is reachable, or after rig.promote_lease.")));
}

/* What rig_tell_mode_work sends */
typedef struct RigModeNote
{
	RigPeer    *peer;
	RigPeerMode mode;
} RigModeNote;

/* rig_subxact_try step: tell a peer its new mode. */
static void
rig_tell_mode_work(void *arg)
{
	RigModeNote *note = arg;

	rig_send_confirm(note->peer->name, note->peer->conninfo,
					 rig_peer_get_horizon(note->peer->name), note->mode);
}

/*
 * Tell a peer that commits no longer wait for it (as much), so that its
 * rig.status stops saying it is safe to promote.  Best effort: a peer that
 * cannot be reached keeps its last word until the primary reaches it
 * again, and a WARNING says so.
 */
static void
rig_tell_mode(const char *name, RigPeerMode mode)
{
	RigModeNote note = {rig_peer_find(name), mode};
	ErrorData  *edata;

	if (note.peer == NULL)
		return;
	edata = rig_subxact_try(rig_tell_mode_work, &note);
	if (edata == NULL)
		return;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	rig_check_lease_over(name, edata->message);
	ereport(WARNING,
			(errmsg("peer \"%s\" was not told of its new mode: %s", name, edata->message),
			 errdetail("It has not heard from this node for longer than rig.promote_lease, so it no longer says it is safe to promote.")));
	FreeErrorData(edata);
}
