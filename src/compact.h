/*-------------------------------------------------------------------------
 *
 * compact.h
 *	  What rig_compact() must keep for a running rig_add_peer (compact.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/compact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_COMPACT_H
#define RIG_COMPACT_H

extern void rig_compact_hold(void);

#endif							/* RIG_COMPACT_H */
