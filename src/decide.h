/*-------------------------------------------------------------------------
 *
 * decide.h
 *	  The rules of a transaction across nodes (decide.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/decide.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_DECIDE_H
#define RIG_DECIDE_H

#include "phase.h"

/* A branch's progress, from its recorded events (RigCoordTxn.flags) */
#define RIG_BRANCH_PREPARED		0x01
#define RIG_BRANCH_REFUSED		0x02
#define RIG_BRANCH_COMMITTED	0x04
#define RIG_BRANCH_ABORTED		0x08	/* compensated, or nothing to compensate */
#define RIG_BRANCH_FAILED		0x10	/* its commit or abort raised: not retried */

extern void rig_decide_answer(RigCoordCall *call);
extern bool rig_decide(RigCoordTxn *t, bool note);
extern void rig_decide_note(RigCoordTxn *t, const char *event, int branch,
							const char *detail, const char *state,
							const char *reason, int reason_branch);

#endif							/* RIG_DECIDE_H */
