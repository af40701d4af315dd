/*-------------------------------------------------------------------------
 *
 * ship.h
 *	  Shipping the log to a peer over parallel lanes (ship.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/ship.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_SHIP_H
#define RIG_SHIP_H

#include "pace.h"

extern int64 rig_ship_log(const char *peer, const char *conninfo, int64 after,
						  int64 upto, RigPace *pace, int64 *bytes);

#endif							/* RIG_SHIP_H */
