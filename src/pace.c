/*-------------------------------------------------------------------------
 *
 * pace.c
 *	  Keeping a byte rate between units of work, as pg_basebackup's
 *	  --max-rate does: the bootstrap's chunks under rig.bootstrap_max_rate.
 *
 * The caller says when a unit of so many bytes goes (rig_pace_sent) and
 * calls rig_pace_wait before the next one: the wait ends once the last
 * unit's bytes at the limit have passed since it went.  So no two units
 * are closer than the limit allows, and time the caller spent anyway (the
 * other side loading the unit) counts; no credit is saved up for a burst
 * after a slow stretch.  It sleeps on the latch: a cancel or a reload ends
 * the sleep at once.  A backend reads the configuration file only between
 * statements, and a bootstrap may take hours, so the wait reads it again on
 * a reload, as the walsender and autovacuum's cost delay do; the new limit
 * applies to the wait in progress.  The caller must hold nothing a writer
 * waits for meanwhile.
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

/* The longest single sleep: a wait is checked again at least this often */
#define RIG_PACE_MAX_SLEEP_MS	60000

/* Nothing sent yet, under the limit *limit holds (kB/s, 0: none). */
void
rig_pace_start(RigPace *pace, const int *limit)
{
	pace->limit = limit;
	pace->last = 0;
	pace->bytes = 0;
}

/* A unit of bytes goes now. */
void
rig_pace_sent(RigPace *pace, int64 bytes)
{
	pace->last = GetCurrentTimestamp();
	pace->bytes = bytes;
}

/*
 * Wait until the last unit's bytes at the limit have passed since it went;
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
		int			rate;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		rate = *pace->limit;
		if (rate <= 0 || pace->bytes == 0)
			return;
		due = pace->last +
			(TimestampTz) ((double) pace->bytes * USECS_PER_SEC / (rate * 1024.0));
		now = GetCurrentTimestamp();
		if (now >= due)
			return;
		wait_ms = (long) Min((due - now + 999) / 1000, RIG_PACE_MAX_SLEEP_MS);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
