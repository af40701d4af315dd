/*-------------------------------------------------------------------------
 *
 * peerlist.h
 *	  The peers of this primary as rig.peers lists them (peerlist.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/peerlist.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_PEERLIST_H
#define RIG_PEERLIST_H

#include "nodes/pg_list.h"

/* How commits treat a peer */
typedef enum RigPeerMode
{
	RIG_PEER_SYNC,				/* every commit prepares on it */
	RIG_PEER_SEMISYNC,			/* ... unless it fails: then it is degraded */
	RIG_PEER_ASYNC				/* the worker ships commits to it later */
} RigPeerMode;

/* One row of rig.peers */
typedef struct RigPeer
{
	char		name[NAMEDATALEN];
	char	   *conninfo;
	RigPeerMode mode;
} RigPeer;

extern const char *const rig_peer_mode_names[];

extern void rig_peerlist_init(void);
extern List *rig_peer_list(void);
extern List *rig_peer_list_copy(void);
extern RigPeer *rig_peer_find(const char *name);
extern RigPeerMode rig_peer_mode(const char *name);
extern RigPeerMode rig_peer_parse_mode(const char *mode);
extern void rig_check_sync_peers(void);

#endif							/* RIG_PEERLIST_H */
