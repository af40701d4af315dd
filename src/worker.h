/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  rig's background worker (worker.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_WORKER_H
#define RIG_WORKER_H

extern void rig_worker_register(void);

#endif							/* RIG_WORKER_H */
