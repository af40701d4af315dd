/*-------------------------------------------------------------------------
 *
 * peerstate.h
 *	  Shared health of each peer and the events that change its state
 *	  (peerstate.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/peerstate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_PEERSTATE_H
#define RIG_PEERSTATE_H

#include "datatype/timestamp.h"

/* A peer's state, as rig.peer_status shows it */
typedef enum RigPeerState
{
	RIG_STATE_IN_SYNC,			/* commits prepare on it */
	RIG_STATE_CATCHING_UP,		/* it may lack ops; catch-up ships them */
	RIG_STATE_DEGRADED,			/* a semisync peer a commit went on without */
	RIG_STATE_UNREACHABLE,		/* the last attempt to reach it failed */
	RIG_STATE_UNKNOWN,			/* not checked since this node started */
	RIG_STATE_DIVERGED			/* verification found a difference */
} RigPeerState;

#define RIG_NSTATES (RIG_STATE_DIVERGED + 1)

/* What happened to a peer: the only way its state changes (rig_peer_event) */
typedef enum RigPeerEvent
{
	RIG_PEER_REACHED,			/* it answered; the state stays */
	RIG_PEER_LAGGING,			/* it may lack committed ops: catching_up */
	RIG_PEER_CAUGHT_UP,			/* it holds every committed op: in_sync */
	RIG_PEER_COMMITTED,			/* a commit finished on it */
	RIG_PEER_MISSED,			/* a commit went on without it (semisync) */
	RIG_PEER_FAILED,			/* a commit could not prepare on it (sync) */
	RIG_PEER_STEP_FAILED,		/* a step of the worker failed on it */
	RIG_PEER_STEP_LOST,			/* ... because the connection failed */
	RIG_PEER_DIVERGED			/* its log or handlers differ from ours */
} RigPeerEvent;

extern void rig_peerstate_request(void);
extern void rig_peerstate_startup(void);
extern void rig_peer_event(const char *name, RigPeerEvent event, int64 version,
						   const char *reason);
extern RigPeerState rig_peer_get_state(const char *name);
extern const char *rig_peer_state_name(RigPeerState state);
extern void rig_peer_note_missed(const char *name);
extern void rig_peer_note_prepare(const char *name, int64 elapsed_us);
extern TimestampTz rig_peer_last_contact(const char *name);
extern int64 rig_peer_get_horizon(const char *name);
extern void rig_peer_set_horizon(const char *name, int64 horizon);
extern void rig_peer_forget(const char *name);

#endif							/* RIG_PEERSTATE_H */
