/*-------------------------------------------------------------------------
 *
 * remotenode.h
 *	  The nodes transaction branches run on (remotenode.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/remotenode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_REMOTENODE_H
#define RIG_REMOTENODE_H

extern char *rig_remote_node_conninfo(const char *name);

#endif							/* RIG_REMOTENODE_H */
