/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  libpq connections from a backend to rig's peers.
 *
 * One cached connection per backend per peer, non-blocking.  Every wait
 * goes through WaitLatchOrSocket with a deadline, so a peer that is down or
 * hung costs a writer at most rig.sync_timeout, and a cancel request is
 * served while waiting.  Waits on the commit path (after the local commit)
 * must not throw: they take interruptible = false and simply give up when
 * an interrupt is pending or the deadline passes, leaving the peer's
 * prepared transaction to the resolver.  A connection whose protocol state
 * is unknown (an error or timeout mid-exchange) is closed, never reused.
 *
 * Where a connection stands in rig's exchange with the peer (RigConnState)
 * changes only here: rig_conn_set_state() checks each step against the
 * exchange's order, and closing a connection returns it to idle.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/conn.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "settings.h"

/*
 * How often a peer's backend checks that we are still connected, and how
 * much longer than rig.sync_timeout its statements may run (so that our own
 * deadline, with its clearer error, normally comes first)
 */
#define RIG_PEER_CHECK_INTERVAL_MS	1000
#define RIG_PEER_TIMEOUT_MARGIN_MS	1000

static HTAB *rig_conn_cache = NULL;

static long rig_ms_left(TimestampTz deadline);
static bool rig_conn_wait(RigConn *rc, int io_flags, TimestampTz deadline,
						  bool interruptible);
static void rig_conn_close(RigConn *rc);
static bool rig_conn_settled(RigConn *rc);
static bool rig_conn_bound_peer_work(RigConn *rc, TimestampTz deadline, char **err);
static int	rig_peer_statement_timeout(void);

/* The moment timeout_ms from now. */
TimestampTz
rig_deadline(int timeout_ms)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
}

/* Milliseconds until deadline (0 when it passed). */
static long
rig_ms_left(TimestampTz deadline)
{
	long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

	return ms < 0 ? 0 : ms;
}

/*
 * Wait until the socket is ready for io_flags, the deadline passes or an
 * interrupt comes.  Returns false on timeout (or, when not interruptible,
 * on a pending interrupt); throws on interrupts otherwise.  An established
 * connection waits on its own WaitEventSet (no epoll set built per wait);
 * one being established may still change sockets, so it uses
 * WaitLatchOrSocket.
 */
static bool
rig_conn_wait(RigConn *rc, int io_flags, TimestampTz deadline,
			  bool interruptible)
{
	for (;;)
	{
		int			ev = 0;
		long		left = rig_ms_left(deadline);

		if (left <= 0)
			return false;
		if (rc->wes != NULL)
		{
			WaitEvent	event;

			if (rc->wes_events != (uint32) io_flags)
			{
				ModifyWaitEvent(rc->wes, rc->wes_sock_pos, io_flags, NULL);
				rc->wes_events = io_flags;
			}
			if (WaitEventSetWait(rc->wes, left, &event, 1, PG_WAIT_EXTENSION) == 1)
				ev = event.events;
			/* after the local commit the process must not exit mid-callback */
			if (ev & WL_POSTMASTER_DEATH)
			{
				if (interruptible)
					proc_exit(1);
				return false;
			}
		}
		else
			ev = WaitLatchOrSocket(MyLatch,
								   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | io_flags,
								   PQsocket(rc->conn), left, PG_WAIT_EXTENSION);
		if (ev & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (interruptible)
				CHECK_FOR_INTERRUPTS();
			else if (InterruptPending)
				return false;
		}
		if (ev & io_flags)
			return true;
	}
}

/* Forget a connection: its state is unknown or it is no longer wanted. */
static void
rig_conn_close(RigConn *rc)
{
	if (rc->wes != NULL)
	{
		FreeWaitEventSet(rc->wes);
		rc->wes = NULL;
	}
	if (rc->conn != NULL)
	{
		PQfinish(rc->conn);
		ReleaseExternalFD();
		rc->conn = NULL;
	}
	rc->state = RIG_CONN_IDLE;
	rc->stmt_prepared = false;
}

/*
 * The next step of an exchange: idle -> preparing (BEGIN, the ops and
 * PREPARE sent) -> prepared -> finishing (COMMIT/ROLLBACK
 * PREPARED sent) -> idle; an abort may roll a preparing connection back to
 * idle.  With rig.commit_wait off, a prepared connection goes back to idle
 * at once and a second, idle one carries COMMIT PREPARED (finishing).  Never throws (the commit path calls it).
 */
void
rig_conn_set_state(RigConn *rc, RigConnState state)
{
	Assert((rc->state == RIG_CONN_IDLE && state == RIG_CONN_PREPARING) ||
		   (rc->state == RIG_CONN_PREPARING && state == RIG_CONN_PREPARED) ||
		   (rc->state == RIG_CONN_PREPARING && state == RIG_CONN_IDLE) ||
		   (rc->state == RIG_CONN_PREPARED && state == RIG_CONN_FINISHING) ||
		   (rc->state == RIG_CONN_PREPARED && state == RIG_CONN_IDLE) ||
		   (rc->state == RIG_CONN_IDLE && state == RIG_CONN_FINISHING) ||
		   (rc->state == RIG_CONN_FINISHING && state == RIG_CONN_IDLE));
	rc->state = state;
}

/* Drop a connection after a failure, from any path (never throws). */
void
rig_conn_discard(RigConn *rc)
{
	rig_conn_close(rc);
}

/* The cached connection to a peer, opened if needed; throws 08001. */
RigConn *
rig_conn_get(const char *peer, const char *conninfo, TimestampTz deadline)
{
	char	   *err;
	RigConn    *rc = rig_conn_try_get(peer, conninfo, deadline, &err);

	if (rc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to peer \"%s\"", peer),
				 errdetail_internal("%s", err),
				 errhint("Check that the peer is running and reachable, and its conninfo in rig.peers.")));
	return rc;
}

/*
 * The cached connection to a peer, opened (within the deadline) if needed;
 * NULL with *err set when the peer cannot be reached.  A conninfo change
 * (or a rig.sync_timeout change) since the connection was made reconnects.
 */
RigConn *
rig_conn_try_get(const char *peer, const char *conninfo, TimestampTz deadline,
				 char **err)
{
	RigConn    *rc;
	bool		found;
	/* the peer's statement_timeout follows rig.sync_timeout: reconnect on a change */
	uint32		hash = hash_combine(hash_bytes((const unsigned char *) conninfo, strlen(conninfo)),
									(uint32) rig_sync_timeout);

	if (rig_conn_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = RIG_CONN_KEYLEN;
		ctl.entrysize = sizeof(RigConn);
		rig_conn_cache = hash_create("rig peer connections", 8, &ctl,
									 HASH_ELEM | HASH_STRINGS);
	}
	rc = hash_search(rig_conn_cache, peer, HASH_ENTER, &found);
	if (!found)
	{
		rc->conn = NULL;
		rc->wes = NULL;
		rc->state = RIG_CONN_IDLE;
		rc->stmt_prepared = false;
	}
	/* the answer to a COMMIT PREPARED we did not wait for may be pending */
	if (rc->conn != NULL && rc->state == RIG_CONN_FINISHING)
	{
		PGresult   *res;
		bool		timed_out;

		while ((res = rig_conn_result(rc, deadline, true, &timed_out)) != NULL)
			PQclear(res);
		if (!timed_out)
			rig_conn_set_state(rc, RIG_CONN_IDLE);
	}
	/* notice a peer that closed the connection while it sat idle */
	if (rc->conn != NULL && rc->state == RIG_CONN_IDLE)
		(void) PQconsumeInput(rc->conn);
	if (rc->conn != NULL &&
		(rc->conninfo_hash != hash || !rig_conn_settled(rc)))
		rig_conn_close(rc);
	if (rc->conn == NULL)
	{
		if (!rig_conn_try_open(rc, peer, conninfo, deadline, err))
			return NULL;
		rc->conninfo_hash = hash;
	}
	return rc;
}

/* Does this backend hold an open connection to the peer (no I/O)? */
bool
rig_conn_is_open(const char *peer)
{
	RigConn    *rc;

	if (rig_conn_cache == NULL)
		return false;
	rc = hash_search(rig_conn_cache, peer, HASH_FIND, NULL);
	return rc != NULL && rc->conn != NULL;
}

/*
 * Is a cached connection known to be idle, outside any exchange?  A query
 * cancelled mid-way (statement_timeout during rig_sync_peer, rig_resolve)
 * leaves it busy, in a pipeline or in a transaction on the peer: its answer
 * would be read as the next exchange's, so such a connection is dropped.
 */
static bool
rig_conn_settled(RigConn *rc)
{
	return rc->state == RIG_CONN_IDLE &&
		PQstatus(rc->conn) == CONNECTION_OK &&
		!PQisBusy(rc->conn) &&
		PQpipelineStatus(rc->conn) == PQ_PIPELINE_OFF &&
		PQtransactionStatus(rc->conn) == PQTRANS_IDLE;
}

/* The peer's statement_timeout: a little more than we wait for it. */
static int
rig_peer_statement_timeout(void)
{
	return rig_sync_timeout > INT_MAX - RIG_PEER_TIMEOUT_MARGIN_MS ? 0 :
		rig_sync_timeout + RIG_PEER_TIMEOUT_MARGIN_MS;
}

/*
 * Bound what the peer's backend does for us: no statement runs much longer
 * than rig.sync_timeout (we would have given up on it by then), and the backend
 * checks every second that we are still connected, so that a handler still
 * running after we disconnected is stopped rather than left to run on.  And
 * every rig call there runs READ COMMITTED and read-write, as it must,
 * whatever the node's defaults for applications, in transactions that
 * our own deadlines bound (a remote transaction of several statements is
 * not ended for idling between them).  Set once per connection, after the
 * user's conninfo (which stays untouched).
 */
static bool
rig_conn_bound_peer_work(RigConn *rc, TimestampTz deadline, char **err)
{
	char		sql[512];
	PGresult   *res;
	bool		timed_out;
	bool		ok = true;

	snprintf(sql, sizeof(sql),
			 "SET statement_timeout = %d; SET client_connection_check_interval = %d; "
			 "SET default_transaction_isolation = 'read committed'; "
			 "SET default_transaction_read_only = off; "
			 "SET idle_in_transaction_session_timeout = 0",
			 rig_peer_statement_timeout(), RIG_PEER_CHECK_INTERVAL_MS);
	if (!PQsendQuery(rc->conn, sql) || !rig_conn_flush(rc, deadline, true))
	{
		*err = pchomp(PQerrorMessage(rc->conn));
		return false;
	}
	while ((res = rig_conn_result(rc, deadline, true, &timed_out)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK && ok)
		{
			*err = pchomp(PQresultErrorMessage(res));
			ok = false;
		}
		PQclear(res);
	}
	if (timed_out)
	{
		*err = psprintf("timed out after %d ms", rig_sync_timeout);
		return false;
	}
	if (ok && PQstatus(rc->conn) != CONNECTION_OK)
	{
		*err = pchomp(PQerrorMessage(rc->conn));
		return false;
	}
	return ok;
}

/*
 * Open a non-blocking connection within the deadline.  Returns false with
 * *err set when the peer cannot be reached; throws only on interrupts and
 * out-of-resources conditions.
 */
bool
rig_conn_try_open(RigConn *rc, const char *peer, const char *conninfo,
				  TimestampTz deadline, char **err)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {conninfo, "rig", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to peer \"%s\"", peer),
				 errdetail("There are too many open files on the local server."),
				 errhint("Raise max_files_per_process or \"ulimit -n\".")));

	rc->conn = PQconnectStartParams(keys, vals, true);
	rc->state = RIG_CONN_IDLE;
	rc->stmt_prepared = false;
	rc->wes = NULL;
	strlcpy(rc->peer, peer, sizeof(rc->peer));
	if (rc->conn == NULL)
	{
		ReleaseExternalFD();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while connecting to peer \"%s\"", peer)));
	}

	while (PQstatus(rc->conn) != CONNECTION_BAD &&
		   st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		/* a cancel here leaves rc half-open: its owner closes it */
		if (!rig_conn_wait(rc, st == PGRES_POLLING_READING ?
						   WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE,
						   deadline, true))
		{
			rig_conn_close(rc);
			*err = psprintf("timed out after %d ms", rig_sync_timeout);
			return false;
		}
		st = PQconnectPoll(rc->conn);
	}

	if (PQstatus(rc->conn) != CONNECTION_OK || PQsetnonblocking(rc->conn, 1) != 0)
	{
		*err = pchomp(PQerrorMessage(rc->conn));
		rig_conn_close(rc);
		return false;
	}

	/* the socket is settled now: wait on one event set from here on */
	rc->wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(rc->wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(rc->wes, WL_POSTMASTER_DEATH, PGINVALID_SOCKET, NULL, NULL);
	rc->wes_sock_pos = AddWaitEventToSet(rc->wes, WL_SOCKET_READABLE,
										 PQsocket(rc->conn), NULL, NULL);
	rc->wes_events = WL_SOCKET_READABLE;

	if (!rig_conn_bound_peer_work(rc, deadline, err))
	{
		rig_conn_close(rc);
		return false;
	}
	return true;
}

/* Open a non-blocking connection within the deadline, or throw 08001. */
void
rig_conn_open(RigConn *rc, const char *peer, const char *conninfo,
			  TimestampTz deadline)
{
	char	   *err;

	if (!rig_conn_try_open(rc, peer, conninfo, deadline, &err))
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to peer \"%s\"", peer),
				 errdetail_internal("%s", err),
				 errhint("Check that the peer is running and reachable, and its conninfo in rig.peers.")));
}

/*
 * dblink's rule, before connecting: a non-superuser's conninfo must carry
 * a password, or the server could connect as its own OS user (peer or
 * trust authentication, ~/.pgpass).
 */
void
rig_conn_check_conninfo(const char *peer, const char *conninfo)
{
	PQconninfoOption *opts;
	char	   *err = NULL;
	bool		has_password = false;

	if (superuser())
		return;
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL)
	{
		char	   *msg = pstrdup(err ? err : "out of memory");

		PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid conninfo for \"%s\"", peer),
				 errdetail_internal("%s", pchomp(msg))));
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			has_password = true;
	PQconninfoFree(opts);
	if (!has_password)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("Non-superusers must provide a password in the conninfo for \"%s\".", peer)));
}

/*
 * dblink's rule, after connecting: for a non-superuser the server must
 * have asked for the password, not let the connection in on trust.
 */
void
rig_conn_check_used_password(RigConn *rc)
{
	if (superuser() || PQconnectionUsedPassword(rc->conn))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password is required"),
			 errdetail("Non-superusers cannot connect to \"%s\" if it does not ask for a password.", rc->peer),
			 errhint("Change the authentication method of the node at that conninfo to one that asks for a password.")));
}

/* Push everything queued in libpq to the socket; false on timeout/failure. */
bool
rig_conn_flush(RigConn *rc, TimestampTz deadline, bool interruptible)
{
	for (;;)
	{
		int			r = PQflush(rc->conn);

		if (r == 0)
			return true;
		if (r < 0)
			return false;
		/* the peer may be sending while we write: read to avoid deadlock */
		if (!rig_conn_wait(rc, WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE,
						   deadline, interruptible))
			return false;
		if (PQconsumeInput(rc->conn) == 0)
			return false;
	}
}

/*
 * Next result of the connection, waiting within the deadline.  Sets
 * *timed_out and returns NULL when the deadline passed (or an interrupt is
 * pending, when not interruptible); returns NULL with *timed_out false at
 * the end of a query's results or when the connection broke.
 */
PGresult *
rig_conn_result(RigConn *rc, TimestampTz deadline, bool interruptible,
				bool *timed_out)
{
	*timed_out = false;
	while (PQisBusy(rc->conn))
	{
		if (!rig_conn_wait(rc, WL_SOCKET_READABLE, deadline, interruptible))
		{
			*timed_out = true;
			return NULL;
		}
		if (PQconsumeInput(rc->conn) == 0)
			break;
	}
	return PQgetResult(rc->conn);
}

/* Run one command and wait for its end; false on timeout or failure. */
bool
rig_conn_exec_quiet(RigConn *rc, const char *sql, TimestampTz deadline)
{
	PGresult   *res;
	bool		timed_out;
	bool		ok = true;

	if (rc->conn == NULL || !PQsendQuery(rc->conn, sql) ||
		!rig_conn_flush(rc, deadline, false))
		return false;
	while ((res = rig_conn_result(rc, deadline, false, &timed_out)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
			PQresultStatus(res) != PGRES_TUPLES_OK)
			ok = false;
		PQclear(res);
	}
	return ok && !timed_out && PQstatus(rc->conn) == CONNECTION_OK;
}

/*
 * Run a query with text parameters and return its last result, throwing
 * with the peer's own SQLSTATE and message when it fails.
 */
PGresult *
rig_conn_query(RigConn *rc, const char *sql, int nparams,
			   const char *const *params, TimestampTz deadline)
{
	rig_conn_query_send(rc, sql, nparams, params, deadline);
	return rig_conn_query_wait(rc, deadline);
}

/*
 * Run a query whose time grows with the data (hashing a table or a range of
 * the log, checking a bootstrapped state), which rig.sync_timeout would cut
 * short on a large state: the peer's statement_timeout is raised to
 * timeout_ms for it and restored after, and we wait as long.  timeout_ms 0
 * means no bound of rig's own: the caller's statement_timeout and cancel
 * bound the wait.  On an error or a cancel the connection is closed (the
 * peer's backend notices within a second and stops), so the raised timeout
 * never outlives the call.
 */
PGresult *
rig_conn_query_long(RigConn *rc, const char *sql, int nparams,
					const char *const *params, int timeout_ms)
{
	char		set[64];
	PGresult   *volatile res = NULL;
	int			peer_ms = timeout_ms <= 0 || timeout_ms > INT_MAX - RIG_PEER_TIMEOUT_MARGIN_MS ?
		0 : timeout_ms + RIG_PEER_TIMEOUT_MARGIN_MS;

	snprintf(set, sizeof(set), "SET statement_timeout = %d", peer_ms);
	PG_TRY();
	{
		PQclear(rig_conn_query(rc, set, 0, NULL, rig_deadline(rig_sync_timeout)));
		res = rig_conn_query(rc, sql, nparams, params,
							 timeout_ms > 0 ? rig_deadline(timeout_ms) : DT_NOEND);
	}
	PG_CATCH();
	{
		/* a cancel here: closing stops the peer's work within a second */
		rig_conn_discard(rc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	snprintf(set, sizeof(set), "SET statement_timeout = %d", rig_peer_statement_timeout());
	if (!rig_conn_exec_quiet(rc, set, rig_deadline(rig_sync_timeout)))
		rig_conn_discard(rc);
	return res;
}

/*
 * Send a query with text parameters without waiting for it (the caller
 * works meanwhile, then calls rig_conn_query_wait); throws when it cannot.
 */
void
rig_conn_query_send(RigConn *rc, const char *sql, int nparams,
			  const char *const *params, TimestampTz deadline)
{
	if (!PQsendQueryParams(rc->conn, sql, nparams, NULL, params, NULL, NULL, 0) ||
		!rig_conn_flush(rc, deadline, true))
		rig_conn_fail(rc, NULL, "send a query to");
}

/* The last result of the query sent, as rig_conn_query returns it. */
PGresult *
rig_conn_query_wait(RigConn *rc, TimestampTz deadline)
{
	PGresult   *res;
	PGresult   *last = NULL;
	bool		timed_out;

	for (;;)
	{
		res = rig_conn_result(rc, deadline, true, &timed_out);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (timed_out || last == NULL)
	{
		PQclear(last);
		rig_conn_fail(rc, NULL, timed_out ? "hear back in time from" : "read from");
	}
	if (PQresultStatus(last) != PGRES_COMMAND_OK &&
		PQresultStatus(last) != PGRES_TUPLES_OK)
		rig_conn_fail(rc, last, NULL);
	return last;
}

/*
 * Throw for a failed exchange with a peer.  With the peer's error, its
 * SQLSTATE, message, detail and hint pass through (postgres_fdw's rule);
 * otherwise (no result, or libpq's own error) a connection error naming the
 * peer.  The connection is closed either way: its state is unknown.
 */
void
rig_conn_fail(RigConn *rc, PGresult *res, const char *what)
{
	char		peer[RIG_CONN_KEYLEN];
	char	   *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	strlcpy(peer, rc->peer, sizeof(peer));
	peer[strcspn(peer, "#")] = '\0';	/* a catch-up lane names its peer */
	if (sqlstate != NULL)
	{
		char	   *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		char	   *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		char	   *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		char	   *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
		int			code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
										 sqlstate[3], sqlstate[4]);

		/*
		 * The peer cancelled our statement (its statement_timeout, which rig
		 * sets to rig.sync_timeout): for us the peer did not answer in time.
		 * Passed through as 57014 it would look like a cancel of our own.
		 */
		if (code == ERRCODE_QUERY_CANCELED)
			code = ERRCODE_CONNECTION_FAILURE;

		primary = pstrdup(primary ? primary : "(no message)");
		detail = detail ? pstrdup(detail) : NULL;
		hint = hint ? pstrdup(hint) : NULL;
		context = context ? pstrdup(context) : NULL;
		PQclear(res);
		rig_conn_close(rc);
		ereport(ERROR,
				(errcode(code),
				 errmsg_internal("%s", primary),
				 detail ? errdetail_internal("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0,
				 context ? errcontext("%s", context) : 0,
				 errcontext("on peer \"%s\"", peer)));
	}
	else
	{
		/* no SQLSTATE: libpq's own error, the connection is gone */
		char	   *msg = pchomp(res ? PQresultErrorMessage(res) :
								 rc->conn ? PQerrorMessage(rc->conn) : "");

		PQclear(res);
		rig_conn_close(rc);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 what ? errmsg("could not %s peer \"%s\"", what, peer) :
				 errmsg("lost the connection to peer \"%s\"", peer),
				 msg[0] ? errdetail_internal("%s", msg) :
				 errdetail("No answer within rig.sync_timeout (%d ms).", rig_sync_timeout),
				 errhint("Check that the peer is running; nothing was committed.")));
	}
}

/*
 * A conninfo without its secrets (password, sslpassword), for the op that
 * replicates it (rig_reader may read rig.log) and for a snapshot's copy of
 * rig.remote_nodes.  As key = value pairs.
 */
char *
rig_conninfo_without_secrets(const char *conninfo)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	StringInfoData out;
	bool		secret = false;

	if (opts == NULL)
	{
		/* rig_conn_check_conninfo() has parsed it already */
		if (err)
			PQfreemem(err);
		elog(ERROR, "could not parse a conninfo");
	}
	initStringInfo(&out);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0)
		{
			secret = true;
			continue;
		}
		appendStringInfo(&out, "%s%s='", out.len > 0 ? " " : "", o->keyword);
		for (const char *c = o->val; *c; c++)
		{
			if (*c == '\'' || *c == '\\')
				appendStringInfoChar(&out, '\\');
			appendStringInfoChar(&out, *c);
		}
		appendStringInfoChar(&out, '\'');
	}
	PQconninfoFree(opts);
	/* without a secret the conninfo goes as it was given */
	return secret ? out.data : pstrdup(conninfo);
}
