/*-------------------------------------------------------------------------
 *
 * follow.h
 *	  A follower pulling its primary's log (follow.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/follow.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_FOLLOW_H
#define RIG_FOLLOW_H

extern int64 rig_follow_round(void);
extern void rig_follow_source_set(const char *primary, const char *conninfo);

#endif							/* RIG_FOLLOW_H */
