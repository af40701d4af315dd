/*-------------------------------------------------------------------------
 *
 * compare.h
 *	  Comparing this node's log and handlers with another node's
 *	  (compare.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/compare.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_COMPARE_H
#define RIG_COMPARE_H

#include "nodes/pg_list.h"

#include "conn.h"

/* Differences reported at most (the descent stops there) */
#define RIG_VERIFY_MAX_DIFFS	1000

/* How a version range (or a method's handlers) differs */
typedef enum RigDiffKind
{
	RIG_DIFF_MISSING,			/* only this node has the version(s) */
	RIG_DIFF_EXTRA,				/* only the peer has them */
	RIG_DIFF_DIFFERS			/* both have the version, with other content */
} RigDiffKind;

/* A range of versions that differs */
typedef struct RigLogDiff
{
	int64		first;
	int64		last;
	RigDiffKind kind;
} RigLogDiff;

/* A method whose handlers differ */
typedef struct RigHandlerDiff
{
	char	   *method;
	RigDiffKind kind;
} RigHandlerDiff;

/* The outcome of comparing two logs */
typedef struct RigVerifyResult
{
	int64		from;			/* versions compared: from..upto */
	int64		upto;
	List	   *diffs;			/* RigLogDiff, in version order */
	bool		unrepairable;	/* a difference other than a hole */
	bool		truncated;		/* more differences than reported */
	int			queries;		/* queries sent to the peer */
} RigVerifyResult;

extern void rig_verify_log(RigConn *rc, int64 after, RigVerifyResult *res);
extern List *rig_verify_handlers(RigConn *rc);
extern void rig_check_handlers_match(RigConn *rc, const char *name,
									 bool remote_ahead);
extern char *rig_diff_describe(RigLogDiff *d);
extern const char *rig_diff_name(RigDiffKind kind);
extern char *rig_handler_diffs_describe(List *diffs);

#endif							/* RIG_COMPARE_H */
