/*-------------------------------------------------------------------------
 *
 * tablediff.h
 *	  Comparing the registered tables with a peer's (tablediff.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tablediff.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_TABLEDIFF_H
#define RIG_TABLEDIFF_H

#include "nodes/pg_list.h"

#include "conn.h"

/* A registered table (or key range of one) that differs */
typedef struct RigTableDiff
{
	char	   *relation;
	char	   *key_range;		/* NULL: the table as a whole */
	const char *problem;
} RigTableDiff;

/* The outcome of comparing the registered tables */
typedef struct RigTablesResult
{
	List	   *diffs;			/* RigTableDiff */
	int64		version;		/* the version both nodes were compared at */
	bool		compared;		/* false: no moment with both at one version */
	bool		truncated;		/* more differences than reported */
	int			queries;		/* queries sent to the peer */
} RigTablesResult;

extern void rig_verify_tables(RigConn *rc, int64 final_upto, RigTablesResult *res);

#endif							/* RIG_TABLEDIFF_H */
