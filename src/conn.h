/*-------------------------------------------------------------------------
 *
 * conn.h
 *	  libpq connections from a backend to rig's peers (conn.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/conn.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_CONN_H
#define RIG_CONN_H

#include "libpq-fe.h"
#include "datatype/timestamp.h"

/* Where a cached connection stands in rig's exchange with the peer */
typedef enum RigConnState
{
	RIG_CONN_IDLE,				/* no transaction open on the peer */
	RIG_CONN_PREPARING,			/* BEGIN..PREPARE sent, results pending */
	RIG_CONN_PREPARED,			/* the peer holds our prepared transaction */
	RIG_CONN_FINISHING			/* COMMIT/ROLLBACK PREPARED sent, not read */
} RigConnState;

/* A cache key: a peer's name, or "<peer>#<lane>" for a catch-up lane */
#define RIG_CONN_KEYLEN		(NAMEDATALEN + 16)

typedef struct RigConn
{
	char		peer[RIG_CONN_KEYLEN];	/* hash key: the peer's name */
	PGconn	   *conn;
	uint32		conninfo_hash;	/* reconnect when the conninfo changes */
	RigConnState state;
	bool		stmt_prepared;	/* rig_apply statement prepared on it */
	struct WaitEventSet *wes;	/* latch, postmaster death and the socket */
	int			wes_sock_pos;	/* the socket's position in wes */
	uint32		wes_events;		/* what wes waits for on the socket */
} RigConn;

extern TimestampTz rig_deadline(int timeout_ms);
extern RigConn *rig_conn_get(const char *peer, const char *conninfo,
							 TimestampTz deadline);
extern RigConn *rig_conn_try_get(const char *peer, const char *conninfo,
								 TimestampTz deadline, char **err);
extern bool rig_conn_try_open(RigConn *rc, const char *peer, const char *conninfo,
							  TimestampTz deadline, char **err);
extern void rig_conn_open(RigConn *rc, const char *peer, const char *conninfo,
						  TimestampTz deadline);
extern bool rig_conn_is_open(const char *peer);
extern void rig_conn_set_state(RigConn *rc, RigConnState state);
extern void rig_conn_discard(RigConn *rc);
extern void rig_conn_check_conninfo(const char *peer, const char *conninfo);
extern void rig_conn_check_used_password(RigConn *rc);
extern bool rig_conn_flush(RigConn *rc, TimestampTz deadline, bool interruptible);
extern PGresult *rig_conn_result(RigConn *rc, TimestampTz deadline,
								 bool interruptible, bool *timed_out);
extern bool rig_conn_exec_quiet(RigConn *rc, const char *sql, TimestampTz deadline);
extern PGresult *rig_conn_query(RigConn *rc, const char *sql, int nparams,
								const char *const *params, TimestampTz deadline);
extern PGresult *rig_conn_query_long(RigConn *rc, const char *sql, int nparams,
									 const char *const *params, int timeout_ms);
extern void rig_conn_query_send(RigConn *rc, const char *sql, int nparams,
								const char *const *params, TimestampTz deadline);
extern PGresult *rig_conn_query_wait(RigConn *rc, TimestampTz deadline);
extern void rig_conn_fail(RigConn *rc, PGresult *res, const char *what) pg_attribute_noreturn();
extern char *rig_conninfo_without_secrets(const char *conninfo);

#endif							/* RIG_CONN_H */
