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
 * Any failure throws, and the local transaction aborts.
 * COMMIT: the local commit is the decision; each peer gets COMMIT PREPARED
 * (after the local commit record is flushed), and the client waits for
 * the answers when rig.commit_wait is on.  Nothing here throws: a peer that
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
#include "catalog/pg_type.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "storage/pmsignal.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "replicate.h"
#include "rig.h"

#define RIG_APPLY_STMT	"rig_apply"
#define RIG_APPLY_SQL \
	"SELECT pg_catalog.rig_apply_remote($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

/* How long an abort waits for peers before leaving them to the resolver */
#define RIG_ABORT_WAIT_MS	1000

static const Oid rig_apply_types[RIG_WIRE_NPARAMS] = {
	TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID, JSONBOID, TEXTOID,
	TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID, INT8OID
};
static const int rig_apply_formats[RIG_WIRE_NPARAMS] = {0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1};

/* A peer taking part in the current transaction */
typedef struct RigXactPeer
{
	char		name[NAMEDATALEN];
	RigConn    *rc;				/* NULL until connected */
	bool		semisync;		/* a failure degrades it instead of aborting */
	bool		dropped;		/* semisync peer left out after a failure */
} RigXactPeer;

static RigXactPeer *rig_xpeers = NULL;
static int	rig_nxpeers = 0;
static char *rig_xgid = NULL;

static int64 rig_xmax_version = 0;	/* highest version of the transaction */

static void rig_put_int64(char *buf, int64 v);
static void rig_put_int32(char *buf, int32 v);
static char *rig_wire_locks(const uint64 *locks, int nlocks, int *len);
static void rig_finish_peers(const char *verb);
static void rig_degrade(RigXactPeer *xp, const char *why);
static void rig_send_failed(RigXactPeer *xp);
static void rig_sync_failed(RigXactPeer *xp, PGresult *err, bool timed_out,
							const char *what);
static void rig_connect_peer(RigXactPeer *xp, List *peers, TimestampTz deadline);
static void rig_wire_op_confirm(RigWireOp *w, int64 confirmed);
static int64 rig_peers_confirmed(void);
static void rig_settle_preparing(RigConn *rc, TimestampTz deadline);

/* Big-endian int64, the binary wire format of int8 and timestamptz. */
static void
rig_put_int64(char *buf, int64 v)
{
	uint64		n = pg_hton64((uint64) v);

	memcpy(buf, &n, sizeof(n));
}

/* Big-endian int32, as in binary arrays. */
static void
rig_put_int32(char *buf, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	memcpy(buf, &n, sizeof(n));
}

/*
 * The binary form of an int8[] of lock hashes (array_recv's format: ndim,
 * has-nulls, element type, dimension and lower bound, then length-prefixed
 * elements).  Sets *len.
 */
static char *
rig_wire_locks(const uint64 *locks, int nlocks, int *len)
{
	int			hdr = nlocks > 0 ? 20 : 12;
	char	   *buf = palloc(hdr + nlocks * 12);
	char	   *p = buf;

	rig_put_int32(p, nlocks > 0 ? 1 : 0);
	rig_put_int32(p + 4, 0);
	rig_put_int32(p + 8, (int32) INT8OID);
	if (nlocks > 0)
	{
		rig_put_int32(p + 12, nlocks);
		rig_put_int32(p + 16, 1);
	}
	p += hdr;
	for (int i = 0; i < nlocks; i++, p += 12)
	{
		rig_put_int32(p, 8);
		rig_put_int64(p + 4, (int64) locks[i]);
	}
	*len = p - buf;
	return buf;
}

/*
 * Fill the parameters of one rig_apply_remote() call; nlocks < 0 sends no
 * lock hashes (the peer asks the resources handler).
 */
void
rig_wire_op_init(RigWireOp *w, const char *sender, int64 sender_epoch,
				 int64 version, int64 epoch, const char *method,
				 const char *data, const char *idem_key,
				 TimestampTz op_time, const char *origin,
				 const uint64 *locks, int nlocks)
{
	rig_put_int64(w->sender_epoch, sender_epoch);
	rig_put_int64(w->version, version);
	rig_put_int64(w->epoch, epoch);
	rig_put_int64(w->op_time, op_time);
	w->values[0] = sender;
	w->values[1] = w->sender_epoch;
	w->values[2] = w->version;
	w->values[3] = w->epoch;
	w->values[4] = method;
	w->values[5] = data;
	w->values[6] = idem_key;
	w->values[7] = w->op_time;
	w->values[8] = origin;
	for (int i = 0; i < RIG_WIRE_NPARAMS; i++)
		w->lengths[i] = rig_apply_formats[i] ? 8 : 0;
	w->locks = nlocks >= 0 ? rig_wire_locks(locks, nlocks, &w->lengths[9]) : NULL;
	w->values[9] = w->locks;
	w->values[10] = NULL;
}

/*
 * Tell the peer, with this op, that it holds every version up to confirmed
 * (committed or prepared): its watermark may rise that far (replica.c).
 */
static void
rig_wire_op_confirm(RigWireOp *w, int64 confirmed)
{
	rig_put_int64(w->confirmed, confirmed);
	w->values[10] = w->confirmed;
}

/*
 * Queue BEGIN, the ops and a final command (PREPARE TRANSACTION or COMMIT)
 * in pipeline mode and start sending.  With final_sql NULL the pipeline is
 * left open for rig_send_final().  False when libpq refused or the peer
 * could not take the bytes before the deadline.
 */
bool
rig_send_ops(RigConn *rc, RigWireOp *ops, int nops, const char *final_sql,
			 TimestampTz deadline)
{
	PGconn	   *conn = rc->conn;

	if (!PQenterPipelineMode(conn))
		return false;
	if (!rc->stmt_prepared)
	{
		if (!PQsendPrepare(conn, RIG_APPLY_STMT, RIG_APPLY_SQL,
						   RIG_WIRE_NPARAMS, rig_apply_types))
			return false;
		rc->stmt_prepared = true;
	}
	if (!PQsendQueryParams(conn, "BEGIN ISOLATION LEVEL READ COMMITTED",
						   0, NULL, NULL, NULL, NULL, 0))
		return false;
	for (int i = 0; i < nops; i++)
	{
		if (!PQsendQueryPrepared(conn, RIG_APPLY_STMT, RIG_WIRE_NPARAMS,
								 ops[i].values, ops[i].lengths,
								 rig_apply_formats, 0))
			return false;
	}
	if (final_sql != NULL)
		return rig_send_final(rc, final_sql, deadline);
	return rig_conn_flush(rc, deadline, true);
}

/* End a pipeline rig_send_ops() left open with its final command. */
bool
rig_send_final(RigConn *rc, const char *final_sql, TimestampTz deadline)
{
	if (!PQsendQueryParams(rc->conn, final_sql, 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(rc->conn))
		return false;
	return rig_conn_flush(rc, deadline, true);
}

/*
 * Read a pipeline's results up to its sync point.  Returns true when every
 * command succeeded; otherwise *err holds the peer's first error (or NULL
 * after a timeout or a lost connection, with *timed_out telling which).
 */
bool
rig_read_ops(RigConn *rc, TimestampTz deadline, bool interruptible,
			 PGresult **err, bool *timed_out)
{
	*err = NULL;
	*timed_out = false;
	for (;;)
	{
		PGresult   *res = rig_conn_result(rc, deadline, interruptible, timed_out);
		ExecStatusType st;

		if (res == NULL)
		{
			if (*timed_out || PQstatus(rc->conn) != CONNECTION_OK)
				return false;
			continue;			/* end of one command's results */
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			break;
		}
		/* an error libpq made itself (no SQLSTATE) means the connection is gone */
		if (st == PGRES_FATAL_ERROR && PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL)
		{
			PQclear(res);
			PQclear(*err);
			*err = NULL;
			return false;
		}
		if (st == PGRES_FATAL_ERROR && *err == NULL)
			*err = res;
		else
			PQclear(res);
	}
	if (*err != NULL)
		return false;
	return PQexitPipelineMode(rc->conn) == 1;
}

/* Throw for a peer that failed to run the ops, with the peer's own error. */
void
rig_ops_failed(RigConn *rc, PGresult *err, bool timed_out, const char *what)
{
	if (err != NULL)
		rig_conn_fail(rc, err, NULL);
	if (timed_out)
	{
		char		peer[RIG_CONN_KEYLEN];

		strlcpy(peer, rc->peer, sizeof(peer));
		peer[strcspn(peer, "#")] = '\0';	/* a catch-up lane names its peer */
		rig_conn_discard(rc);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("peer \"%s\" did not %s within rig.sync_timeout (%d ms)",
						peer, what, rig_sync_timeout),
				 errdetail("Nothing was committed on this node or its peers."),
				 errhint("Check that the peer is running and reachable; rig_drop_peer() removes it.")));
	}
	rig_conn_fail(rc, NULL, NULL);
}

/*
 * Tell a peer that it holds every version up to confirmed (after catch-up
 * shipped them, or while it is in sync): its watermark may rise that far.
 */
void
rig_send_confirm(const char *peer, const char *conninfo, int64 confirmed)
{
	char		epoch[32];
	char		upto[32];
	const char *params[3] = {rig_node_name(), epoch, upto};
	RigConn    *rc;

	if (confirmed <= 0)
		return;
	snprintf(epoch, sizeof(epoch), INT64_FORMAT, rig_node_epoch());
	snprintf(upto, sizeof(upto), INT64_FORMAT, confirmed);
	rc = rig_conn_get(peer, conninfo, rig_deadline(rig_sync_timeout));
	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_confirm_remote($1, $2, $3)",
						   3, params, rig_deadline(rig_sync_timeout)));
}

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
	rig_peer_note_error(xp->name, RIG_STATE_DEGRADED, why);
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
rig_connect_peer(RigXactPeer *xp, List *peers, TimestampTz deadline)
{
	const char *conninfo = NULL;
	char	   *err = NULL;
	ListCell   *lc;

	foreach(lc, peers)
	{
		RigPeer    *p = lfirst(lc);

		if (strcmp(p->name, xp->name) == 0)
			conninfo = p->conninfo;
	}
	xp->rc = rig_conn_try_get(xp->name, conninfo, deadline, &err);
	if (xp->rc != NULL)
		return;
	if (xp->semisync)
	{
		rig_degrade(xp, err);
		return;
	}
	rig_peer_note_error(xp->name, RIG_STATE_UNREACHABLE, err);
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
	if (err == NULL)
		rig_peer_note_error(xp->name, RIG_STATE_UNREACHABLE,
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
	TimestampTz prepare_sent;
	int64		epoch;
	int64		min_version;
	char	   *prepare;
	int			i;

	/* the commit gate: peers join and return to sync under it exclusively */
	LockRelationOid(rig_relid("commit_gate"), RowShareLock);
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
				rig_peer_note_error(p->name, RIG_STATE_DEGRADED, "unreachable");
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
		rig_xpeers[rig_nxpeers].semisync = (p->mode == RIG_PEER_SEMISYNC);
		rig_nxpeers++;
	}
	if (rig_nxpeers == 0)
	{
		MemoryContextSwitchTo(old);
		return;
	}

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
		rig_connect_peer(&rig_xpeers[i], peers, deadline);
	for (i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];

		if (xp->dropped)
			continue;
		xp->rc->state = RIG_CONN_SENDING;
		if (!rig_send_ops(xp->rc, wire, list_length(ops), NULL, deadline))
			rig_send_failed(xp);
	}

	/*
	 * Make this transaction's xid and versions durable before any peer
	 * can prepare them: otherwise a crash could hand the same xid (or
	 * version) to another transaction, and the resolver would decide the
	 * peer's prepared transaction by the wrong one.  The peers apply the
	 * ops meanwhile; PREPARE goes out only after the flush.
	 */
	rig_fault("before_local_flush", true);
	XLogFlush(XactLastRecEnd);
	prepare = psprintf("PREPARE TRANSACTION '%s'", rig_xgid);
	prepare_sent = GetCurrentTimestamp();
	for (i = 0; i < rig_nxpeers; i++)
	{
		RigXactPeer *xp = &rig_xpeers[i];

		if (xp->dropped)
			continue;
		xp->rc->state = RIG_CONN_PREPARING;
		if (!rig_send_final(xp->rc, prepare, deadline))
			rig_send_failed(xp);
	}
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
		xp->rc->state = RIG_CONN_PREPARED;
		rig_peer_note_prepare(xp->name, GetCurrentTimestamp() - prepare_sent);
	}
	rig_fault("after_peer_prepare", true);
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

		if (rc == NULL || rc->conn == NULL || rig_xpeers[i].dropped)
			continue;
		if (rc->state == RIG_CONN_PREPARING)
			rig_settle_preparing(rc, deadline);
		if (rc->conn == NULL)
			continue;
		if (rc->state != RIG_CONN_PREPARED ||
			!PQsendQuery(rc->conn, sql) ||
			!rig_conn_flush(rc, deadline, false))
		{
			/* mid-exchange, or the send failed: the peer cleans up on close */
			rig_conn_discard(rc);
			continue;
		}
		rc->state = RIG_CONN_FINISHING;
		/* not waiting: the peer holds the prepared versions, to be committed */
		if (!wait)
			rig_peer_note_commit(rig_xpeers[i].name, rig_xmax_version);
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
			rc->state = RIG_CONN_IDLE;
			if (strcmp(verb, "COMMIT") == 0)
				rig_peer_note_commit(rig_xpeers[i].name, rig_xmax_version);
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
		rc->state = RIG_CONN_PREPARED;
		return;
	}
	PQclear(err);
	if (err != NULL && PQexitPipelineMode(rc->conn) == 1 &&
		rig_conn_exec_quiet(rc, "ROLLBACK", deadline))
		rc->state = RIG_CONN_IDLE;
	else
		rig_conn_discard(rc);
}

/*
 * "does not exist" or "is busy" in answer to COMMIT/ROLLBACK PREPARED: the
 * resolver (or another session) settled the transaction meanwhile.
 */
bool
rig_settled_elsewhere(PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return sqlstate != NULL &&
		(strcmp(sqlstate, "42704") == 0 || strcmp(sqlstate, "55006") == 0 ||
		 strcmp(sqlstate, "55000") == 0);
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
