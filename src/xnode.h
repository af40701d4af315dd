/*-------------------------------------------------------------------------
 *
 * xnode.h
 *	  Transactions across nodes, the SQL side (xnode.c): its hook into
 *	  transaction ends, set up at load.
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

extern void rig_xnode_init(void);

#endif							/* RIG_XNODE_H */
