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

extern char *rig_make_gid(int64 epoch, FullTransactionId fxid, int64 first,
						  int64 last);
extern bool rig_parse_gid(const char *gid, const char *node,
						  FullTransactionId *fxid, int64 *first, int64 *last);

#endif							/* RIG_GID_H */
