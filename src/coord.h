/*-------------------------------------------------------------------------
 *
 * coord.h
 *	  The worker's driver of transactions across nodes (coord.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/coord.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_COORD_H
#define RIG_COORD_H

extern long rig_coord_work(void);

#endif							/* RIG_COORD_H */
