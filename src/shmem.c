/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  rig's shared memory: in-flight versions, what a replica's primary
 *	  confirmed, and what the worker is doing.
 *
 * Each process that writes log records owns one slot, indexed by its
 * pgprocno, holding the smallest version its open transaction may still
 * commit (0 when none).  rig_inflight_watermark() is the smallest such
 * version minus one, or the last assigned version when no slot is set.
 *
 * A writer publishes a lower bound for its version (last assigned + 1)
 * before it draws from the sequence, so a reader that scanned the slots
 * before the publication read a last-assigned value below that version.
 * Readers therefore load last_assigned first and scan the slots second.
 * On a replica, last_assigned moves only when a transaction with the
 * primary's ops prepares or commits (xact.c): a rolled-back call leaves it
 * alone, and its slot held the watermark below its versions until then.
 *
 * last_assigned is loaded once, from the version sequence, the log and the
 * prepared transactions (watermark.c decides what it is; this file only
 * stores it).  The peers' health has its own shared
 * memory, in peerstate.c.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/condition_variable.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "shmem.h"

typedef struct RigShared
{
	LWLock	   *init_lock;		/* serializes loading last_assigned */
	slock_t		worker_mutex;	/* protects the worker fields */
	pid_t		worker_pid;
	char		worker_state[64];
	int			worker_starts;	/* since the server started */
	TimestampTz worker_error_at;	/* 0: no error yet */
	char		worker_error[256];
	/* fencing (issue 10): set once a peer refused this node's epoch */
	slock_t		fence_mutex;	/* protects fence */
	RigFenceInfo fence;			/* fence.at = 0: not fenced */
	/* end of fencing */
	pg_atomic_uint32 initialized;	/* last_assigned loaded from the sequence */
	Oid			seq_relid;		/* the sequence it was loaded from */
	pg_atomic_uint64 last_assigned; /* highest version handed out so far */
	pg_atomic_uint64 confirmed;	/* replica: every version up to it is here */

	/*
	 * Promotion (promote.c): rig_promote() takes a ticket and wakes the
	 * worker, which promotes the node and answers every ticket up to the
	 * one it served, with the new epoch or why it failed.
	 */
	/* switchover (switchover.c): rig_do is refused while a handover runs */
	/*
	 * A replica's last contact with its primary (safe_to_promote in
	 * rig.status): when, and the mode the primary last said it has.
	 */
	slock_t		contact_mutex;	/* protects the contact_ fields */
	TimestampTz contact_at;		/* 0: none since the server started */
	int			contact_mode;	/* a RigPeerMode, or -1: not told */
	bool		contact_in_sync;	/* the primary treated it as in sync then */

	slock_t		handover_mutex; /* protects the handover_ fields */
	pid_t		handover_pid;	/* the backend handing over; 0: none */
	char		handover_to[NAMEDATALEN];
	slock_t		promote_mutex;	/* protects the promote_ fields */
	uint64		promote_asked;	/* tickets handed out */
	uint64		promote_served; /* highest ticket the worker answered */
	pid_t		promote_requester;	/* the backend that took the last ticket */
	int64		promote_epoch;	/* the answer: the new epoch, or 0 */
	char		promote_error[256]; /* the answer: why it failed, or "" */

	/*
	 * Routing (route.c, issue 10): whether this node is the primary, as the
	 * last process that read rig.node found it (node.c publishes it), for
	 * ClientAuthentication_hook, which cannot read rig.node.  A RigRouteRole;
	 * RIG_ROUTE_UNKNOWN until something read rig.node since the start.
	 */
	pg_atomic_uint32 route_role;

	/* transactions across nodes (coord.c): the worker recorded a change */
	ConditionVariable xnode_cv;
	/* ... and the latest outcomes it knew before recording them */
	slock_t		xnode_mutex;
	int			xnode_next;
	int64		xnode_ids[RIG_XNODE_OUTCOMES];
	TimestampTz xnode_created[RIG_XNODE_OUTCOMES];	/* with the id: which one */
	bool		xnode_committed[RIG_XNODE_OUTCOMES];

	int			nslots;
	pg_atomic_uint64 slots[FLEXIBLE_ARRAY_MEMBER];	/* per pgprocno */
} RigShared;

static RigShared *rig_shared = NULL;

static int	rig_total_procs(void);
static Size rig_shmem_size(void);
static void rig_shmem_check(void);
static pg_atomic_uint64 *rig_my_slot(void);
static void rig_atomic_raise(pg_atomic_uint64 *counter, int64 value);

/* Every PGPROC, including prepared transactions' dummies, may own a slot. */
static int
rig_total_procs(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

/* Size of RigShared with one slot per PGPROC. */
static Size
rig_shmem_size(void)
{
	return add_size(offsetof(RigShared, slots),
					mul_size(rig_total_procs(), sizeof(pg_atomic_uint64)));
}

/* Reserve the memory and the init lock; called from shmem_request_hook. */
void
rig_shmem_request(void)
{
	RequestAddinShmemSpace(rig_shmem_size());
	RequestNamedLWLockTranche("rig", 1);
}

/* Create or attach to the shared state; called from shmem_startup_hook. */
void
rig_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rig_shared = ShmemInitStruct("rig", rig_shmem_size(), &found);
	if (!found)
	{
		rig_shared->init_lock = &(GetNamedLWLockTranche("rig"))->lock;
		SpinLockInit(&rig_shared->worker_mutex);
		rig_shared->worker_pid = 0;
		strlcpy(rig_shared->worker_state, "not started", sizeof(rig_shared->worker_state));
		rig_shared->worker_starts = 0;
		rig_shared->worker_error_at = 0;
		rig_shared->worker_error[0] = '\0';
		SpinLockInit(&rig_shared->fence_mutex);
		memset(&rig_shared->fence, 0, sizeof(RigFenceInfo));
		pg_atomic_init_u32(&rig_shared->initialized, 0);
		pg_atomic_init_u64(&rig_shared->last_assigned, 0);
		pg_atomic_init_u64(&rig_shared->confirmed, 0);
		ConditionVariableInit(&rig_shared->xnode_cv);
		SpinLockInit(&rig_shared->xnode_mutex);
		rig_shared->xnode_next = 0;
		memset(rig_shared->xnode_ids, 0, sizeof(rig_shared->xnode_ids));
		SpinLockInit(&rig_shared->contact_mutex);
		rig_shared->contact_at = 0;
		rig_shared->contact_mode = -1;
		rig_shared->contact_in_sync = false;
		SpinLockInit(&rig_shared->handover_mutex);
		rig_shared->handover_pid = 0;
		rig_shared->handover_to[0] = '\0';
		SpinLockInit(&rig_shared->promote_mutex);
		rig_shared->promote_asked = 0;
		rig_shared->promote_served = 0;
		rig_shared->promote_requester = 0;
		rig_shared->promote_epoch = 0;
		rig_shared->promote_error[0] = '\0';
		pg_atomic_init_u32(&rig_shared->route_role, RIG_ROUTE_UNKNOWN);
		rig_shared->seq_relid = InvalidOid;
		rig_shared->nslots = rig_total_procs();
		for (int i = 0; i < rig_shared->nslots; i++)
			pg_atomic_init_u64(&rig_shared->slots[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* rig cannot work without its shared memory: say how to get it. */
static void
rig_shmem_check(void)
{
	if (rig_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig's shared memory is not initialized"),
				 errhint("Add rig to shared_preload_libraries and restart the server.")));
}

/*
 * Was last_assigned loaded from this version sequence?  After a restart it
 * was not, and a recreated extension (or database) has a new sequence.
 */
bool
rig_shmem_loaded_from(Oid seqoid)
{
	rig_shmem_check();
	return pg_atomic_read_u32(&rig_shared->initialized) && rig_shared->seq_relid == seqoid;
}

/*
 * Load last_assigned (read from seqoid and the log by the caller) unless
 * another process did first.  A recreated extension starts over as a
 * replica too: what a primary confirmed to the old one says nothing of
 * the new log.
 */
void
rig_shmem_load(Oid seqoid, int64 last_assigned)
{
	LWLockAcquire(rig_shared->init_lock, LW_EXCLUSIVE);
	if (!pg_atomic_read_u32(&rig_shared->initialized) || rig_shared->seq_relid != seqoid)
	{
		pg_atomic_write_u64(&rig_shared->last_assigned, (uint64) last_assigned);
		pg_atomic_write_u64(&rig_shared->confirmed, 0);
		rig_shared->seq_relid = seqoid;
		pg_memory_barrier();
		pg_atomic_write_u32(&rig_shared->initialized, 1);
	}
	LWLockRelease(rig_shared->init_lock);
}

/* This process's slot. */
static pg_atomic_uint64 *
rig_my_slot(void)
{
	Assert(MyProc != NULL && MyProc->pgprocno < rig_shared->nslots);
	return &rig_shared->slots[MyProc->pgprocno];
}

/*
 * Publish a lower bound for the version about to be drawn, unless this
 * transaction already holds a smaller one.  Must precede nextval(), and
 * follow the load of last_assigned (rig_ensure_loaded).
 */
void
rig_inflight_reserve(void)
{
	pg_atomic_uint64 *slot;

	Assert(pg_atomic_read_u32(&rig_shared->initialized));
	slot = rig_my_slot();
	if (pg_atomic_read_u64(slot) == 0)
	{
		pg_atomic_write_u64(slot,
							pg_atomic_read_u64(&rig_shared->last_assigned) + 1);
		pg_memory_barrier();
	}
}

/* Record this transaction's smallest live version; 0 clears the slot. */
void
rig_inflight_set_min(int64 version)
{
	if (rig_shared == NULL || MyProc == NULL)
		return;
	pg_atomic_write_u64(rig_my_slot(), (uint64) version);
	pg_memory_barrier();
}

/* Raise an atomic counter to value (never lowers it). */
static void
rig_atomic_raise(pg_atomic_uint64 *counter, int64 value)
{
	uint64		cur = pg_atomic_read_u64(counter);

	while (cur < (uint64) value)
	{
		if (pg_atomic_compare_exchange_u64(counter, &cur, (uint64) value))
			break;
	}
}

/* Raise last_assigned to version (never lowers it). */
void
rig_note_assigned(int64 version)
{
	rig_atomic_raise(&rig_shared->last_assigned, version);
}

/*
 * A replica's versions arrive out of order (concurrent commits, parallel
 * catch-up connections), so what it has seen says nothing of what is still
 * to come.  Its primary tells it how far it holds everything (with a
 * commit's ops, after catch-up, and as the worker passes an in-sync peer;
 * a follower knows it itself, since it pulls in order); its watermark
 * never passes that.  Raised from the transaction callbacks, so a
 * rolled-back call changes nothing.  Shared memory only: after a restart
 * it is 0 until the primary says again.
 */
void
rig_note_confirmed(int64 version)
{
	rig_atomic_raise(&rig_shared->confirmed, version);
}

/*
 * The watermark from last_assigned and the in-flight slots alone (but for
 * this process's slot, when but_mine); the caller loaded last_assigned.
 */
int64
rig_inflight_watermark(bool but_mine)
{
	uint64		last;
	uint64		min = PG_UINT64_MAX;

	last = pg_atomic_read_u64(&rig_shared->last_assigned);
	pg_memory_barrier();
	for (int i = 0; i < rig_shared->nslots; i++)
	{
		uint64		v = pg_atomic_read_u64(&rig_shared->slots[i]);

		if (but_mine && MyProc != NULL && i == MyProc->pgprocno)
			continue;
		if (v != 0 && v < min)
			min = v;
	}
	if (min == PG_UINT64_MAX)
		return (int64) last;
	return (int64) Min(last, min - 1);
}

/* Highest version handed out so far (committed or not), as loaded. */
int64
rig_shmem_last_assigned(void)
{
	return (int64) pg_atomic_read_u64(&rig_shared->last_assigned);
}

/* How far a replica's primary confirmed it holds everything. */
int64
rig_shmem_confirmed(void)
{
	return (int64) pg_atomic_read_u64(&rig_shared->confirmed);
}

/* Publish whether this node is the primary, for new connections (route.c). */
void
rig_shmem_set_route_role(RigRouteRole role)
{
	if (rig_shared == NULL)
		return;
	pg_atomic_write_u32(&rig_shared->route_role, (uint32) role);
}

/* Whether this node is the primary, as last published. */
RigRouteRole
rig_shmem_route_role(void)
{
	if (rig_shared == NULL)
		return RIG_ROUTE_UNKNOWN;
	return (RigRouteRole) pg_atomic_read_u32(&rig_shared->route_role);
}

/* Number of processes with a version in flight, for rig.status. */
int
rig_inflight_count(void)
{
	int			n = 0;

	rig_shmem_check();
	for (int i = 0; i < rig_shared->nslots; i++)
		if (pg_atomic_read_u64(&rig_shared->slots[i]) != 0)
			n++;
	return n;
}

/* The worker says what it is doing, for rig.status. */
void
rig_worker_set_state(const char *state)
{
	SpinLockAcquire(&rig_shared->worker_mutex);
	rig_shared->worker_pid = MyProcPid;
	strlcpy(rig_shared->worker_state, state, sizeof(rig_shared->worker_state));
	SpinLockRelease(&rig_shared->worker_mutex);
}

/* The worker (re)started: count it, for rig.status. */
void
rig_worker_note_start(void)
{
	SpinLockAcquire(&rig_shared->worker_mutex);
	rig_shared->worker_pid = MyProcPid;
	rig_shared->worker_starts++;
	strlcpy(rig_shared->worker_state, "starting", sizeof(rig_shared->worker_state));
	SpinLockRelease(&rig_shared->worker_mutex);
}

/*
 * The worker hit an error (it may be dying of it): keep the message, its
 * detail (which names what differs, say, where the message cannot) and
 * the time for rig.status.  No allocation: safe from an error hook.
 */
void
rig_worker_note_error(const char *message, const char *detail)
{
	char		text[sizeof(rig_shared->worker_error)];

	if (rig_shared == NULL)
		return;
	if (detail != NULL)
		snprintf(text, sizeof(text), "%s (%s)", message ? message : "(no message)", detail);
	else
		strlcpy(text, message ? message : "(no message)", sizeof(text));
	/* cut at a character, not inside one (a node's name, say, in UTF-8) */
	text[pg_mbcliplen(text, strlen(text), sizeof(text) - 1)] = '\0';
	SpinLockAcquire(&rig_shared->worker_mutex);
	strlcpy(rig_shared->worker_error, text, sizeof(rig_shared->worker_error));
	rig_shared->worker_error_at = GetCurrentTimestamp();
	SpinLockRelease(&rig_shared->worker_mutex);
}

/* What the worker last said it was doing, its pid, starts and last error. */
void
rig_worker_get_state(RigWorkerInfo *info)
{
	SpinLockAcquire(&rig_shared->worker_mutex);
	strlcpy(info->state, rig_shared->worker_state, sizeof(info->state));
	info->pid = rig_shared->worker_pid;
	info->starts = rig_shared->worker_starts;
	info->error_at = rig_shared->worker_error_at;
	strlcpy(info->error, rig_shared->worker_error, sizeof(info->error));
	SpinLockRelease(&rig_shared->worker_mutex);
}

/*
 * Fence this node (in its epoch): a peer refused it, or is in a newer
 * epoch.  The first fence of an epoch is kept; a later one only adds the
 * new primary when the first did not know it.
 */
void
rig_fence_set(int64 epoch, const char *by, const char *primary,
			  const char *reason)
{
	TimestampTz now = GetCurrentTimestamp();

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->fence_mutex);
	if (rig_shared->fence.at == 0 || rig_shared->fence.epoch != epoch)
	{
		rig_shared->fence.epoch = epoch;
		strlcpy(rig_shared->fence.by, by, sizeof(rig_shared->fence.by));
		strlcpy(rig_shared->fence.primary, primary ? primary : "",
				sizeof(rig_shared->fence.primary));
		strlcpy(rig_shared->fence.reason, reason ? reason : "",
				sizeof(rig_shared->fence.reason));
		rig_shared->fence.at = now;
	}
	else if (rig_shared->fence.primary[0] == '\0' && primary != NULL)
		strlcpy(rig_shared->fence.primary, primary, sizeof(rig_shared->fence.primary));
	SpinLockRelease(&rig_shared->fence_mutex);
}

/* Copy the fence into *info; false when this node was never fenced. */
bool
rig_fence_get(RigFenceInfo *info)
{
	rig_shmem_check();
	SpinLockAcquire(&rig_shared->fence_mutex);
	*info = rig_shared->fence;
	SpinLockRelease(&rig_shared->fence_mutex);
	return info->at != 0;
}

/*
 * Promotion: rig_promote() takes a ticket (the worker serves it); returns
 * it.
 */
uint64
rig_promote_ask(void)
{
	uint64		ticket;

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->promote_mutex);
	ticket = ++rig_shared->promote_asked;
	rig_shared->promote_requester = MyProcPid;
	SpinLockRelease(&rig_shared->promote_mutex);
	return ticket;
}

/*
 * Promotion: the newest ticket not answered yet (0 when none) and the
 * backend waiting for it, for the worker.
 */
uint64
rig_promote_pending(pid_t *requester)
{
	uint64		ticket = 0;

	SpinLockAcquire(&rig_shared->promote_mutex);
	if (rig_shared->promote_asked > rig_shared->promote_served)
		ticket = rig_shared->promote_asked;
	*requester = rig_shared->promote_requester;
	SpinLockRelease(&rig_shared->promote_mutex);
	return ticket;
}

/*
 * Promotion: the worker answers every ticket up to this one, with the new
 * epoch or (error not NULL) why it failed.
 */
void
rig_promote_answer(uint64 ticket, int64 epoch, const char *error)
{
	SpinLockAcquire(&rig_shared->promote_mutex);
	if (ticket > rig_shared->promote_served)
		rig_shared->promote_served = ticket;
	rig_shared->promote_epoch = epoch;
	strlcpy(rig_shared->promote_error, error ? error : "",
			sizeof(rig_shared->promote_error));
	SpinLockRelease(&rig_shared->promote_mutex);
}

/*
 * Promotion: has the worker answered this ticket?  If so, the epoch and
 * the error ("" when it worked) it answered with.
 */
bool
rig_promote_answered(uint64 ticket, int64 *epoch, char *error, Size errlen)
{
	bool		done;

	SpinLockAcquire(&rig_shared->promote_mutex);
	done = rig_shared->promote_served >= ticket;
	if (done)
	{
		*epoch = rig_shared->promote_epoch;
		strlcpy(error, rig_shared->promote_error, errlen);
	}
	SpinLockRelease(&rig_shared->promote_mutex);
	return done;
}

/*
 * Switchover: this backend starts handing the primary role over to peer
 * to; false when another handover runs already.
 */
bool
rig_handover_begin(const char *to)
{
	bool		ok;

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->handover_mutex);
	ok = rig_shared->handover_pid == 0;
	if (ok)
	{
		rig_shared->handover_pid = MyProcPid;
		strlcpy(rig_shared->handover_to, to, sizeof(rig_shared->handover_to));
	}
	SpinLockRelease(&rig_shared->handover_mutex);
	return ok;
}

/* Switchover: this backend's handover ended (done or failed). */
void
rig_handover_end(void)
{
	if (rig_shared == NULL)
		return;
	SpinLockAcquire(&rig_shared->handover_mutex);
	if (rig_shared->handover_pid == MyProcPid)
		rig_shared->handover_pid = 0;
	SpinLockRelease(&rig_shared->handover_mutex);
}

/*
 * Switchover: is the primary role being handed over (by another backend)?
 * If so, to whom (to: NAMEDATALEN bytes).
 */
bool
rig_handover_running(char *to)
{
	bool		running;

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->handover_mutex);
	running = rig_shared->handover_pid != 0 && rig_shared->handover_pid != MyProcPid;
	if (running)
		strlcpy(to, rig_shared->handover_to, NAMEDATALEN);
	SpinLockRelease(&rig_shared->handover_mutex);
	return running;
}

/*
 * A replica heard from its primary: a confirmation that it is in sync
 * (mode: how the primary treats it; -1: not said, keep the last) or a
 * commit that prepared here.  A few stores: the commit callback calls it.
 */
void
rig_note_contact(int mode)
{
	if (rig_shared == NULL)
		return;
	SpinLockAcquire(&rig_shared->contact_mutex);
	rig_shared->contact_at = GetCurrentTimestamp();
	if (mode >= 0)
		rig_shared->contact_mode = mode;
	rig_shared->contact_in_sync = true;
	SpinLockRelease(&rig_shared->contact_mutex);
}

/* The last contact with the primary: false when none since the start. */
bool
rig_get_contact(TimestampTz *at, int *mode)
{
	bool		any;

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->contact_mutex);
	any = rig_shared->contact_at != 0;
	*at = rig_shared->contact_at;
	*mode = rig_shared->contact_mode;
	SpinLockRelease(&rig_shared->contact_mutex);
	return any;
}

/*
 * Broadcast when the coordinator recorded a change of a transaction across
 * nodes; rig_transaction_wait() sleeps on it.
 */
ConditionVariable *
rig_shmem_xnode_cv(void)
{
	rig_shmem_check();
	return &rig_shared->xnode_cv;
}

/*
 * The coordinator knows a transaction's outcome (every branch applied the
 * decided phase) before it has recorded it: keep it for
 * rig_transaction_wait() among the last RIG_XNODE_OUTCOMES.  A transaction
 * is its id and its creation time: ids start again after DROP EXTENSION,
 * or a restore, while this memory stays.
 */
void
rig_shmem_xnode_outcome_set(int64 id, TimestampTz created, bool committed)
{
	rig_shmem_check();
	SpinLockAcquire(&rig_shared->xnode_mutex);
	rig_shared->xnode_ids[rig_shared->xnode_next] = id;
	rig_shared->xnode_created[rig_shared->xnode_next] = created;
	rig_shared->xnode_committed[rig_shared->xnode_next] = committed;
	rig_shared->xnode_next = (rig_shared->xnode_next + 1) % RIG_XNODE_OUTCOMES;
	SpinLockRelease(&rig_shared->xnode_mutex);
}

/* A known but perhaps not yet recorded outcome: committed, aborted or NULL. */
const char *
rig_shmem_xnode_outcome(int64 id, TimestampTz created)
{
	const char *outcome = NULL;

	rig_shmem_check();
	SpinLockAcquire(&rig_shared->xnode_mutex);
	for (int i = 0; i < RIG_XNODE_OUTCOMES; i++)
		if (rig_shared->xnode_ids[i] == id && rig_shared->xnode_created[i] == created)
			outcome = rig_shared->xnode_committed[i] ? "committed" : "aborted";
	SpinLockRelease(&rig_shared->xnode_mutex);
	return outcome;
}
