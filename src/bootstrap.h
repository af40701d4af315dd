/*-------------------------------------------------------------------------
 *
 * bootstrap.h
 *	  Bootstrapping an empty peer from a stored snapshot (bootstrap.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/bootstrap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_BOOTSTRAP_H
#define RIG_BOOTSTRAP_H

#include "conn.h"

extern int64 rig_bootstrap_peer(RigConn *rc, const char *name);

#endif							/* RIG_BOOTSTRAP_H */
