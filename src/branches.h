/*-------------------------------------------------------------------------
 *
 * branches.h
 *	  The branches of a transaction across nodes, checked before it starts
 *	  (branches.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/branches.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_BRANCHES_H
#define RIG_BRANCHES_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

extern char *rig_branches_normalize(Jsonb *branches, int *count, List **remote);
extern List *rig_branches_check_send(List *remote);
extern void rig_branches_check_read(List *sent);
extern void rig_branches_check_discard(List *sent);

#endif							/* RIG_BRANCHES_H */
