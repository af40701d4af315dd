/*-------------------------------------------------------------------------
 *
 * tableguard.h
 *	  The hooks that protect registered state tables (tableguard.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tableguard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_TABLEGUARD_H
#define RIG_TABLEGUARD_H

extern void rig_tableguard_init(void);

#endif							/* RIG_TABLEGUARD_H */
