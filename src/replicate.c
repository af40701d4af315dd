/*-------------------------------------------------------------------------
 *
 * replicate.c
 *	  Two-phase commit of a rig transaction on this primary's peers.
 *
 * PRE_COMMIT: every sync peer gets, in one pipelined round trip,
 *     BEGIN ISOLATION LEVEL READ COMMITTED;
 *     SELECT rig_apply_remote(...)      -- once per op, prepared statement
 *     PREPARE TRANSACTION '<gid>';
 * All peers are sent to first and read second, so they work in parallel.
 * Any failure throws, and the local transaction aborts.  A failure after
 * PREPARE went out to a peer is 08007 (outcome unknown: the peer may hold
 * the transaction prepared, and a promotion commits what it holds) unless
 * every such peer is known not to hold it: its own transaction failed, or
 * it was rolled back here before the error is raised.
 * COMMIT: the local commit is the decision; each peer gets COMMIT PREPARED
 * (after the local commit record is flushed), the transaction's resource
 * locks are released, and the client waits for the answers when
 * rig.commit_wait is on.  Nothing here throws: a peer that
 * fails now is finished by the resolver.
 * ABORT: ROLLBACK PREPARED where a peer prepared; a pipeline still in
 * flight is read to its end first; a peer that does not answer is
 * disconnected and its transaction left to the resolver.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/replicate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "catalog/pg_type.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "conn.h"
#include "gid.h"
#include "locks.h"
#include "node.h"
#include "peerlist.h"
#include "peerstate.h"
#include "replicate.h"
#include "settings.h"
#include "shmem.h"
#include "watermark.h"
#include "wire.h"

/* How long an abort waits for peers before leaving them to the resolver */
#define RIG_ABORT_WAIT_MS	1000

/* A peer taking part in the current transaction */
typedef struct RigXactPeer
{
	char		name[NAMEDATALEN];
	char	   *conninfo;
	RigConn    *rc;				/* NULL until connected */
	RigConn    *finisher;		/* commit_wait off: COMMIT PREPARED goes here, or NULL */
	bool		semisync;		/* a failure degrades it instead of aborting */
	bool		dropped;		/* semisync peer left out after a failure */
	bool		prepare_sent;	/* PREPARE TRANSACTION went (or may have gone) out */
	bool		unprepared;		/* known not to hold the transaction prepared */
} RigXactPeer;

static RigXactPeer *rig_xpeers = NULL;
static int	rig_nxpeers = 0;
static char *rig_xgid = NULL;

/* peers rig_replicate_connect_early could not reach in this transaction */
static LocalTransactionId rig_early_lxid = InvalidLocalTransactionId;
static List *rig_early_failed = NIL;	/* "name\0error" each, in TopMemoryContext */

static int64 rig_xmax_version = 0;	/* highest version of the transaction */
static TimestampTz rig_xdeadline = 0;	/* the commit's rig.sync_timeout */

static void rig_finish_peers(const char *verb);
static void rig_degrade(RigXactPeer *xp, const char *why);
static void rig_send_failed(RigXactPeer *xp);
static void rig_sync_failed(RigXactPeer *xp, PGresult *err, bool timed_out,
							const char *what);
static void rig_connect_peer(RigXactPeer *xp, TimestampTz deadline);
static const char *rig_early_error(const char *peer);
static int64 rig_peers_confirmed(void);
static void rig_settle_preparing(RigConn *rc, TimestampTz deadline);
static void rig_check_still_primary(void);
static void rig_check_same_epoch(List *ops);
static void rig_get_finishers(TimestampTz deadline);
static bool rig_send_on_finisher(RigXactPeer *xp, const char *sql, TimestampTz deadline);
static void rig_refuse_notify(void);
static void rig_prepare_peers(RigWireOp *wire, int nops);
static void rig_unprepare_peer(RigXactPeer *xp);
static void rig_prepare_failed(MemoryContext ctx) pg_attribute_noreturn();

/* Sending to a peer failed: degrade a semisync peer, fail for a sync one. */
static void
rig_send_failed(RigXactPeer *xp)
{
	if (xp->semisync)
		rig_degrade(xp, "could not send the transaction");
	else
		rig_sync_failed(xp, NULL, true, "take the operations");
}

/* A semisync peer failed this commit: leave it out and let the worker catch it up. */
static void
rig_degrade(RigXactPeer *xp, const char *why)
{
	if (xp->rc != NULL)
		rig_conn_discard(xp->rc);
	xp->dropped = true;
	rig_peer_event(xp->name, RIG_PEER_MISSED, 0, why);
	rig_peer_note_missed(xp->name);
	ereport(WARNING,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("semisync peer \"%s\" is degraded: %s", xp->name, why),
			 errdetail("This commit goes on without it; rig's worker will catch it up and return it to sync.")));
}

/*
 * Connect a peer for this commit.  A semisync peer that cannot be reached
 * is degraded and left out; a sync peer fails the commit.
 */
static void
rig_connect_peer(RigXactPeer *xp, TimestampTz deadline)
{
	char	   *err = NULL;
	const char *early = rig_early_error(xp->name);

	if (early != NULL)
		err = pstrdup(early);
	else
		xp->rc = rig_conn_try_get(xp->name, xp->conninfo, deadline, &err);
	if (xp->rc != NULL)
		return;
	if (xp->semisync)
	{
		rig_degrade(xp, err);
		return;
	}
	rig_peer_event(xp->name, RIG_PEER_FAILED, 0, err);
	ereport(ERROR,
			(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
			 errmsg("could not connect to sync peer \"%s\"", xp->name),
			 errdetail_internal("%s", err),
			 errhint("Nothing was committed. Check that the peer is running, or make it semisync with rig_set_peer_mode() to write without it.")));
}

/* Throw for a sync peer that failed, after recording why in its health. */
static void
rig_sync_failed(RigXactPeer *xp, PGresult *err, bool timed_out, const char *what)
{
	/* the peer's own error: its transaction failed, nothing is prepared */
	if (err != NULL)
		xp->unprepared = true;
	if (err == NULL)
		rig_peer_event(xp->name, RIG_PEER_FAILED, 0,
					   timed_out ? "did not answer within rig.sync_timeout" :
					   (xp->rc && xp->rc->conn ? PQerrorMessage(xp->rc->conn) : "connection lost"));
	rig_ops_failed(xp->rc, err, timed_out, what);
}

/*
 * What this commit can tell its peers they hold: every version up to this
 * node's watermark (but for this transaction's own versions, which the
 * peers are about to hold prepared) is final here, and a peer that commits
 * prepare on holds each committed one (or has it prepared), so the peer
 * may count it once it prepared this transaction.  The watermark is read first,
 * the states second: an op that left a semisync peer behind degraded it
 * before it committed, so a watermark that covers that op is followed by a
 * state that says so (then nothing is confirmed; 0).  A peer cannot return
 * to sync meanwhile: that takes the commit gate this commit holds.
 */
static int64
rig_peers_confirmed(void)
{
	int64		wm = rig_watermark_but_mine();

	for (int i = 0; i < rig_nxpeers; i++)
		if (rig_xpeers[i].semisync && rig_peer_get_state(rig_xpeers[i].name) != RIG_STATE_IN_SYNC)
			return 0;
	return wm;
}

/*
 * The node may have stopped being the primary while this commit waited for
 * the commit gate (rig_switchover() holds it while it hands the role over,
 * then this node follows the new primary and has no peers left): such a
 * commit must not go on alone.  Nothing was sent to a peer yet, so the
 * error is definite; the client retries on the new primary.
 */
static void
rig_check_still_primary(void)
{
	RigFenceInfo f;
	bool		fenced = rig_node_fenced(&f);

	if (strcmp(rig_node_role(), "primary") == 0 && !fenced)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("node \"%s\" is no longer the primary; this transaction was not committed",
					rig_node_name()),
			 errdetail("It became %s while the transaction waited to commit.",
					   fenced ? "fenced" : rig_node_role()),
			 errhint("Retry on the new primary%s%s%s, with the same idempotency key.",
					 rig_node_primary_name() ? " \"" : "",
					 rig_node_primary_name() ? rig_node_primary_name() : "",
					 rig_node_primary_name() ? "\"" : "")));
}

/*
 * PostgreSQL queues a transaction's NOTIFYs after the PRE_COMMIT callbacks
 * (PreCommit_Notify), where a lock wait can be cancelled or the queue be
 * full: that error would reach the client as if nothing had been
 * committed anywhere, while a peer holds the ops prepared (and a promotion
 * commits them).  So a transaction that prepares on peers may not NOTIFY,
 * LISTEN or UNLISTEN; AtPrepare_Notify() says whether it did, as for
 * PREPARE TRANSACTION.  Nothing was sent yet: a definite error.
 */
static void
rig_refuse_notify(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		AtPrepare_Notify();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a transaction that ran rig_do() on a node with peers cannot NOTIFY, LISTEN or UNLISTEN"),
				 errdetail("PostgreSQL queues notifications after rig prepared the transaction on its peers; a failure there would leave the outcome unknown. Nothing was committed."),
				 errhint("Send the notification in a transaction of its own after the commit.")));
	}
	PG_END_TRY();
}

/*
 * With rig.commit_wait off, COMMIT PREPARED goes out on a second
 * connection per peer ("<peer>#commit"), so that the next transaction's
 * PREPARE on the main one does not queue behind it: the peer flushes the
 * two in different backends, together.  Connected (and the previous
 * COMMIT PREPARED's answer read) here, while the peers prepare, since the
 * COMMIT callback may not wait interruptibly.  A peer without one falls
 * back to the main connection.
 */
static void
rig_get_finishers(TimestampTz deadline)
{
	char		key[RIG_CONN_KEYLEN];
	char	   *err = NULL;

	for (int i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];

		if (xp->dropped)
			continue;
		snprintf(key, sizeof(key), "%s#commit", xp->name);
		xp->finisher = rig_conn_try_get(key, xp->conninfo, deadline, &err);
	}
}

/*
 * Under the commit gate: the node is still in the epoch this transaction's
 * ops were given.  rig_import() moves it into a newer one under the gate
 * exclusively; an op of the older epoch committed after that would make
 * the epochs go back along the log.
 */
static void
rig_check_same_epoch(List *ops)
{
	ListCell   *lc;

	foreach(lc, ops)
	{
		RigOp	   *op = lfirst(lc);

		if (op->remote || op->epoch == rig_node_epoch())
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("node \"%s\" moved to epoch " INT64_FORMAT " while this transaction ran; it was not committed",
						rig_node_name(), rig_node_epoch()),
				 errdetail("Its operation of version " INT64_FORMAT " was given epoch " INT64_FORMAT ".",
						   op->version, op->epoch),
				 errhint("Retry the transaction.")));
	}
}

/*
 * Before rig_do takes its resource locks: open the connection to each
 * peer this commit will prepare on (sync or semisync, in sync) that this
 * backend has not opened yet, so that a new session does not set up its
 * connections while it holds a hot resource's lock, making every other
 * writer of that resource wait for it.  A peer that cannot be reached is
 * left to the commit, which reports it.
 */
void
rig_replicate_connect_early(void)
{
	ListCell   *lc;

	foreach(lc, rig_peer_list())
	{
		RigPeer    *p = lfirst(lc);
		char	   *err = NULL;
		char	   *entry;
		MemoryContext old;

		if (p->mode == RIG_PEER_ASYNC || rig_conn_is_open(p->name) ||
			rig_peer_get_state(p->name) != RIG_STATE_IN_SYNC)
			continue;
		if (rig_conn_try_get(p->name, p->conninfo,
							 rig_deadline(rig_sync_timeout), &err) != NULL)
			continue;
		/* the commit reports it without waiting for the peer a second time */
		old = MemoryContextSwitchTo(TopMemoryContext);
		if (rig_early_lxid != MyProc->lxid)
		{
			list_free_deep(rig_early_failed);
			rig_early_failed = NIL;
			rig_early_lxid = MyProc->lxid;
		}
		entry = palloc(strlen(p->name) + strlen(err) + 2);
		strcpy(entry, p->name);
		strcpy(entry + strlen(p->name) + 1, err);
		rig_early_failed = lappend(rig_early_failed, entry);
		MemoryContextSwitchTo(old);
	}
}

/* The error of an early connection to the peer that failed in this transaction, or NULL. */
static const char *
rig_early_error(const char *peer)
{
	ListCell   *lc;

	if (rig_early_lxid != MyProc->lxid)
		return NULL;
	foreach(lc, rig_early_failed)
	{
		const char *entry = lfirst(lc);

		if (strcmp(entry, peer) == 0)
			return entry + strlen(entry) + 1;
	}
	return NULL;
}

/*
 * PRE_COMMIT: prepare the transaction's ops on every sync peer and every
 * semisync peer that is in sync.  Async peers are shipped to later.
 */
void
rig_replicate_prepare(List *ops)
{
	MemoryContext old;
	List	   *peers;
	ListCell   *lc;
	RigWireOp  *wire;
	TimestampTz deadline;
	int64		epoch;
	int64		min_version;
	MemoryContext ctx = CurrentMemoryContext;
	int			i;

	/* the commit gate: peers join and return to sync under it exclusively */
	LockRelationOid(rig_relid("commit_gate"), RowShareLock);
	rig_check_still_primary();
	rig_check_same_epoch(ops);
	peers = rig_peer_list();
	if (peers == NIL)
		return;
	rig_check_sync_peers();

	old = MemoryContextSwitchTo(TopTransactionContext);
	rig_xpeers = palloc0(sizeof(RigXactPeer) * list_length(peers));
	rig_nxpeers = 0;
	foreach(lc, peers)
	{
		RigPeer    *p = lfirst(lc);

		if (p->mode == RIG_PEER_ASYNC)
			continue;
		if (p->mode == RIG_PEER_SEMISYNC)
		{
			RigPeerState st = rig_peer_get_state(p->name);

			/* the worker found it unreachable: this commit leaves it behind */
			if (st == RIG_STATE_UNREACHABLE)
			{
				rig_peer_event(p->name, RIG_PEER_MISSED, 0, "unreachable");
				ereport(WARNING,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("semisync peer \"%s\" is degraded: unreachable", p->name),
						 errdetail("This commit goes on without it; rig's worker will catch it up and return it to sync.")));
			}
			/* counted, so that a degraded peer's lag does not go unseen */
			if (st != RIG_STATE_IN_SYNC)
			{
				rig_peer_note_missed(p->name);
				continue;
			}
		}
		strlcpy(rig_xpeers[rig_nxpeers].name, p->name, NAMEDATALEN);
		rig_xpeers[rig_nxpeers].conninfo = pstrdup(p->conninfo);
		rig_xpeers[rig_nxpeers].semisync = (p->mode == RIG_PEER_SEMISYNC);
		rig_nxpeers++;
	}
	if (rig_nxpeers == 0)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	MemoryContextSwitchTo(old);
	rig_refuse_notify();
	MemoryContextSwitchTo(TopTransactionContext);

	epoch = rig_node_epoch();
	wire = palloc(sizeof(RigWireOp) * list_length(ops));
	i = 0;
	rig_xmax_version = 0;
	min_version = PG_INT64_MAX;
	foreach(lc, ops)
	{
		RigOp	   *op = lfirst(lc);

		rig_wire_op_init(&wire[i++], rig_node_name(), epoch, op->version,
						 op->epoch, op->method,
						 JsonbToCString(NULL, &op->data->root, VARSIZE(op->data)),
						 op->idem_key ? text_to_cstring(op->idem_key) : NULL,
						 op->op_time, op->origin, op->locks, op->nlocks);
		rig_xmax_version = Max(rig_xmax_version, op->version);
		min_version = Min(min_version, op->version);
	}
	rig_xgid = rig_make_gid(epoch, GetTopFullTransactionId(), min_version,
							rig_xmax_version);
	rig_wire_op_confirm(&wire[0], rig_peers_confirmed());
	MemoryContextSwitchTo(old);

	/*
	 * Connect to every peer first, then send to all, then read: the peers
	 * work in parallel, and a peer that cannot be reached fails the commit
	 * before any other peer holds anything.
	 */
	deadline = rig_deadline(rig_sync_timeout);
	for (i = 0; i < rig_nxpeers; i++)
		rig_connect_peer(&rig_xpeers[i], deadline);

	/*
	 * No flush of this transaction's WAL before the peers prepare: a crash
	 * may lose it and hand its xid out again, which the GID's incarnation
	 * tells the resolver (resolve.c).  Only its versions must be durable,
	 * or they could be handed out twice: usually they are already, so
	 * this comes before anything is sent and the ops and PREPARE can
	 * leave in one write (one wake-up of each peer's backend).
	 */
	rig_fault("before_prepare", true);
	rig_flush_versions();

	/* from here on a peer may hold the transaction prepared */
	rig_xdeadline = deadline;
	PG_TRY();
	{
		rig_prepare_peers(wire, list_length(ops));
	}
	PG_CATCH();
	{
		rig_prepare_failed(ctx);
	}
	PG_END_TRY();
}

/*
 * Send BEGIN, the ops and PREPARE TRANSACTION to every peer as one
 * pipeline, then read every peer's results.  Throws on the first failure
 * (rig_prepare_failed decides what the client is told).
 */
static void
rig_prepare_peers(RigWireOp *wire, int nops)
{
	TimestampTz deadline = rig_xdeadline;
	TimestampTz prepare_sent;
	char	   *prepare;
	int			i;

	prepare = psprintf("PREPARE TRANSACTION '%s'", rig_xgid);
	prepare_sent = GetCurrentTimestamp();
	for (i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];

		if (xp->dropped)
			continue;
		/* a connection that broke already takes nothing: still definite */
		if (PQconsumeInput(xp->rc->conn) == 0)
		{
			if (xp->semisync)
				rig_degrade(xp, "connection lost");
			else
				rig_sync_failed(xp, NULL, false, "take the operations");
			continue;
		}
		rig_conn_set_state(xp->rc, RIG_CONN_PREPARING);
		xp->prepare_sent = true;
		if (!rig_send_ops(xp->rc, wire, nops, prepare, deadline))
			rig_send_failed(xp);
	}
	/* while the peers prepare: the connections COMMIT PREPARED will take */
	if (!rig_commit_wait)
		rig_get_finishers(deadline);
	for (i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];
		PGresult   *err;
		bool		timed_out;

		if (xp->dropped)
			continue;
		if (!rig_read_ops(xp->rc, deadline, true, &err, &timed_out))
		{
			/* a handler error fails the commit whatever the mode */
			if (xp->semisync && err == NULL)
				rig_degrade(xp, timed_out ? "did not prepare within rig.sync_timeout"
							: "connection lost while preparing");
			else
				rig_sync_failed(xp, err, timed_out, "prepare the transaction");
			continue;
		}
		rig_conn_set_state(xp->rc, RIG_CONN_PREPARED);
		rig_peer_note_prepare(xp->name, GetCurrentTimestamp() - prepare_sent);
	}
	rig_fault("after_peer_prepare", true);
}

/*
 * After a failure in PRE_COMMIT: make sure a peer that was sent PREPARE
 * does not hold the transaction.  Its pending results are read (a peer
 * whose transaction failed holds nothing) and what it prepared is rolled
 * back now, within the commit's deadline.  Sets xp->unprepared when the
 * peer is known to hold nothing; otherwise its connection is closed and
 * the transaction left to the resolver.  Never throws.
 */
static void
rig_unprepare_peer(RigXactPeer *xp)
{
	RigConn    *rc = xp->rc;
	char		sql[256];

	if (xp->dropped || rc == NULL || rc->conn == NULL)
		return;					/* the connection was lost: unknown */
	if (rc->state == RIG_CONN_PREPARING)
		rig_settle_preparing(rc, rig_xdeadline);
	if (rc->conn != NULL && rc->state == RIG_CONN_PREPARED)
	{
		snprintf(sql, sizeof(sql), "ROLLBACK PREPARED '%s'", rig_xgid);
		rig_conn_set_state(rc, RIG_CONN_FINISHING);
		if (rig_conn_exec_quiet(rc, sql, rig_xdeadline))
			rig_conn_set_state(rc, RIG_CONN_IDLE);
		else
			rig_conn_discard(rc);
	}
	if (rc->conn != NULL && rc->state == RIG_CONN_IDLE)
		xp->unprepared = true;
}

/*
 * PRE_COMMIT failed after PREPARE went out (a peer's error, a timeout, a
 * cancel): the error stays definite only when no peer can hold the
 * transaction prepared.  Otherwise the outcome is unknown to the client
 * (08007): the resolver rolls the peers back, but a promotion of one of
 * them commits what it holds.  A cancel or statement_timeout is served at
 * once, without waiting for the peers.
 */
static void
rig_prepare_failed(MemoryContext ctx)
{
	ErrorData  *edata;
	const char *unsure = NULL;

	MemoryContextSwitchTo(ctx);
	edata = CopyErrorData();
	FlushErrorState();
	for (int i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];

		if (!xp->prepare_sent || xp->unprepared)
			continue;
		if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			rig_unprepare_peer(xp);
		if (!xp->unprepared && unsure == NULL)
			unsure = xp->name;
	}
	if (unsure == NULL)
		ReThrowError(edata);
	ereport(ERROR,
			(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
			 errmsg("the outcome of this transaction is unknown"),
			 errdetail("%s (SQLSTATE %s). Peer \"%s\" may hold the transaction prepared; rig settles it the same way on every node.",
					   edata->message, unpack_sql_state(edata->sqlerrcode), unsure),
			 errhint("Retry with the same idempotency key: rig_do() returns the operation's version if it was committed, and applies it once otherwise.")));
}

/*
 * Send "<verb> PREPARED '<gid>'" to every peer that prepared, and wait for
 * the answers when asked to.  Never throws: a peer that does not answer is
 * disconnected and left to the resolver.
 */
static void
rig_finish_peers(const char *verb)
{
	char		sql[256];
	TimestampTz deadline;
	bool		wait = rig_commit_wait || strcmp(verb, "ROLLBACK") == 0;

	/* an abort cleans up what it can quickly; the resolver does the rest */
	deadline = rig_deadline(strcmp(verb, "ROLLBACK") == 0 ?
							Min(rig_sync_timeout, RIG_ABORT_WAIT_MS) : rig_sync_timeout);
	snprintf(sql, sizeof(sql), "%s PREPARED '%s'", verb, rig_xgid ? rig_xgid : "");
	for (int i = 0; i < rig_nxpeers; i++)
	{
		RigConn    *rc = rig_xpeers[i].rc;

		/* idle: nothing sent, or already rolled back by rig_prepare_failed */
		if (rc == NULL || rc->conn == NULL || rig_xpeers[i].dropped ||
			rc->state == RIG_CONN_IDLE)
			continue;
		if (rc->state == RIG_CONN_PREPARING)
			rig_settle_preparing(rc, deadline);
		if (rc->conn == NULL)
			continue;
		if (!wait && rc->state == RIG_CONN_PREPARED && rig_send_on_finisher(&rig_xpeers[i], sql, deadline))
		{
			/* the main connection is free for the next transaction at once */
			rig_conn_set_state(rc, RIG_CONN_IDLE);
			rig_peer_event(rig_xpeers[i].name, RIG_PEER_COMMITTED, rig_xmax_version, NULL);
			continue;
		}
		if (rc->state != RIG_CONN_PREPARED ||
			!PQsendQuery(rc->conn, sql) ||
			!rig_conn_flush(rc, deadline, false))
		{
			/* mid-exchange, or the send failed: the peer cleans up on close */
			rig_conn_discard(rc);
			continue;
		}
		rig_conn_set_state(rc, RIG_CONN_FINISHING);
		/* not waiting: the peer holds the prepared versions, to be committed */
		if (!wait)
			rig_peer_event(rig_xpeers[i].name, RIG_PEER_COMMITTED, rig_xmax_version, NULL);
	}
	if (strcmp(verb, "COMMIT") == 0)
	{
		/*
		 * Committed and visible here, COMMIT PREPARED on its way: the next
		 * op on the same resources may go on while the peers answer (a
		 * peer applies it only once this one committed there: the peer's
		 * prepared transaction holds the same locks until then).
		 */
		rig_release_xact_locks();
		rig_fault("after_commit_sent", false);
	}
	if (!wait)
		return;
	for (int i = 0; i < rig_nxpeers; i++)
	{
		RigConn    *rc = rig_xpeers[i].rc;
		PGresult   *res;
		bool		timed_out;
		bool		ok = true;

		if (rc == NULL || rc->conn == NULL || rc->state != RIG_CONN_FINISHING)
			continue;
		while ((res = rig_conn_result(rc, deadline, false, &timed_out)) != NULL)
		{
			if (PQresultStatus(res) != PGRES_COMMAND_OK && !rig_settled_elsewhere(res))
				ok = false;
			PQclear(res);
		}
		if (ok && !timed_out)
		{
			rig_conn_set_state(rc, RIG_CONN_IDLE);
			if (strcmp(verb, "COMMIT") == 0)
				rig_peer_event(rig_xpeers[i].name, RIG_PEER_COMMITTED, rig_xmax_version, NULL);
			continue;
		}
		rig_conn_discard(rc);
		/* (not while the server goes down: the client is losing it anyway) */
		if (strcmp(verb, "COMMIT") == 0 && PostmasterIsAlive())
			ereport(WARNING,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("peer \"%s\" did not confirm COMMIT PREPARED", rig_xpeers[i].name),
					 errdetail("The transaction is committed here; rig's resolver will finish it on the peer, which may not show it until then.")));
	}
}

/*
 * Send COMMIT PREPARED on the peer's commit connection, not waiting for
 * the answer (the next use of the connection reads it).  Never throws;
 * false when there is none, or it could not take the command.
 */
static bool
rig_send_on_finisher(RigXactPeer *xp, const char *sql, TimestampTz deadline)
{
	RigConn    *fc = xp->finisher;

	if (fc == NULL || fc->conn == NULL || fc->state != RIG_CONN_IDLE)
		return false;
	if (!PQsendQuery(fc->conn, sql) || !rig_conn_flush(fc, deadline, false))
	{
		rig_conn_discard(fc);
		return false;
	}
	rig_conn_set_state(fc, RIG_CONN_FINISHING);
	return true;
}

/*
 * Abort while a peer's pipeline is still in flight (another peer failed
 * first): read it to the end, so that a PREPARE the peer ran is known and
 * rolled back now rather than left to the resolver.  A peer that failed
 * its transaction gets ROLLBACK; one that does not answer is disconnected.
 */
static void
rig_settle_preparing(RigConn *rc, TimestampTz deadline)
{
	PGresult   *err;
	bool		timed_out;

	if (rig_read_ops(rc, deadline, false, &err, &timed_out))
	{
		rig_conn_set_state(rc, RIG_CONN_PREPARED);
		return;
	}
	PQclear(err);
	if (err != NULL && PQexitPipelineMode(rc->conn) == 1 &&
		rig_conn_exec_quiet(rc, "ROLLBACK", deadline))
		rig_conn_set_state(rc, RIG_CONN_IDLE);
	else
		rig_conn_discard(rc);
}

/* COMMIT: the local commit is durable and visible; commit the peers. */
void
rig_replicate_commit(void)
{
	if (rig_nxpeers > 0)
	{
		/* with synchronous_commit = off the commit record may not be on disk */
		XLogFlush(XactLastCommitEnd);
		rig_fault("after_local_commit", false);
		rig_finish_peers("COMMIT");
	}
	rig_xpeers = NULL;
	rig_nxpeers = 0;
	rig_xgid = NULL;
}

/* ABORT: undo whatever the peers hold for this transaction. */
void
rig_replicate_abort(void)
{
	if (rig_nxpeers > 0)
		rig_finish_peers("ROLLBACK");
	rig_xpeers = NULL;
	rig_nxpeers = 0;
	rig_xgid = NULL;
}
