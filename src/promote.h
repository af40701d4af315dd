/*-------------------------------------------------------------------------
 *
 * promote.h
 *	  Promotion of a replica: the worker's part of rig_promote()
 *	  (promote.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/promote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_PROMOTE_H
#define RIG_PROMOTE_H

extern bool rig_promote_work(void);

#endif							/* RIG_PROMOTE_H */
