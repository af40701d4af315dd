/*-------------------------------------------------------------------------
 *
 * pace.c
 *	  Keeping a byte rate between units of work, as pg_basebackup's
 *	  --max-rate does: the bootstrap's chunks under rig.bootstrap_max_rate.
 *
 * The caller counts the bytes it sent and calls rig_pace_wait before the
 * next unit; the wait ends as soon as the average since the window began
 * is within the limit.  It sleeps on the latch: a cancel or a reload ends
 * it at once.  A backend reads the configuration file only between
 * statements, and a bootstrap may take hours, so the wait reads it again
 * on a reload, as the walsender and autovacuum's cost delay do; a changed
 * limit starts a new window.  The caller must hold nothing a writer waits
 * for meanwhile.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/pace.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pace.h"

/* The longest single sleep: a wait is re-checked at least this often */
#define RIG_PACE_MAX_SLEEP_MS	60000

static void rig_pace_reset(RigPace *pace, TimestampTz now);

/* Begin a window now, at the rate *limit says (kB/s, 0: none). */
void
rig_pace_start(RigPace *pace, const int *limit)
{
	pace->limit = limit;
	rig_pace_reset(pace, GetCurrentTimestamp());
}

/* A new window at the current limit, nothing sent in it yet. */
static void
rig_pace_reset(RigPace *pace, TimestampTz now)
{
	pace->rate = *pace->limit;
	pace->start = now;
	pace->bytes = 0;
}

/* Count bytes sent in this window. */
void
rig_pace_sent(RigPace *pace, int64 bytes)
{
	pace->bytes += bytes;
}

/*
 * Wait until the bytes sent since the window began are within the limit;
 * interruptible, and a reload that changes the limit takes effect here.
 */
void
rig_pace_wait(RigPace *pace)
{
	for (;;)
	{
		TimestampTz now;
		TimestampTz due;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		if (*pace->limit != pace->rate)
			rig_pace_reset(pace, now);
		if (pace->rate <= 0)
			return;
		due = pace->start +
			(TimestampTz) ((double) pace->bytes * USECS_PER_SEC / (pace->rate * 1024.0));
		if (now >= due)
			return;
		wait_ms = (long) Min((due - now + 999) / 1000, RIG_PACE_MAX_SLEEP_MS);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
