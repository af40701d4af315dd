/*-------------------------------------------------------------------------
 *
 * gid.h
 *	  The names of rig's prepared transactions on its peers (gid.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/gid.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_GID_H
#define RIG_GID_H

#include "access/transam.h"

/* the numbers after the node's name in a GID */
#define RIG_GID_NUMBERS 5

/* A GID taken apart (rig_parse_gid). */
typedef struct RigGid
{
	char		node[NAMEDATALEN];	/* the primary that made it */
	int64		epoch;
	uint64		incarnation;	/* the primary's, when it prepared */
	FullTransactionId fxid;		/* the primary's transaction */
	int64		first;			/* the versions the branch holds */
	int64		last;
} RigGid;

extern char *rig_make_gid(int64 epoch, FullTransactionId fxid, int64 first,
						  int64 last);
extern bool rig_parse_gid(const char *gid, const char *node, RigGid *g);

#endif							/* RIG_GID_H */
