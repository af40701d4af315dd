/*-------------------------------------------------------------------------
 *
 * catchup.c
 *	  Catching a peer up from the log, and returning it to sync.
 *
 * A peer that may lack committed operations (unknown at startup, a
 * degraded semisync peer, an async peer, a peer switched to sync) is sent
 * what it lacks, in version order, in two phases:
 *   1. without blocking writers: everything up to the watermark;
 *   2. for peers that commits prepare on (sync, semisync): under the
 *      exclusive commit gate, everything committed since, then the state
 *      flips to in_sync before the gate is released.  A commit that comes
 *      after the flip prepares on the peer, and every commit before it was
 *      shipped, so a newer op never reaches the peer before an older
 *      conflicting one.
 * Shipping starts at the verified horizon (verify.c): the logs are compared
 * by range hashes up to the lower watermark, holes are shipped, and a peer
 * whose log or handlers differ is diverged and never caught up.  The start
 * is never above this node's watermark, so a commit still in flight below
 * it is shipped with the tail.  rig_apply_remote skips versions the peer
 * already has, so shipping a range that overlaps the peer's log is
 * harmless; the per-peer horizon (every version at or below it was
 * shipped) keeps the verified range short.
 *
 * Fencing: catch-up first asks the peer its epoch; a peer in a newer epoch
 * (another node was promoted) fences this node, and the worker makes the
 * fence durable (rig_fence_persist), which stops catch-up altogether.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/catchup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "catchup.h"
#include "conn.h"
#include "node.h"
#include "pace.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "shmem.h"
#include "ship.h"
#include "verify.h"
#include "watermark.h"
#include "wire.h"
#include "xact.h"

/*
 * Phase-1 passes at most, and a pass small enough (in versions and in
 * bytes: a thousand large ops take long to ship, and what is written
 * meanwhile is the tail) for the next backlog to be shipped gated
 */
#define RIG_CATCHUP_PASSES	20
#define RIG_CATCHUP_TAIL	1000
#define RIG_CATCHUP_TAIL_BYTES	(16 * 1024 * 1024)

static bool rig_peer_needs_work(RigPeer *peer);
static void rig_catch_up_one(RigPeer *peer, void *arg);
static bool rig_peer_newer_epoch(RigConn *rc, const char *peer);
static RigPace *rig_backlog_outran_pace(const char *name, int64 shipped, int64 committed);
static void rig_fence_learn(void *arg);

PG_FUNCTION_INFO_V1(rig_sync_peer);

/*
 * Is the peer in a newer epoch than this node (rig_node_info() there)?
 * Then another node was promoted: fence this node in shared memory, with
 * the new primary the peer names.
 */
static bool
rig_peer_newer_epoch(RigConn *rc, const char *peer)
{
	PGresult   *res;
	int64		epoch;
	const char *role;
	const char *primary;

	res = rig_conn_query(rc, "SELECT role, primary_name, epoch FROM pg_catalog.rig_node_info()",
						 0, NULL, rig_deadline(rig_sync_timeout));
	if (PQntuples(res) != 1 || PQnfields(res) != 3)
	{
		PQclear(res);
		return false;
	}
	epoch = strtoi64(PQgetvalue(res, 0, 2), NULL, 10);
	if (epoch <= rig_node_epoch())
	{
		PQclear(res);
		return false;
	}
	role = PQgetvalue(res, 0, 0);
	primary = (strcmp(role, "primary") == 0 || strcmp(role, "promoting") == 0) ? peer :
		PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	rig_fence_set(rig_node_epoch(), peer, primary,
				  psprintf("peer \"%s\" is in epoch " INT64_FORMAT " (role %s)",
						   peer, epoch, role));
	PQclear(res);
	return true;
}

/*
 * A pass at the pace shipped fewer versions than were committed meanwhile:
 * the writers outrun the rate, and every further pass at it would take
 * longer than the last, the tail shipped under the commit gate growing
 * with them.  Say so; the rest goes without the pace (returns NULL).
 */
static RigPace *
rig_backlog_outran_pace(const char *name, int64 shipped, int64 committed)
{
	ereport(NOTICE,
			(errmsg("the log grows faster than rig.bootstrap_max_rate ships it to node \"%s\"", name),
			 errdetail(INT64_FORMAT " versions were committed while the last " INT64_FORMAT " were shipped.",
					   committed, shipped),
			 errhint("rig ships the rest at full speed, so that the tail shipped while writers wait stays short.")));
	return NULL;
}

/*
 * Ship a peer what was committed after shipped without blocking writers:
 * up to the watermark, again while the pass was large (1000 versions or
 * 16 MB), so that the tail written meanwhile, shipped under the commit
 * gate, stays short.  Sets
 * *held (unless NULL) to the version up to which the peer now holds
 * everything, left alone when nothing was shipped; returns the last
 * version shipped.  pace (NULL: none) keeps a byte rate, until a pass
 * finds at least as many versions to ship as the one before.  A known peer
 * (one in rig.peers, not one rig_add_peer is adding) has its lag and
 * horizon kept as it goes.
 */
int64
rig_ship_backlog(const char *name, const char *conninfo, int64 shipped,
				 RigPace *pace, bool known, int64 *held)
{
	int64		last_backlog = -1;

	for (int pass = 0; pass < RIG_CATCHUP_PASSES; pass++)
	{
		int64		from = shipped;
		int64		wm = rig_compute_watermark();
		int64		bytes;

		if (wm <= from)
			break;
		if (pace != NULL && last_backlog >= 0 && wm - from >= last_backlog)
			pace = rig_backlog_outran_pace(name, last_backlog, wm - from);
		last_backlog = wm - from;
		if (known)
			rig_peer_event(name, RIG_PEER_LAGGING, 0, NULL);
		shipped = rig_ship_log(name, conninfo, from, wm, pace, &bytes);
		if (known)
		{
			rig_peer_event(name, RIG_PEER_REACHED, shipped, NULL);
			rig_peer_set_horizon(name, wm);
		}
		if (held != NULL)
			*held = wm;
		if (wm - from < RIG_CATCHUP_TAIL && bytes < RIG_CATCHUP_TAIL_BYTES)
			break;
	}
	return shipped;
}

/*
 * The tail: ship everything committed after shipped while the caller holds
 * the exclusive commit gate (commits wait), at full speed, and say how much
 * that was.  Returns the last version shipped.
 */
int64
rig_ship_tail(const char *name, const char *conninfo, int64 shipped)
{
	TimestampTz start = GetCurrentTimestamp();
	int64		bytes;
	int64		last = rig_ship_log(name, conninfo, shipped, -1, NULL, &bytes);

	ereport(LOG,
			(errmsg("rig peer \"%s\": shipped the last " INT64_FORMAT " versions (" INT64_FORMAT " bytes) in %ld ms while commits waited",
					name, last - shipped, bytes,
					TimestampDifferenceMilliseconds(start, GetCurrentTimestamp()))));
	return last;
}

/*
 * Catch one peer up and, unless it is async, return it to sync under the
 * exclusive commit gate, which is released as soon as the peer is in sync.
 */
void
rig_catch_up(RigPeer *peer)
{
	RigConn    *rc;
	int64		shipped;
	int64		held;			/* the peer holds every version up to it */
	int64		wm;
	bool		gated = peer->mode != RIG_PEER_ASYNC;

	rc = rig_conn_get(peer->name, peer->conninfo, rig_deadline(rig_sync_timeout));
	if (rig_peer_newer_epoch(rc, peer->name))
		ereport(ERROR,
				(errcode(ERRCODE_RIG_STALE_EPOCH),
				 errmsg("peer \"%s\" is in a newer epoch than this node's " INT64_FORMAT ": node \"%s\" is fenced",
						peer->name, rig_node_epoch(), rig_node_name()),
				 errdetail("Another node was promoted; this node accepts no rig_do() from now on."),
				 errhint("Rejoin this node as a replica with rig_add_peer() on the new primary.")));
	/* a diverged peer is compared whole: its difference may lie below the horizon */
	shipped = rig_verified_start(rc, peer->name, peer->conninfo,
								 rig_peer_get_state(peer->name) == RIG_STATE_DIVERGED ? 0 :
								 rig_peer_get_horizon(peer->name), true);
	rig_peer_event(peer->name, RIG_PEER_REACHED, 0, NULL);
	held = shipped;

	/* phase 1, writers unaffected */
	shipped = rig_ship_backlog(peer->name, peer->conninfo, shipped, NULL, true, &held);

	if (gated)
	{
		LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
		wm = rig_compute_watermark();
		shipped = rig_ship_tail(peer->name, peer->conninfo, shipped);
		rig_peer_set_horizon(peer->name, wm);
		held = Max(held, wm);
	}
	else
	{
		/*
		 * Shipped ungated, which is only right while the peer stays async:
		 * rig_set_peer_mode() changes the mode under the exclusive gate, so
		 * a share lock on it tells whether it did meanwhile.  Then the peer
		 * stays catching up, and the next round returns it to sync gated.
		 */
		LockRelationOid(rig_relid("commit_gate"), RowShareLock);
		if (rig_peer_mode(peer->name) != RIG_PEER_ASYNC)
		{
			UnlockRelationOid(rig_relid("commit_gate"), RowShareLock);
			return;
		}
	}
	rig_peer_event(peer->name, RIG_PEER_CAUGHT_UP, shipped, NULL);

	/*
	 * The peer is in sync: commits may prepare on it now.  Release the gate
	 * with this peer's step, not with the caller's transaction, or every
	 * commit would wait while the worker goes on to the next peer.
	 */
	UnlockRelationOid(rig_relid("commit_gate"), gated ? ExclusiveLock : RowShareLock);

	/* and its watermark may rise to what it now provably holds */
	rig_send_confirm(peer->name, peer->conninfo, held, peer->mode);
}

/* Does the worker have something to do for this peer? */
static bool
rig_peer_needs_work(RigPeer *peer)
{
	if (peer->mode == RIG_PEER_ASYNC)
		return true;
	return rig_peer_get_state(peer->name) != RIG_STATE_IN_SYNC;
}

/* rig_foreach_peer callback: catch one peer up if it may lack ops. */
static void
rig_catch_up_one(RigPeer *peer, void *arg)
{
	bool		was_in_sync;

	if (!rig_peer_needs_work(peer))
		return;
	/* a diverged peer is compared whole: not every round */
	if (rig_peer_get_state(peer->name) == RIG_STATE_DIVERGED &&
		!rig_verify_retry_due(peer->name))
		return;
	was_in_sync = rig_peer_get_state(peer->name) == RIG_STATE_IN_SYNC;
	rig_catch_up(peer);
	/* a peer back in sync is verified again by the worker's next pass */
	if (!was_in_sync)
		rig_verify_request(peer->name);
}

/* The worker's catch-up round over every peer that may lack operations. */
void
rig_catch_up_all(void)
{
	if (!rig_node_is_replica() && !rig_node_fenced(NULL))
		rig_foreach_peer(rig_catch_up_one, NULL, "catch up");
}

/* Ask the peer that fenced this node (arg) who the new primary is. */
static void
rig_fence_learn(void *arg)
{
	RigPeer    *peer = arg;

	(void) rig_peer_newer_epoch(rig_conn_get(peer->name, peer->conninfo,
											 rig_deadline(rig_sync_timeout)),
								peer->name);
}

/*
 * The worker: make a fence that the commit path or catch-up set in shared
 * memory durable (rig.node.role 'fenced', primary_name the new primary
 * when the peer that fenced it tells), so that a restart keeps it.
 */
void
rig_fence_persist(void)
{
	RigFenceInfo f;
	RigPeer    *peer;

	if (!rig_fence_get(&f) || f.epoch != rig_node_epoch() ||
		strcmp(rig_node_role(), "primary") != 0)
		return;
	if (f.primary[0] == '\0' && (peer = rig_peer_find(f.by)) != NULL)
	{
		/* best effort: unreachable, it is fenced all the same */
		ErrorData  *edata = rig_subxact_try(rig_fence_learn, peer);

		if (edata != NULL)
			FreeErrorData(edata);
		(void) rig_fence_get(&f);
	}
	rig_node_fence(f.primary[0] ? f.primary : NULL, f.epoch);
	ereport(LOG,
			(errmsg("rig: node \"%s\" is fenced for good: peer \"%s\" is in a newer epoch, the new primary is \"%s\"",
					rig_node_name(), f.by, f.primary[0] ? f.primary : "?"),
			 errdetail_internal("%s", f.reason)));
}

/* SQL: catch a peer up now and return it to sync. */
Datum
rig_sync_peer(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RigPeer    *peer;

	rig_check_database();
	rig_xact_refuse_ops("rig_sync_peer()");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_sync_peer() requires the READ COMMITTED isolation level")));
	/* a copy: catch-up takes locks, and a peer change would free the cached list */
	peer = rig_peer_find(name);
	if (peer != NULL)
	{
		rig_catch_up(peer);
		PG_RETURN_VOID();
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("peer \"%s\" does not exist", name)));
}
