/*-------------------------------------------------------------------------
 *
 * incarnation.c
 *	  This server's incarnation: a durable counter that grows each time the
 *	  server creates its shared memory (a start, or a restart after a crash).
 *
 * rig does not flush its WAL before the peers prepare a transaction, so a
 * crash can lose a transaction the peers hold prepared, and the restarted
 * server hands the same transaction id out again.  The GID of every branch
 * names the incarnation that made it: the resolver decides a branch of the
 * current incarnation by the commit log, and one of an earlier incarnation
 * by rig.log, never by a transaction id that may have been reused.
 *
 * The counter lives in a file in the data directory, written and fsynced
 * by the postmaster before any backend runs.  A new value is never below
 * the clock's seconds, so a lost file still yields a value no earlier
 * incarnation had (unless the clock went back as well).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/incarnation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "incarnation.h"

#define RIG_INCARNATION_FILE	"rig_incarnation"
#define RIG_INCARNATION_TMP		"rig_incarnation.tmp"

typedef struct RigIncarnation
{
	uint64		value;			/* set once, before any backend runs */
} RigIncarnation;

static RigIncarnation *rig_incarnation_shared = NULL;

static uint64 rig_incarnation_read(void);
static void rig_incarnation_write(uint64 value);

/* Reserve the shared memory; called from shmem_request_hook. */
void
rig_incarnation_request(void)
{
	RequestAddinShmemSpace(sizeof(RigIncarnation));
}

/*
 * Create the shared value with the next incarnation, recorded durably
 * first; called from shmem_startup_hook, so once per start and once per
 * restart after a crash.
 */
void
rig_incarnation_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rig_incarnation_shared = ShmemInitStruct("rig incarnation",
											 sizeof(RigIncarnation), &found);
	if (!found)
	{
		uint64		next = Max(rig_incarnation_read() + 1, (uint64) time(NULL));

		rig_incarnation_write(next);
		rig_incarnation_shared->value = next;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The previous incarnation, or 0 when none was recorded (or unreadable). */
static uint64
rig_incarnation_read(void)
{
	FILE	   *file = AllocateFile(RIG_INCARNATION_FILE, "r");
	unsigned long long value = 0;

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", RIG_INCARNATION_FILE),
					 errdetail("rig's incarnation starts from the clock.")));
		return 0;
	}
	if (fscanf(file, "%llu", &value) != 1)
	{
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file \"%s\" does not hold a number", RIG_INCARNATION_FILE),
				 errdetail("rig's incarnation starts from the clock.")));
		value = 0;
	}
	FreeFile(file);
	return (uint64) value;
}

/*
 * Record value durably.  A server that cannot write a small file into its
 * data directory cannot run: without a durable incarnation the resolver
 * could take a reused transaction id for an earlier one.
 */
static void
rig_incarnation_write(uint64 value)
{
	FILE	   *file = AllocateFile(RIG_INCARNATION_TMP, PG_BINARY_W);

	if (file == NULL ||
		fprintf(file, UINT64_FORMAT "\n", value) < 0 ||
		fflush(file) != 0 ||
		pg_fsync(fileno(file)) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", RIG_INCARNATION_TMP)));
	if (FreeFile(file) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", RIG_INCARNATION_TMP)));
	if (durable_rename(RIG_INCARNATION_TMP, RIG_INCARNATION_FILE, LOG) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not record rig's incarnation in \"%s\"", RIG_INCARNATION_FILE)));
}

/* This server's incarnation (never 0 once shared memory exists). */
uint64
rig_incarnation(void)
{
	if (rig_incarnation_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig's shared memory is not initialized"),
				 errhint("Add rig to shared_preload_libraries and restart the server.")));
	return rig_incarnation_shared->value;
}
