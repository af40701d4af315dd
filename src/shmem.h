/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  rig's shared memory: in-flight versions, what a replica's primary
 *	  confirmed, and the worker's state (shmem.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_SHMEM_H
#define RIG_SHMEM_H

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"

/* Outcomes of transactions across nodes kept for rig_transaction_wait() */
#define RIG_XNODE_OUTCOMES		64

/* What rig.status shows of the worker */
typedef struct RigWorkerInfo
{
	char		state[64];
	int			pid;
	int			starts;			/* since the server started */
	TimestampTz error_at;		/* 0: no error */
	char		error[256];
} RigWorkerInfo;

/*
 * Fencing: a peer refused this node for a stale epoch, or the worker met a
 * peer in a newer epoch.  Kept in shared memory so that every later
 * rig_do() fails at once; the worker makes it durable in rig.node.
 */
typedef struct RigFenceInfo
{
	int64		epoch;			/* this node's epoch when it was fenced */
	char		by[64];			/* the peer that refused it or was newer */
	char		primary[64];	/* the new primary, "" when not known */
	char		reason[256];	/* the peer's message */
	TimestampTz at;				/* 0: not fenced */
} RigFenceInfo;

/*
 * Whether this node is the primary, for routing new connections (route.c):
 * unknown until a process read rig.node since the server started.
 */
typedef enum RigRouteRole
{
	RIG_ROUTE_UNKNOWN = 0,
	RIG_ROUTE_PRIMARY,
	RIG_ROUTE_NOT_PRIMARY
} RigRouteRole;

extern void rig_shmem_request(void);
extern void rig_shmem_startup(void);
extern bool rig_shmem_loaded_from(Oid seqoid);
extern void rig_shmem_load(Oid seqoid, int64 last_assigned);
extern void rig_inflight_reserve(void);
extern void rig_inflight_set_min(int64 version);
extern int64 rig_inflight_watermark(bool but_mine);
extern int	rig_inflight_count(void);
extern void rig_note_assigned(int64 version);
extern void rig_note_confirmed(int64 version);
extern int64 rig_shmem_last_assigned(void);
extern int64 rig_shmem_confirmed(void);
extern void rig_shmem_set_route_role(RigRouteRole role);
extern RigRouteRole rig_shmem_route_role(void);
extern void rig_worker_set_state(const char *state);
extern void rig_worker_note_start(void);
extern void rig_worker_note_error(const char *message, const char *detail);
extern void rig_worker_get_state(RigWorkerInfo *info);
extern void rig_fence_set(int64 epoch, const char *by, const char *primary,
						  const char *reason);
extern bool rig_fence_get(RigFenceInfo *info);
extern void rig_note_contact(int mode);
extern bool rig_get_contact(TimestampTz *at, int *mode);
extern bool rig_handover_begin(const char *to);
extern void rig_handover_end(void);
extern bool rig_handover_running(char *to);
extern uint64 rig_promote_ask(void);
extern uint64 rig_promote_pending(pid_t *requester);
extern void rig_promote_answer(uint64 ticket, int64 epoch, const char *error);
extern bool rig_promote_answered(uint64 ticket, int64 *epoch, char *error,
								 Size errlen);
extern ConditionVariable *rig_shmem_xnode_cv(void);
extern void rig_shmem_xnode_outcome_set(int64 id, TimestampTz created, bool committed);
extern const char *rig_shmem_xnode_outcome(int64 id, TimestampTz created);

#endif							/* RIG_SHMEM_H */
