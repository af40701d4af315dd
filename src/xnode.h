/*-------------------------------------------------------------------------
 *
 * xnode.h
 *	  Transactions across nodes, the SQL side (xnode.c), and what the
 *	  worker's driver (coord.c) shares with it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/xnode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_XNODE_H
#define RIG_XNODE_H

/* Longest client idempotency key of rig_transaction_start */
#define RIG_XNODE_MAX_KEY_LEN	400

extern void rig_xnode_init(void);
extern void rig_xnode_wake_worker(void);
extern char *rig_xnode_identity(void);
extern char *rig_xnode_conninfo(const char *name);
extern bool rig_xnode_state_final(const char *state);

#endif							/* RIG_XNODE_H */
