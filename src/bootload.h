/*-------------------------------------------------------------------------
 *
 * bootload.h
 *	  The new node's side of a bootstrap (bootload.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/bootload.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_BOOTLOAD_H
#define RIG_BOOTLOAD_H

extern char *rig_boot_own_state_found(const char *sql, int nargs, Oid *types, Datum *values);

#endif							/* RIG_BOOTLOAD_H */
