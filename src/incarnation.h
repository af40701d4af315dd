/*-------------------------------------------------------------------------
 *
 * incarnation.h
 *	  This server's incarnation (incarnation.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/incarnation.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_INCARNATION_H
#define RIG_INCARNATION_H

extern void rig_incarnation_request(void);
extern void rig_incarnation_startup(void);
extern uint64 rig_incarnation(void);

#endif							/* RIG_INCARNATION_H */
