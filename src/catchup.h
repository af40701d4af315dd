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

#include "peerlist.h"

extern void rig_catch_up(RigPeer *peer);
extern void rig_catch_up_all(void);
extern void rig_fence_persist(void);

#endif							/* RIG_CATCHUP_H */
