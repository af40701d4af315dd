/*-------------------------------------------------------------------------
 *
 * wire.c
 *	  How ops travel to a peer: the parameters of rig_apply_remote() in
 *	  binary where it pays, pipelines of them ended by PREPARE TRANSACTION
 *	  or COMMIT, reading their results, and telling a peer what it holds.
 *
 * The commit path (replicate.c) and catch-up (ship.c) send ops the same
 * way: BEGIN, one prepared-statement call of rig_apply_remote() per op,
 * then a final command, all in one libpq pipeline.  The lock hashes go as
 * a binary int8[]; the peer decodes them with rig_wire_decode_locks().
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/wire.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "conn.h"
#include "locks.h"
#include "node.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "shmem.h"
#include "wire.h"

/* The prepared statement each pipeline calls once per op */
#define RIG_APPLY_STMT	"rig_apply"
#define RIG_APPLY_SQL \
	"SELECT pg_catalog.rig_apply_remote($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


static const Oid rig_apply_types[RIG_WIRE_NPARAMS] = {
	TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID, JSONBOID, TEXTOID,
	TIMESTAMPTZOID, TEXTOID, INT8ARRAYOID, INT8OID
};
static const int rig_apply_formats[RIG_WIRE_NPARAMS] = {0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1};

static void rig_put_int64(char *buf, int64 v);
static void rig_put_int32(char *buf, int32 v);
static char *rig_wire_encode_locks(const uint64 *locks, int nlocks, int *len);
static void rig_fence_if_refused(RigConn *rc, PGresult *err);

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
rig_wire_encode_locks(const uint64 *locks, int nlocks, int *len)
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
	w->locks = nlocks >= 0 ? rig_wire_encode_locks(locks, nlocks, &w->lengths[9]) : NULL;
	w->values[9] = w->locks;
	w->values[10] = NULL;
}

/*
 * Tell the peer, with this op, that it holds every version up to confirmed
 * (committed or prepared): its watermark may rise that far (replica.c).
 */
void
rig_wire_op_confirm(RigWireOp *w, int64 confirmed)
{
	rig_put_int64(w->confirmed, confirmed);
	w->values[10] = w->confirmed;
}

/*
 * Queue BEGIN, the ops and a final command (PREPARE TRANSACTION or COMMIT)
 * as one pipeline and send it, in one write when it fits the socket.
 * False when libpq refused or the peer could not take the bytes before
 * the deadline.
 */
bool
rig_send_ops(RigConn *rc, RigWireOp *ops, int nops, const char *final_sql,
			 TimestampTz deadline)
{
	PGconn	   *conn = rc->conn;

	if (!PQenterPipelineMode(conn))
		return false;
	/* BEGIN first: parsing the statement would take a snapshot before it */
	if (!PQsendQueryParams(conn, "BEGIN ISOLATION LEVEL READ COMMITTED",
						   0, NULL, NULL, NULL, NULL, 0))
		return false;
	if (!rc->stmt_prepared)
	{
		if (!PQsendPrepare(conn, RIG_APPLY_STMT, RIG_APPLY_SQL,
						   RIG_WIRE_NPARAMS, rig_apply_types))
			return false;
		rc->stmt_prepared = true;
	}
	for (int i = 0; i < nops; i++)
	{
		if (!PQsendQueryPrepared(conn, RIG_APPLY_STMT, RIG_WIRE_NPARAMS,
								 ops[i].values, ops[i].lengths,
								 rig_apply_formats, 0))
			return false;
	}
	if (!PQsendQueryParams(conn, final_sql, 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(conn))
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

/*
 * A peer refused our ops for a stale epoch (RG001): another node was
 * promoted.  Fence this node at once, so that no later rig_do() writes;
 * the worker makes it durable.
 */
static void
rig_fence_if_refused(RigConn *rc, PGresult *err)
{
	const char *sqlstate = PQresultErrorField(err, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
	char		peer[RIG_CONN_KEYLEN];

	if (sqlstate == NULL || strcmp(sqlstate, "RG001") != 0 || rig_node_is_replica())
		return;
	strlcpy(peer, rc->peer, sizeof(peer));
	peer[strcspn(peer, "#")] = '\0';	/* a catch-up lane names its peer */
	rig_fence_set(rig_node_epoch(), peer, NULL, msg);
	ereport(LOG,
			(errmsg("rig: node \"%s\" is fenced: peer \"%s\" refused its epoch " INT64_FORMAT,
					rig_node_name(), peer, rig_node_epoch()),
			 errdetail_internal("%s", msg ? msg : "")));
}

/* Throw for a peer that failed to run the ops, with the peer's own error. */
void
rig_ops_failed(RigConn *rc, PGresult *err, bool timed_out, const char *what)
{
	if (err != NULL)
	{
		rig_fence_if_refused(rc, err);
		rig_conn_fail(rc, err, NULL);
	}
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
rig_send_confirm(const char *peer, const char *conninfo, int64 confirmed,
				 RigPeerMode mode)
{
	char		epoch[32];
	char		upto[32];
	const char *params[4] = {rig_node_name(), epoch, upto, rig_peer_mode_names[mode]};
	RigConn    *rc;

	snprintf(epoch, sizeof(epoch), INT64_FORMAT, rig_node_epoch());
	snprintf(upto, sizeof(upto), INT64_FORMAT, Max(confirmed, 0));
	rc = rig_conn_get(peer, conninfo, rig_deadline(rig_sync_timeout));
	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_confirm_remote($1, $2, $3, $4)",
						   4, params, rig_deadline(rig_sync_timeout)));
	/* the peer took our word now: rig.promote_lease counts from here */
	rig_peer_event(peer, RIG_PEER_REACHED, 0, NULL);
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

/*
 * The lock hashes a primary sent with an op (int8[] without NULLs), as
 * sorted, distinct uint64s.
 */
int
rig_wire_decode_locks(ArrayType *arr, uint64 **out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("locks must be a one-dimensional bigint array without NULLs")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	*out = palloc(sizeof(uint64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*out)[i] = (uint64) DatumGetInt64(elems[i]);
	return rig_sort_hashes(*out, n);
}
