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
 * its log or handlers: verify.c).  Apart from the state, whether the last
 * attempt to reach it worked (a peer catching up can be down: rig.peer_status
 * then shows it unreachable, or degraded when semisync), the commits that
 * went on without it, and its PREPARE round trip.  Backends update an entry
 * after each exchange, the worker after each round.  One spinlock per
 * entry: updates are a few stores, never I/O.
 *
 * A state changes only through rig_peer_event(), by the table of allowed
 * transitions below (events by current state); each change is logged at
 * DEBUG1 with its reason.
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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "peerstate.h"
#include "settings.h"

#define RIG_MAX_PEERS	32

/* Whether the last attempt to reach a peer worked */
typedef enum RigPeerContact
{
	RIG_CONTACT_UNKNOWN,
	RIG_CONTACT_REACHABLE,
	RIG_CONTACT_UNREACHABLE
} RigPeerContact;

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
	RigPeerContact contact;		/* did the last attempt to reach it work? */
	int64		commits_missed; /* commits that went on without it */
	int64		prepare_last_us;	/* round trip of the last PREPARE */
	int64		prepare_total_us;	/* ... of all of them, for the average */
	int64		prepares;
	char		last_error[256];
} RigPeerSlot;

static RigPeerSlot *rig_peer_slots = NULL;

static RigPeerSlot *rig_peer_slot(const char *name, bool create);

static const char *const rig_state_names[] = {
	"in_sync", "catching_up", "degraded", "unreachable", "unknown", "diverged"
};

StaticAssertDecl(lengthof(rig_state_names) == RIG_NSTATES, "a name for every peer state");

static const char *const rig_contact_names[] = {
	"unknown", "reachable", "unreachable"
};

/* Shorthands for the transition table: the state each state goes to */
#define KEEP	{RIG_STATE_IN_SYNC, RIG_STATE_CATCHING_UP, RIG_STATE_DEGRADED, \
				 RIG_STATE_UNREACHABLE, RIG_STATE_UNKNOWN, RIG_STATE_DIVERGED}
#define ALL_BUT_DIVERGED(st)	{st, st, st, st, st, RIG_STATE_DIVERGED}
#define ALL(st)	{st, st, st, st, st, st}

/* What an event does to a peer's entry */
typedef struct RigPeerTransition
{
	const char *name;			/* for the log */
	RigPeerState to[RIG_NSTATES];	/* new state, by current state */
	RigPeerContact contact;		/* what it proves of the contact (UNKNOWN: nothing) */
	bool		records_error;	/* the reason becomes last_error */
	bool		clears_error;	/* last_error is cleared when it ends in sync */
} RigPeerTransition;

/*
 * Every allowed transition, by event (rows) and current state (columns, in
 * RigPeerState order: in_sync, catching_up, degraded, unreachable,
 * unknown, diverged).  "unknown" is only ever a new entry's state.  Only
 * verification leaves "diverged": a repair (catching_up) or a verified
 * catch-up (in_sync); a commit or a failure never hides it.
 */
static const RigPeerTransition rig_peer_transitions[] = {
	[RIG_PEER_REACHED] = {"reached", KEEP, RIG_CONTACT_REACHABLE, false, false},
	[RIG_PEER_LAGGING] = {"lagging", ALL(RIG_STATE_CATCHING_UP), RIG_CONTACT_UNKNOWN, true, false},
	[RIG_PEER_CAUGHT_UP] = {"caught up", ALL(RIG_STATE_IN_SYNC), RIG_CONTACT_REACHABLE, false, true},
	[RIG_PEER_COMMITTED] = {"commit finished",
		{RIG_STATE_IN_SYNC, RIG_STATE_CATCHING_UP, RIG_STATE_DEGRADED,
		 RIG_STATE_IN_SYNC, RIG_STATE_UNKNOWN, RIG_STATE_DIVERGED},
	RIG_CONTACT_REACHABLE, false, true},
	[RIG_PEER_MISSED] = {"commit missed it", ALL_BUT_DIVERGED(RIG_STATE_DEGRADED),
	RIG_CONTACT_UNREACHABLE, true, false},
	[RIG_PEER_FAILED] = {"commit failed on it", ALL_BUT_DIVERGED(RIG_STATE_UNREACHABLE),
	RIG_CONTACT_UNREACHABLE, true, false},
	[RIG_PEER_STEP_FAILED] = {"worker step failed",
		{RIG_STATE_UNREACHABLE, RIG_STATE_CATCHING_UP, RIG_STATE_DEGRADED,
		 RIG_STATE_UNREACHABLE, RIG_STATE_UNKNOWN, RIG_STATE_DIVERGED},
	RIG_CONTACT_UNKNOWN, true, false},
	[RIG_PEER_STEP_LOST] = {"worker lost it",
		{RIG_STATE_UNREACHABLE, RIG_STATE_CATCHING_UP, RIG_STATE_DEGRADED,
		 RIG_STATE_UNREACHABLE, RIG_STATE_UNKNOWN, RIG_STATE_DIVERGED},
	RIG_CONTACT_UNREACHABLE, true, false},
	[RIG_PEER_DIVERGED] = {"verification", ALL(RIG_STATE_DIVERGED), RIG_CONTACT_UNKNOWN, true, false},
};

StaticAssertDecl(lengthof(rig_peer_transitions) == RIG_PEER_DIVERGED + 1,
				 "a row for every peer event");

PG_FUNCTION_INFO_V1(rig_peer_states);

/* Reserve the peer table; called from shmem_request_hook. */
void
rig_peerstate_request(void)
{
	RequestAddinShmemSpace(mul_size(RIG_MAX_PEERS, sizeof(RigPeerSlot)));
}

/* Create or attach to the peer table; called from shmem_startup_hook. */
void
rig_peerstate_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rig_peer_slots = ShmemInitStruct("rig peers",
									 mul_size(RIG_MAX_PEERS, sizeof(RigPeerSlot)),
									 &found);
	if (!found)
	{
		for (int i = 0; i < RIG_MAX_PEERS; i++)
		{
			SpinLockInit(&rig_peer_slots[i].mutex);
			rig_peer_slots[i].in_use = false;
		}
	}
	LWLockRelease(AddinShmemInitLock);
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
		free_slot->contact = RIG_CONTACT_UNKNOWN;
		free_slot->commits_missed = 0;
		free_slot->prepare_last_us = 0;
		free_slot->prepare_total_us = 0;
		free_slot->prepares = 0;
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

/*
 * The one way a peer's state changes: look the event up in
 * rig_peer_transitions, apply what the event records besides (contact,
 * acknowledged version, last error), and log a change of state at DEBUG1
 * with its reason.  version: the highest version the event proves the
 * peer holds (0: none).  reason: why, for last_error and the log (NULL:
 * the event's name).  A few stores under the spinlock, never I/O: the
 * commit path calls this after the local commit.
 */
void
rig_peer_event(const char *name, RigPeerEvent event, int64 version,
			   const char *reason)
{
	const RigPeerTransition *tr = &rig_peer_transitions[event];
	RigPeerSlot *s = rig_peer_slot(name, true);
	RigPeerState from;
	RigPeerState to;

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	from = s->state;
	to = tr->to[from];
	s->state = to;
	if (tr->contact != RIG_CONTACT_UNKNOWN)
		s->contact = tr->contact;
	if (tr->contact == RIG_CONTACT_REACHABLE)
		s->last_contact = GetCurrentTimestamp();
	if (version > s->acked_version)
	{
		s->acked_version = version;
		s->acked_at = GetCurrentTimestamp();
	}
	if (tr->records_error)
	{
		/* cut at a character, not inside one */
		strlcpy(s->last_error, reason ? reason : "", sizeof(s->last_error));
		s->last_error[pg_mbcliplen(s->last_error, strlen(s->last_error),
								   sizeof(s->last_error) - 1)] = '\0';
	}
	else if (tr->clears_error && to == RIG_STATE_IN_SYNC)
		s->last_error[0] = '\0';
	SpinLockRelease(&s->mutex);

	if (to != from)
		ereport(DEBUG1,
				(errmsg_internal("rig: peer \"%s\" %s -> %s on %s%s%s",
								 name, rig_state_names[from], rig_state_names[to],
								 tr->name, reason ? ": " : "", reason ? reason : "")));
}

/* A commit went on without this (semisync) peer: count it. */
void
rig_peer_note_missed(const char *name)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->commits_missed++;
	SpinLockRelease(&s->mutex);
}

/*
 * The peer prepared a commit's transaction, elapsed_us after it was asked.
 * Its last contact moves too: rig.promote_lease counts from the last word
 * the peer recorded, which a prepare is (rig_check_lease_over).
 */
void
rig_peer_note_prepare(const char *name, int64 elapsed_us)
{
	RigPeerSlot *s = rig_peer_slot(name, true);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->prepare_last_us = elapsed_us;
	s->prepare_total_us += elapsed_us;
	s->prepares++;
	/* it answered: and a replica counts a prepare as word from its primary */
	s->last_contact = GetCurrentTimestamp();
	s->contact = RIG_CONTACT_REACHABLE;
	SpinLockRelease(&s->mutex);
}

/* When the peer last answered this node (0: not since this server started). */
TimestampTz
rig_peer_last_contact(const char *name)
{
	RigPeerSlot *s = rig_peer_slot(name, true);
	TimestampTz t;

	if (s == NULL)
		return 0;
	SpinLockAcquire(&s->mutex);
	t = s->last_contact;
	SpinLockRelease(&s->mutex);
	return t;
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
 * the last version it is known to hold and when, when it was last heard
 * from, whether it could be reached, the commits that went on without it
 * and its PREPARE round trip (last and average, in ms).
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
		Datum		values[10];
		bool		nulls[10] = {false};

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
		values[6] = CStringGetTextDatum(rig_contact_names[copy.contact]);
		values[7] = Int64GetDatum(copy.commits_missed);
		values[8] = Float8GetDatum(copy.prepare_last_us / 1000.0);
		nulls[8] = (copy.prepares == 0);
		values[9] = Float8GetDatum(copy.prepares > 0 ?
								   copy.prepare_total_us / 1000.0 / copy.prepares : 0);
		nulls[9] = (copy.prepares == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
