/*-------------------------------------------------------------------------
 *
 * pace.h
 *	  Keeping a byte rate between units of work (pace.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/pace.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_PACE_H
#define RIG_PACE_H

#include "datatype/timestamp.h"

/*
 * A pace: the last unit's bytes and when it went, under the limit the
 * setting *limit holds (kB/s, 0: none).
 */
typedef struct RigPace
{
	const int  *limit;
	TimestampTz last;
	int64		bytes;
} RigPace;

extern void rig_pace_start(RigPace *pace, const int *limit);
extern void rig_pace_sent(RigPace *pace, int64 bytes);
extern void rig_pace_wait(RigPace *pace);

#endif							/* RIG_PACE_H */
