/*-------------------------------------------------------------------------
 *
 * rig.h
 *	  Shared declarations of the rig extension: settings, shared memory,
 *	  handler registry, operation log and transaction state.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rig.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_H
#define RIG_H

#include "fmgr.h"
#include "access/transam.h"
#include "nodes/pg_list.h"
#include "datatype/timestamp.h"
#include "storage/lock.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

/* Longest method name accepted by rig_register() */
#define RIG_MAX_METHOD_LEN	63

/* field4 of the advisory lock tags rig uses, kept clear of pg_advisory_lock's 1 and 2 */
#define RIG_LOCKCLASS_RESOURCE	0x7269
#define RIG_LOCKCLASS_IDEMKEY	0x726a

/* settings (rig.c) */
extern char *rig_database;
extern char *rig_node_name_setting;
extern int	rig_sync_timeout;
extern int	rig_catchup_connections;
extern bool rig_commit_wait;
extern int	rig_resolver_interval;
extern int	rig_verify_interval;
extern int	rig_max_payload;
extern char *rig_handler_search_path;
extern int	rig_key_retention;
extern int	rig_follower_max_lag;

extern const char *rig_node_name(void);
extern void rig_check_database(void);

/* shared memory (shmem.c) */
extern void rig_shmem_request(void);
extern void rig_shmem_startup(void);
extern void rig_inflight_reserve(void);
extern void rig_inflight_set_min(int64 version);
extern void rig_note_assigned(int64 version);
extern void rig_note_confirmed(int64 version);
extern void rig_ensure_loaded(void);
extern int64 rig_compute_watermark(void);
extern int64 rig_watermark_but_mine(void);
extern int64 rig_last_assigned(void);
extern int	rig_inflight_count(void);
extern void rig_worker_set_state(const char *state);
extern void rig_worker_note_start(void);
extern void rig_worker_note_error(const char *message);

/* What rig.status shows of the worker */
typedef struct RigWorkerInfo
{
	char		state[64];
	int			pid;
	int			starts;			/* since the server started */
	TimestampTz error_at;		/* 0: no error */
	char		error[256];
} RigWorkerInfo;

extern void rig_worker_get_state(RigWorkerInfo *info);

/* background worker (worker.c) and resolver (resolve.c) */
extern void rig_worker_register(void);
extern int	rig_resolve_all(int min_age_ms);

/* handler registry (handlers.c) */
typedef struct RigHandler
{
	char		method[RIG_MAX_METHOD_LEN + 1];
	Oid			apply_oid;
	Oid			validate_oid;
	Oid			resources_oid;
	Oid			apply_owner;	/* handlers run as their owner */
	Oid			validate_owner;
	Oid			resources_owner;
	bool		apply_exposed;	/* a role other than the owner may EXECUTE it */
	Oid			apply_grantee;	/* that role (ACL_ID_PUBLIC: PUBLIC) */
	FmgrInfo	apply;
	FmgrInfo	validate;
	FmgrInfo	resources;
	bool		valid;
} RigHandler;

extern RigHandler *rig_lookup_handler(const char *method);
extern bool rig_search_path_safe(const char *value);
extern int	rig_handler_path_push(void);
extern void rig_handler_path_pop(int nestlevel);
extern void rig_check_handler_private(RigHandler *handler);
extern Datum rig_handler_invoke(FunctionCallInfo fcinfo, Oid owner);
extern void rig_handlers_init(void);

/* catalog of rig's own relations (catalog.c) */
extern Oid	rig_schema_oid(void);
extern Oid	rig_relid(const char *relname);
extern Oid	rig_rel_owner(Oid relid);
extern void rig_insert_row(const char *relname, Datum *values, bool *nulls);
extern int	rig_spi_as_owner(const char *relname, const char *sql, int nargs,
							 Oid *types, Datum *values, const char *nulls);
extern bool rig_identifier_ok(const char *name);
extern void rig_check_identifier(const char *what, const char *name);
extern const char *rig_name_for_message(const char *name);
extern char *rig_make_gid(int64 epoch, FullTransactionId fxid, int64 first,
						  int64 last);
extern bool rig_parse_gid(const char *gid, const char *node,
						  FullTransactionId *fxid, int64 *first, int64 *last);
extern void rig_catalog_init(void);

/* operation log (oplog.c) */
typedef struct RigLogRecord
{
	int64		version;
	int64		epoch;
	char	   *method;
	Jsonb	   *jdata;
	char	   *data;			/* jdata as text */
	uint64	   *locks;			/* resource hashes (ship.c fills them) */
	int			nlocks;			/* -1: unknown method */
	char	   *idem_key;		/* NULL when none */
	TimestampTz op_time;
	char	   *origin;
} RigLogRecord;

extern int	rig_log_read(int64 after, int64 upto, int max, Size max_bytes,
						 RigLogRecord *out, bool *limited);
extern void rig_log_append(int64 version, int64 epoch, const char *method,
						   Jsonb *data, text *idem_key, TimestampTz op_time,
						   const char *origin);
extern int64 rig_log_last_version(void);
extern int64 rig_log_first_version(void);
extern bool rig_log_has_version(int64 version);
extern void rig_flush_visible(void);
extern void rig_log_check_retained(int64 after);
extern uint64 rig_log_guarded_delete(const char *sql, int nargs, Oid *types,
									 Datum *values);

/* idempotency keys (keys.c) */
extern bool rig_key_lookup(text *key, const char *method, Jsonb *data,
						   int64 *version);
extern void rig_key_record(text *key, int64 version, const char *method,
						   Jsonb *data, TimestampTz op_time);

/* node state (node.c) */
extern int64 rig_node_epoch(void);
extern bool rig_node_is_replica(void);
extern const char *rig_node_primary_name(void);
extern int64 rig_node_compacted_below(void);
extern void rig_node_update(const char *sql, int nargs, Oid *types, Datum *args);
extern void rig_node_init(void);

/* the write path (write.c) */
extern void rig_call_apply(RigHandler *handler, int64 version,
						   TimestampTz op_time, Jsonb *data);

/* the replica side (replica.c) and followers (follow.c) */
extern int64 rig_prepared_floor(void);
extern void rig_prepared_versions(int64 *lowest, int64 *highest);
extern void rig_apply_op(int64 version, int64 epoch, const char *method,
						 Jsonb *data, text *key, TimestampTz op_time,
						 const char *origin, const uint64 *locks, int nlocks);
extern void rig_set_replica_of(const char *primary, int64 epoch);
extern void rig_node_values(Datum *values, bool *nulls);
extern int64 rig_follow_round(void);

/* two-phase commit on the peers (replicate.c) */
extern void rig_replicate_prepare(List *ops);
extern void rig_replicate_commit(void);
extern void rig_replicate_abort(void);

/* peers of this primary (peer.c) */
typedef enum RigPeerMode
{
	RIG_PEER_SYNC,
	RIG_PEER_SEMISYNC,
	RIG_PEER_ASYNC
} RigPeerMode;

typedef struct RigPeer
{
	char		name[NAMEDATALEN];
	char	   *conninfo;
	RigPeerMode mode;
} RigPeer;

extern List *rig_peer_list(void);
extern List *rig_peer_list_copy(void);
extern void rig_peer_init(void);
extern RigPeerMode rig_peer_mode(const char *name);
extern void rig_check_sync_peers(void);
extern void rig_foreach_peer(void (*work) (RigPeer *peer, void *arg), void *arg,
							 const char *what);

/* shared peer health (peerstate.c) */
typedef enum RigPeerState
{
	RIG_STATE_IN_SYNC,
	RIG_STATE_CATCHING_UP,
	RIG_STATE_DEGRADED,
	RIG_STATE_UNREACHABLE,
	RIG_STATE_UNKNOWN,
	RIG_STATE_DIVERGED
} RigPeerState;

/* Whether the last attempt to reach a peer worked */
typedef enum RigPeerContact
{
	RIG_CONTACT_UNKNOWN,
	RIG_CONTACT_REACHABLE,
	RIG_CONTACT_UNREACHABLE
} RigPeerContact;

extern Size rig_peerstate_size(void);
extern void rig_peerstate_startup(void);
extern RigPeerState rig_peer_get_state(const char *name);
extern void rig_peer_note_ok(const char *name, RigPeerState state,
							 int64 version);
extern void rig_peer_note_error(const char *name, RigPeerState state,
								const char *error);
extern void rig_peer_note_failure(const char *name, const char *error,
								  int sqlerrcode);
extern void rig_peer_note_missed(const char *name);
extern void rig_peer_note_prepare(const char *name, int64 elapsed_us);
extern void rig_peer_note_commit(const char *name, int64 version);
extern void rig_peer_forget(const char *name);
extern const char *rig_peer_state_name(RigPeerState state);
extern int64 rig_peer_get_horizon(const char *name);
extern void rig_peer_set_horizon(const char *name, int64 horizon);

/* catch-up (catchup.c) */
extern void rig_catch_up_all(void);
extern void rig_catch_up(RigPeer *peer);
extern void rig_confirm_in_sync(RigPeer *peer);

/* anti-entropy: comparing a peer's log and handlers with ours (verify.c) */
typedef enum RigDiffKind
{
	RIG_DIFF_MISSING,			/* only this node has the version(s) */
	RIG_DIFF_EXTRA,				/* only the peer has them */
	RIG_DIFF_DIFFERS			/* both have the version, with other content */
} RigDiffKind;

typedef struct RigLogDiff
{
	int64		first;
	int64		last;
	RigDiffKind kind;
} RigLogDiff;

typedef struct RigHandlerDiff
{
	char	   *method;
	RigDiffKind kind;
} RigHandlerDiff;

typedef struct RigVerifyResult
{
	int64		from;			/* versions compared: from..upto */
	int64		upto;
	List	   *diffs;			/* RigLogDiff, in version order */
	bool		unrepairable;	/* a difference other than a hole */
	bool		truncated;		/* more differences than reported */
	int			queries;		/* queries sent to the peer */
} RigVerifyResult;

struct RigConn;
extern void rig_verify_log(struct RigConn *rc, int64 after, RigVerifyResult *res);
extern List *rig_verify_handlers(struct RigConn *rc);
extern void rig_require_same_handlers(struct RigConn *rc, const char *name, bool known);
extern int64 rig_verified_start(struct RigConn *rc, const char *name,
								const char *conninfo, int64 after, bool known);
extern char *rig_diff_describe(RigLogDiff *d);
extern const char *rig_diff_name(RigDiffKind kind);
extern char *rig_handler_diffs_describe(List *diffs);
extern void rig_verify_request(const char *name);
extern bool rig_verify_retry_due(const char *name);
extern void rig_verify_all(void);

/* fault injection for crash tests (rig.c) */
extern char *rig_fault_point;
extern void rig_fault(const char *point, bool interruptible);

/* resource and key locks (locks.c) */
extern int	rig_resource_hashes(RigHandler *handler, Jsonb *data, uint64 **hashes);
extern int	rig_sort_hashes(uint64 *hashes, int n);
extern void rig_lock_hashes(const uint64 *hashes, int n);
extern void rig_lock_idempotency_key(text *key);

/* One operation written by the current transaction (xact.c) */
typedef struct RigOp
{
	int64		version;
	int64		epoch;
	TimestampTz op_time;
	SubTransactionId subid;
	bool		remote;			/* applied for this replica's primary */
	char	   *method;
	Jsonb	   *data;
	text	   *idem_key;		/* NULL when the op has none */
	char	   *origin;
	uint64	   *locks;			/* hashes of its resources, sorted */
	int			nlocks;
} RigOp;

/* transaction state (xact.c) */
extern void rig_xact_init(void);
extern void rig_xact_register_op(int64 version, int64 epoch, const char *method,
								 Jsonb *data, text *idem_key,
								 TimestampTz op_time, const char *origin,
								 const uint64 *locks, int nlocks, bool remote);
extern bool rig_xact_has_ops(void);
extern void rig_xact_refuse_ops(const char *caller);
extern void rig_xact_note_confirmed(int64 version);
extern ErrorData *rig_subxact_try(void (*work) (void *arg), void *arg);
extern bool rig_in_handler(void);
extern void rig_handler_enter(int64 version, TimestampTz op_time,
							  int64 *save_version, TimestampTz *save_time);
extern void rig_handler_leave(int64 save_version, TimestampTz save_time);

#endif							/* RIG_H */
