/*-------------------------------------------------------------------------
 *
 * catchup.h
 *	  Catching a peer up and returning it to sync (catchup.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/catchup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_CATCHUP_H
#define RIG_CATCHUP_H

#include "pace.h"
#include "peerlist.h"

extern int64 rig_ship_backlog(const char *name, const char *conninfo, int64 shipped,
							  RigPace *pace, bool known, int64 *held);
extern int64 rig_ship_tail(const char *name, const char *conninfo, int64 shipped);
extern void rig_catch_up(RigPeer *peer);
extern void rig_catch_up_all(void);
extern void rig_fence_persist(void);

#endif							/* RIG_CATCHUP_H */
