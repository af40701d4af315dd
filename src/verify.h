/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  Proving what a peer holds: the verified horizon and the worker's
 *	  verification pass (verify.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/verify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_VERIFY_H
#define RIG_VERIFY_H

#include "conn.h"

extern int64 rig_verified_start(RigConn *rc, const char *name,
								const char *conninfo, int64 after, bool known);
extern void rig_verify_request(const char *name);
extern bool rig_verify_retry_due(const char *name);
extern void rig_verify_all(void);

#endif							/* RIG_VERIFY_H */
