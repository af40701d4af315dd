/*-------------------------------------------------------------------------
 *
 * peerlist.c
 *	  The peers of this primary as rig.peers lists them: the cached list
 *	  the commit path reads, their modes, and the startup rule for sync
 *	  peers.
 *
 * The list is cached per process and dropped whenever rig.peers changes
 * (a relcache callback).  Who may change rig.peers, and how a peer joins
 * or leaves, is peer.c's business.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/peerlist.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"

/* Columns of rig.peers */
#define Anum_peers_name		1
#define Anum_peers_conninfo	2
#define Anum_peers_mode		3

static List *rig_peers_cache = NIL;
static bool rig_peers_valid = false;
static Oid	rig_peers_relid = InvalidOid;

static void rig_peers_relcache_cb(Datum arg, Oid relid);

/* A mode's name in rig.peers, by RigPeerMode */
const char *const rig_peer_mode_names[] = {"sync", "semisync", "async"};

/* Forget the peer list whenever rig.peers changes. */
void
rig_peerlist_init(void)
{
	CacheRegisterRelcacheCallback(rig_peers_relcache_cb, (Datum) 0);
}

/* Relcache callback for rig.peers. */
static void
rig_peers_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rig_peers_relid)
		rig_peers_valid = false;
}

/* All peers of this primary, from rig.peers (cached). */
List *
rig_peer_list(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	MemoryContext old;

	if (rig_peers_valid)
		return rig_peers_cache;

	list_free_deep(rig_peers_cache);
	rig_peers_cache = NIL;
	rig_peers_relid = rig_relid("peers");
	rel = table_open(rig_peers_relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	old = MemoryContextSwitchTo(CacheMemoryContext);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		RigPeer    *p = palloc0(sizeof(RigPeer));
		bool		isnull;
		TupleDesc	desc = RelationGetDescr(rel);

		strlcpy(p->name, TextDatumGetCString(heap_getattr(tup, Anum_peers_name, desc, &isnull)),
				NAMEDATALEN);
		p->conninfo = TextDatumGetCString(heap_getattr(tup, Anum_peers_conninfo, desc, &isnull));
		p->mode = rig_peer_parse_mode(TextDatumGetCString(heap_getattr(tup, Anum_peers_mode, desc, &isnull)));
		rig_peers_cache = lappend(rig_peers_cache, p);
	}
	MemoryContextSwitchTo(old);
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	rig_peers_valid = true;
	return rig_peers_cache;
}

/* The peers, copied into the current memory context. */
List *
rig_peer_list_copy(void)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, rig_peer_list())
	{
		RigPeer    *p = palloc(sizeof(RigPeer));

		memcpy(p, lfirst(lc), sizeof(RigPeer));
		p->conninfo = pstrdup(p->conninfo);
		copy = lappend(copy, p);
	}
	return copy;
}

/*
 * The peer called name, copied into the current memory context (callers
 * take locks that may reload the cached list), or NULL.
 */
RigPeer *
rig_peer_find(const char *name)
{
	ListCell   *lc;

	foreach(lc, rig_peer_list_copy())
	{
		RigPeer    *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

/* The mode of a peer as rig.peers says now (async when it is gone). */
RigPeerMode
rig_peer_mode(const char *name)
{
	ListCell   *lc;

	foreach(lc, rig_peer_list())
	{
		RigPeer    *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p->mode;
	}
	return RIG_PEER_ASYNC;
}

/* Parse a peer mode (the names of rig_peer_mode_names). */
RigPeerMode
rig_peer_parse_mode(const char *mode)
{
	for (int m = RIG_PEER_SYNC; m <= RIG_PEER_ASYNC; m++)
		if (strcmp(mode, rig_peer_mode_names[m]) == 0)
			return (RigPeerMode) m;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid peer mode \"%s\"", mode),
			 errhint("Valid modes are \"sync\", \"semisync\" and \"async\".")));
}

/*
 * rig_do refuses early while a sync peer lacks committed operations: its
 * commit could not prepare there without a gap.
 */
void
rig_check_sync_peers(void)
{
	ListCell   *lc;

	foreach(lc, rig_peer_list())
	{
		RigPeer    *p = lfirst(lc);
		RigPeerState st;

		if (p->mode != RIG_PEER_SYNC)
			continue;
		st = rig_peer_get_state(p->name);
		if (st == RIG_STATE_DIVERGED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sync peer \"%s\" has diverged from this node", p->name),
					 errdetail("Its log or handlers differ from this node's (last_error in rig.peer_status says where), so it cannot take this commit."),
					 errhint("rig_verify_peer('%s') lists the differences. Make the handlers match, or rebuild the peer; or make it async with rig_set_peer_mode().",
							 p->name)));
		if (st == RIG_STATE_CATCHING_UP || st == RIG_STATE_UNKNOWN)
			ereport(ERROR,
					(errcode(ERRCODE_RIG_NOT_READY),
					 errmsg("sync peer \"%s\" is not in sync", p->name),
					 errdetail("Its state is %s: it may lack operations this node committed, and a sync peer must hold every one.",
							   rig_peer_state_name(st)),
					 errhint("Retry in a moment: rig's worker catches it up (see rig.peer_status). Or run rig_sync_peer('%s'), or make it semisync with rig_set_peer_mode().",
							 p->name)));
	}
}
