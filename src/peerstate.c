/*-------------------------------------------------------------------------
 *
 * peerstate.c
 *	  Shared health of each peer: its state, how far behind it is, when we
 *	  last heard from it and its last error (rig.peer_status).
 *
 * States: in_sync (commits prepare on it), catching_up (the worker ships it
 * what it lacks), degraded (a semisync peer that missed a commit),
 * unreachable (the last attempt to reach it failed), unknown (not checked
 * since this node started), diverged (verification found a difference in
 * its log or handlers: verify.c).  Backends update an entry after each exchange;
 * the worker after each round.  One spinlock per entry: updates are a few
 * stores, never I/O.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/peerstate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "rig.h"

#define RIG_MAX_PEERS	32

typedef struct RigPeerSlot
{
	slock_t		mutex;
	bool		in_use;
	char		name[NAMEDATALEN];
	RigPeerState state;
	int64		acked_version;	/* highest version known to be on the peer */
	TimestampTz acked_at;		/* when it was acknowledged */
	TimestampTz last_contact;
	int64		horizon;		/* every version <= horizon is on the peer */
	char		last_error[256];
} RigPeerSlot;

static RigPeerSlot *rig_peer_slots = NULL;

static RigPeerSlot *rig_peer_slot(const char *name, bool create);

static const char *const rig_state_names[] = {
	"in_sync", "catching_up", "degraded", "unreachable", "unknown", "diverged"
};

PG_FUNCTION_INFO_V1(rig_peer_states);

/* Shared memory for the peer table. */
Size
rig_peerstate_size(void)
{
	return mul_size(RIG_MAX_PEERS, sizeof(RigPeerSlot));
}

/* Create or attach to the peer table (AddinShmemInitLock held). */
void
rig_peerstate_startup(void)
{
	bool		found;

	rig_peer_slots = ShmemInitStruct("rig peers", rig_peerstate_size(), &found);
	if (!found)
	{
		for (int i = 0; i < RIG_MAX_PEERS; i++)
		{
			SpinLockInit(&rig_peer_slots[i].mutex);
			rig_peer_slots[i].in_use = false;
		}
	}
}

/*
 * The slot of a peer, created on first use.  A new slot starts "unknown"
 * when the worker will check it, "in_sync" when the worker is off.
 */
static RigPeerSlot *
rig_peer_slot(const char *name, bool create)
{
	RigPeerSlot *free_slot = NULL;

	for (int i = 0; i < RIG_MAX_PEERS; i++)
	{
		RigPeerSlot *s = &rig_peer_slots[i];

		if (s->in_use && strcmp(s->name, name) == 0)
			return s;
		if (!s->in_use && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	SpinLockAcquire(&free_slot->mutex);
	if (!free_slot->in_use)
	{
		free_slot->in_use = true;
		strlcpy(free_slot->name, name, NAMEDATALEN);
		free_slot->state = rig_resolver_interval >= 0 ? RIG_STATE_UNKNOWN : RIG_STATE_IN_SYNC;
		free_slot->acked_version = 0;
		free_slot->acked_at = 0;
		free_slot->last_contact = 0;
		free_slot->horizon = 0;
		free_slot->last_error[0] = '\0';
	}
	SpinLockRelease(&free_slot->mutex);
	/* a racing creator may have taken it for another name: look again */
	return strcmp(free_slot->name, name) == 0 ? free_slot : rig_peer_slot(name, create);
}

/* Current state of a peer. */
RigPeerState
rig_peer_get_state(const char *name)
{
	RigPeerSlot *s = rig_peer_slot(name, true);
	RigPeerState st;

	if (s == NULL)
		return RIG_STATE_UNKNOWN;
	SpinLockAcquire(&s->mutex);
	st = s->state;
	SpinLockRelease(&s->mutex);
	return st;
}

/* Record a successful exchange that left the peer holding up to version. */
void
rig_peer_note_ok(const char *name, RigPeerState state, int64 version)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	if ((int) state >= 0)
		s->state = state;
	if (version > s->acked_version)
	{
		s->acked_version = version;
		s->acked_at = GetCurrentTimestamp();
	}
	s->last_contact = GetCurrentTimestamp();
	if (state == RIG_STATE_IN_SYNC)
		s->last_error[0] = '\0';
	SpinLockRelease(&s->mutex);
}

/*
 * A commit finished on the peer.  That proves it reachable, not complete:
 * an unreachable peer is in sync again, but a degraded, catching-up or
 * unknown one stays so until catch-up has shipped what it lacks.
 */
void
rig_peer_note_commit(const char *name, int64 version)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	if (s->state == RIG_STATE_UNREACHABLE)
		s->state = RIG_STATE_IN_SYNC;
	if (s->state == RIG_STATE_IN_SYNC)
		s->last_error[0] = '\0';
	if (version > s->acked_version)
	{
		s->acked_version = version;
		s->acked_at = GetCurrentTimestamp();
	}
	s->last_contact = GetCurrentTimestamp();
	SpinLockRelease(&s->mutex);
}

/* Record a failure; state says what it makes of the peer. */
void
rig_peer_note_error(const char *name, RigPeerState state, const char *error)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->state = state;
	strlcpy(s->last_error, error ? error : "", sizeof(s->last_error));
	SpinLockRelease(&s->mutex);
}

/* Highest version below which the peer is known to miss nothing. */
int64
rig_peer_get_horizon(const char *name)
{
	RigPeerSlot *s = rig_peer_slot(name, true);
	int64		h;

	if (s == NULL)
		return 0;
	SpinLockAcquire(&s->mutex);
	h = s->horizon;
	SpinLockRelease(&s->mutex);
	return h;
}

/* Move the peer's horizon forward (never back). */
void
rig_peer_set_horizon(const char *name, int64 horizon)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	if (horizon > s->horizon)
		s->horizon = horizon;
	SpinLockRelease(&s->mutex);
}

/*
 * Record a failure of the worker's: an in-sync peer becomes unreachable; a
 * peer that is degraded, catching up or unknown keeps its state (it still
 * lacks what it lacked).
 */
void
rig_peer_note_failure(const char *name, const char *error)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	if (s->state == RIG_STATE_IN_SYNC)
		s->state = RIG_STATE_UNREACHABLE;
	strlcpy(s->last_error, error ? error : "", sizeof(s->last_error));
	SpinLockRelease(&s->mutex);
}

/* Forget a dropped peer. */
void
rig_peer_forget(const char *name)
{
	RigPeerSlot *s = rig_peer_slot(name, false);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->in_use = false;
	s->name[0] = '\0';
	SpinLockRelease(&s->mutex);
}

/* Name of a state, as rig.peer_status shows it. */
const char *
rig_peer_state_name(RigPeerState state)
{
	return rig_state_names[state];
}

/*
 * SQL (behind rig.peer_status): one row per known peer with its state,
 * the last version it is known to hold and when it was last heard from.
 */
Datum
rig_peer_states(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < RIG_MAX_PEERS; i++)
	{
		RigPeerSlot *s = &rig_peer_slots[i];
		RigPeerSlot copy;
		Datum		values[6];
		bool		nulls[6] = {false};

		SpinLockAcquire(&s->mutex);
		memcpy(&copy, s, sizeof(copy));
		SpinLockRelease(&s->mutex);
		if (!copy.in_use)
			continue;
		values[0] = CStringGetTextDatum(copy.name);
		values[1] = CStringGetTextDatum(rig_state_names[copy.state]);
		values[2] = Int64GetDatum(copy.acked_version);
		values[3] = TimestampTzGetDatum(copy.acked_at);
		nulls[3] = (copy.acked_at == 0);
		values[4] = TimestampTzGetDatum(copy.last_contact);
		nulls[4] = (copy.last_contact == 0);
		values[5] = CStringGetTextDatum(copy.last_error);
		nulls[5] = (copy.last_error[0] == '\0');
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
