/*-------------------------------------------------------------------------
 *
 * switchover.c
 *	  A planned switchover: rig_switchover() hands the primary role to a
 *	  peer with no acknowledged op lost and none applied twice.
 *
 * On the primary, in the caller's transaction: wait until the peer is in
 * sync; refuse new rig_do (25006, retry on the new primary); wait until
 * no transaction here has a version in flight; take the commit gate
 * exclusively (no commit can prepare on the peers any more) and ship the
 * peer whatever it still lacks; promote it (rig_promote() over the peer
 * connection: its worker commits what it holds prepared and bumps the
 * epoch); then make this node its follower: a replica in the new epoch
 * that pulls the new primary's log (follow.c) with the conninfo this node
 * had for it, caught up at that moment.  The new primary cannot push to
 * it until an operator gives it a conninfo back (rig_add_peer there):
 * this node never had one to give.  Everything before the promotion
 * leaves this node the primary when it fails; once the peer is promoted
 * (or its promotion's outcome is unknown) this node is fenced in shared
 * memory first, so a failure, a cancel or a lost connection afterwards
 * leaves it refusing writes, never a second primary.  Hence no transaction
 * block: the caller could roll back this node's change, not the peer's.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/switchover.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catchup.h"
#include "conn.h"
#include "follow.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "peerstate.h"
#include "replica.h"
#include "settings.h"
#include "shmem.h"
#include "xact.h"

/* How often the waits look again */
#define RIG_SWITCHOVER_POLL_MS	20

/* What rig_switchover() was asked, for the steps run in subtransactions */
typedef struct RigSwitch
{
	RigPeer    *peer;
	TimestampTz deadline;
	int64		epoch;			/* the new primary's epoch, once promoted */
} RigSwitch;

static RigPeer *rig_switch_peer(const char *name);
static void rig_wait_in_sync(RigPeer *peer, TimestampTz deadline);
static void rig_wait_no_inflight(TimestampTz deadline);
static void rig_wait_poll(void);
static void rig_promote_peer(void *arg);
static void rig_peer_untouched(void *arg);
static void rig_switch_promote(RigSwitch *sw);
static void rig_follow_new_primary(RigSwitch *sw);
static void rig_handover_cleanup(int code, Datum arg);

PG_FUNCTION_INFO_V1(rig_switchover);

/* The peer to hand over to (a copy: catch-up may reload the cached list). */
static RigPeer *
rig_switch_peer(const char *name)
{
	RigPeer    *p = rig_peer_find(name);

	if (p != NULL)
		return p;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("peer \"%s\" does not exist", name),
			 errhint("rig.peer_status lists this primary's peers.")));
}

/* Sleep a little, interruptibly, between two looks. */
static void
rig_wait_poll(void)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 RIG_SWITCHOVER_POLL_MS, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * The peer must hold every committed op before writes stop: wait (the
 * worker catches it up) until it is in sync, or give up at the deadline.
 */
static void
rig_wait_in_sync(RigPeer *peer, TimestampTz deadline)
{
	RigPeerState st;

	while ((st = rig_peer_get_state(peer->name)) != RIG_STATE_IN_SYNC)
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("peer \"%s\" is not in sync (it is %s); nothing was switched over",
							peer->name, rig_peer_state_name(st)),
					 errdetail("A switchover waits for the peer to hold every committed operation, at most 10 × rig.sync_timeout."),
					 errhint("rig_sync_peer('%s') catches it up now; rig.peer_status shows why it is behind.",
							 peer->name)));
		rig_wait_poll();
	}
}

/*
 * Let the commits in flight here finish (new ones are refused already):
 * wait until no transaction holds a version, or give up at the deadline.
 */
static void
rig_wait_no_inflight(TimestampTz deadline)
{
	int			n;

	while ((n = rig_inflight_count()) > 0)
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("%d transaction(s) with rig operations did not finish; nothing was switched over", n),
					 errdetail("A switchover lets the transactions that ran rig_do() commit or roll back first, for at most 10 × rig.sync_timeout."),
					 errhint("Find them in pg_stat_activity (idle in transaction?) and end them, then try again.")));
		rig_wait_poll();
	}
}

/* rig_subxact_try step: ask the peer to promote itself; sets sw->epoch. */
static void
rig_promote_peer(void *arg)
{
	RigSwitch  *sw = arg;
	TimestampTz deadline = rig_deadline(rig_sync_timeout * 10 + 5000);
	RigConn    *rc = rig_conn_get(sw->peer->name, sw->peer->conninfo, deadline);
	PGresult   *res = rig_conn_query(rc, "SELECT pg_catalog.rig_promote()", 0, NULL, deadline);

	sw->epoch = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
}

/*
 * rig_subxact_try step: is the peer still a replica in this node's epoch
 * (its promotion did not start)?  Throws when it does not say.
 */
static void
rig_peer_untouched(void *arg)
{
	RigSwitch  *sw = arg;
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	RigConn    *rc = rig_conn_get(sw->peer->name, sw->peer->conninfo, deadline);
	PGresult   *res = rig_conn_query(rc, "SELECT role, epoch FROM pg_catalog.rig_node_info()",
									 0, NULL, deadline);

	if (strcmp(PQgetvalue(res, 0, 0), "replica") != 0 ||
		strtoi64(PQgetvalue(res, 0, 1), NULL, 10) != rig_node_epoch())
		elog(ERROR, "peer is %s in epoch %s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
}

/*
 * Promote the peer.  When that fails, ask it where it stands: still a
 * replica in our epoch, it was not promoted (throw; this node stays the
 * primary); promoting, promoted or silent, it may be the primary now, so
 * this node fences itself before it throws.
 */
static void
rig_switch_promote(RigSwitch *sw)
{
	ErrorData  *edata = rig_subxact_try(rig_promote_peer, sw);
	ErrorData  *state;

	if (edata == NULL)
		return;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	state = rig_subxact_try(rig_peer_untouched, sw);
	if (state == NULL)
		ReThrowError(edata);
	rig_fence_set(rig_node_epoch(), sw->peer->name, sw->peer->name, edata->message);
	ereport(ERROR,
			(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
			 errmsg("could not tell whether peer \"%s\" was promoted; node \"%s\" is fenced",
					sw->peer->name, rig_node_name()),
			 errdetail("rig_promote() on the peer failed: %s (asked again: %s)", edata->message,
					   state->message),
			 errhint("Check rig.status on \"%s\": once it is the primary, this node rejoins as its replica with rig_add_peer() there.",
					 sw->peer->name)));
}

/*
 * Make this node the new primary's follower: a replica in its epoch with
 * its epochs recorded, pulling its log with the conninfo this node had
 * for it, registered there so that compaction keeps what it needs.
 */
static void
rig_follow_new_primary(RigSwitch *sw)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	RigConn    *rc = rig_conn_get(sw->peer->name, sw->peer->conninfo, deadline);
	char		last[32];
	const char *params[2] = {rig_node_name(), last};
	PGresult   *res;
	Jsonb	   *epochs;

	res = rig_conn_query(rc, RIG_EPOCHS_JSON_SQL, 0, NULL, deadline);
	epochs = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(PQgetvalue(res, 0, 0))));
	PQclear(res);
	snprintf(last, sizeof(last), INT64_FORMAT, rig_log_last_version());
	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_follower_ack($1, $2)", 2, params, deadline));

	rig_set_replica_of(sw->peer->name, sw->epoch, epochs);
	rig_follow_source_set(sw->peer->name, sw->peer->conninfo);
	ereport(NOTICE,
			(errmsg("node \"%s\" follows the new primary \"%s\" (epoch " INT64_FORMAT "), pulling its log",
					rig_node_name(), sw->peer->name, sw->epoch),
			 errhint("On \"%s\", rig_add_peer('%s', <conninfo>, 'sync') makes this node a sync peer again.",
					 sw->peer->name, rig_node_name())));
}

/* Error cleanup (also on FATAL): writes are accepted again. */
static void
rig_handover_cleanup(int code, Datum arg)
{
	rig_handover_end();
}

/* SQL: hand the primary role over to peer name; returns the new epoch. */
Datum
rig_switchover(PG_FUNCTION_ARGS)
{
	RigSwitch	sw;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("peer name must not be NULL")));
	rig_xact_refuse_ops("rig_switchover()");
	/* the peer's promotion cannot be undone: this node's own change must commit with it */
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("rig_switchover() cannot run inside a transaction block"),
				 errdetail("The peer's promotion cannot be rolled back; this node's change of role must commit right after it."),
				 errhint("Call SELECT rig_switchover(...) on its own, outside BEGIN ... COMMIT.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_switchover() requires the READ COMMITTED isolation level")));
	if (strcmp(rig_node_role(), "primary") != 0 || rig_node_fenced(NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not the primary; only the primary can switch over", rig_node_name())));
	sw.peer = rig_switch_peer(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	sw.deadline = rig_deadline(rig_sync_timeout * 10);
	sw.epoch = 0;

	rig_wait_in_sync(sw.peer, sw.deadline);
	/* the connection the promotion needs, before anything stops */
	(void) rig_conn_get(sw.peer->name, sw.peer->conninfo, sw.deadline);
	if (!rig_handover_begin(sw.peer->name))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("another rig_switchover() is running on node \"%s\"", rig_node_name())));
	PG_ENSURE_ERROR_CLEANUP(rig_handover_cleanup, (Datum) 0);
	{
		rig_fault("switchover_stopped", true);
		rig_wait_no_inflight(sw.deadline);

		/*
		 * No commit prepares on the peer from here.  A call that passed the
		 * check above before writes stopped but took its version only now
		 * waits for the gate, and then finds this node no longer the
		 * primary (replicate.c): it fails, and commits nowhere.  (Waiting
		 * for it here would wait for a commit that waits for the gate.)
		 */
		LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
		/* ships what the peer still lacks (nothing, when it is sync) */
		rig_catch_up(sw.peer);
		rig_fault("switchover_before_promote", true);
		rig_switch_promote(&sw);

		/*
		 * The peer is the primary now, whatever happens to this
		 * transaction: fenced in shared memory (for this epoch), this node
		 * never writes again even if what follows fails or is cancelled.
		 */
		rig_fence_set(rig_node_epoch(), sw.peer->name, sw.peer->name,
					  "handed the primary role over with rig_switchover()");
		rig_fault("switchover_after_promote", true);
		rig_follow_new_primary(&sw);
	}
	PG_END_ENSURE_ERROR_CLEANUP(rig_handover_cleanup, (Datum) 0);
	rig_handover_end();
	PG_RETURN_INT64(sw.epoch);
}
