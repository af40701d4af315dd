/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Anti-entropy: proving what a peer holds instead of assuming it.
 *
 * The primary's rig.log and a peer's are compared by range hashes, and
 * their handlers by fingerprints (compare.c).  Where shipping to a peer
 * starts (rig_add_peer, catch-up) is the verified horizon: every version
 * up to it is proved identical on the peer.  Holes
 * (versions only this node has) are repaired by shipping them; a version
 * that differs, or exists only on the peer, makes the peer "diverged" and
 * is never repaired automatically.  A peer with other handlers computes
 * other rows, so it is diverged too until they match again.  The worker
 * verifies in-sync peers (handlers every round, the log every
 * rig.verify_interval), and rig_verify_peer() lists the differences.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "compare.h"
#include "conn.h"
#include "node.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "ship.h"
#include "tablediff.h"
#include "verify.h"
#include "watermark.h"
#include "wire.h"
#include "xact.h"

/* Holes closer than this are repaired by one shipment */
#define RIG_REPAIR_GAP		1000

/* Peers whose last verification the worker remembers */
#define RIG_VERIFY_SLOTS	64

/* When the worker last verified a peer (0: due now) */
typedef struct RigVerifySlot
{
	char		name[NAMEDATALEN];
	TimestampTz verified_at;
} RigVerifySlot;

static RigVerifySlot rig_verify_slots[RIG_VERIFY_SLOTS];

static void rig_require_same_handlers(RigConn *rc, const char *name, bool known);
static void rig_repair_holes(const char *name, const char *conninfo, List *diffs);
static int64 rig_require_retained(const char *name, int64 start, bool known);
static RigVerifySlot *rig_verify_slot(const char *name);
static bool rig_verify_due(const char *name);
static void rig_confirm_in_sync(RigPeer *peer);
static void rig_verify_one(RigPeer *peer, void *arg);

PG_FUNCTION_INFO_V1(rig_verify_peer);


/*
 * The handlers must match, or the peer computes other rows: throw if they
 * do not, after marking a known peer diverged.
 */
static void
rig_require_same_handlers(RigConn *rc, const char *name, bool known)
{
	List	   *diffs = rig_verify_handlers(rc);
	char	   *methods;

	if (diffs == NIL)
		return;
	methods = rig_handler_diffs_describe(diffs);
	if (known)
		rig_peer_event(name, RIG_PEER_DIVERGED, 0,
					   psprintf("handlers differ: %s", methods));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("peer \"%s\" has other handlers than this node: %s", name, methods),
			 errdetail("A node with other handlers computes other rows from the same operations."),
			 errhint("Load the same handler functions and rig_register() calls on both nodes; "
					 "rig returns the peer to sync once they match.")));
}

/* Ship the versions a peer lacks, one shipment per cluster of close holes. */
static void
rig_repair_holes(const char *name, const char *conninfo, List *diffs)
{
	int64		first = -1;
	int64		last = -1;
	ListCell   *lc;

	foreach(lc, diffs)
	{
		RigLogDiff *d = lfirst(lc);

		if (first >= 0 && d->first - last > RIG_REPAIR_GAP)
		{
			(void) rig_ship_log(name, conninfo, first - 1, last, NULL, NULL);
			first = -1;
		}
		if (first < 0)
			first = d->first;
		last = d->last;
	}
	if (first >= 0)
		(void) rig_ship_log(name, conninfo, first - 1, last, NULL, NULL);
}

/*
 * Shipping from start needs the records after it: throw, clearly, when
 * this node compacted some of them away (a peer that lost what it had,
 * e.g. emptied and not bootstrapped again), after recording the reason on
 * a known peer, which stays out of sync.  Returns start.
 */
static int64
rig_require_retained(const char *name, int64 start, bool known)
{
	int64		below = rig_node_compacted_below();
	char	   *why;

	if (start + 1 >= below)
		return start;
	why = psprintf("lacks versions " INT64_FORMAT " to " INT64_FORMAT ", which this node compacted",
				   start + 1, below - 1);
	if (known)
		rig_peer_event(name, RIG_PEER_LAGGING, 0, why);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("peer \"%s\" lacks versions up to " INT64_FORMAT " that node \"%s\" compacted",
					name, below - 1, rig_node_name()),
			 errdetail("The peer is proved to hold every version up to " INT64_FORMAT
					   "; rig_compact() removed the records below " INT64_FORMAT " here.",
					   start, below),
			 errhint("Bootstrap it again from the latest snapshot: on it DROP EXTENSION rig; "
					 "CREATE EXTENSION rig; load the handlers; then rig_drop_peer('%s') and "
					 "rig_add_peer() it again.", name)));
}

/*
 * Where shipping to a peer may start: compare the logs above after (the
 * horizon already proved, 0 for all of it), repair holes and compare
 * again.  Returns a version V such that the peer holds exactly this
 * node's records up to V, never above this node's watermark at the time
 * it was computed (nor below after).  Throws when the records after V are
 * compacted here, or when the handlers or a
 * version differ, or a version exists only on the peer; a known peer
 * (one in rig.peers) is then marked diverged, with the first bad range.
 */
int64
rig_verified_start(RigConn *rc, const char *name, const char *conninfo,
				   int64 after, bool known)
{
	RigVerifyResult res;
	RigLogDiff *first;
	char	   *what;
	ListCell   *lc;

	rig_require_same_handlers(rc, name, known);
	for (int attempt = 0;; attempt++)
	{
		rig_verify_log(rc, after, &res);
		if (res.diffs == NIL)
			return rig_require_retained(name, Max(after, res.upto), known);
		if (res.unrepairable || attempt > 0)
			break;
		if (known)
			rig_peer_event(name, RIG_PEER_LAGGING, 0,
						   psprintf("repairing: %s", rig_diff_describe(linitial(res.diffs))));
		ereport(LOG,
				(errmsg("rig is shipping peer \"%s\" the versions it lacks: %s%s",
						name, rig_diff_describe(linitial(res.diffs)),
						list_length(res.diffs) > 1 ? " and more" : "")));
		rig_repair_holes(name, conninfo, res.diffs);
	}

	/* name the first difference rig cannot repair, if any */
	first = linitial(res.diffs);
	foreach(lc, res.diffs)
	{
		RigLogDiff *d = lfirst(lc);

		if (d->kind != RIG_DIFF_MISSING)
		{
			first = d;
			break;
		}
	}
	what = rig_diff_describe(first);
	if (known)
		rig_peer_event(name, RIG_PEER_DIVERGED, 0, what);
	if (!res.unrepairable)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("peer \"%s\" still lacks versions after they were shipped to it: %s",
						name, what)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("peer \"%s\" has diverged from this node: %s", name, what),
			 errdetail("%d range(s) differ; rig never overwrites a version the peer holds, nor removes one.",
					   list_length(res.diffs)),
			 errhint("List the differences with rig_verify_peer('%s'). Rebuild the peer "
					 "(on it: DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers), "
					 "then rig_drop_peer('%s') and rig_add_peer() it again.",
					 name, name)));
}

/* The worker's memory of when it last verified a peer. */
static RigVerifySlot *
rig_verify_slot(const char *name)
{
	RigVerifySlot *free_slot = NULL;

	for (int i = 0; i < RIG_VERIFY_SLOTS; i++)
	{
		if (strcmp(rig_verify_slots[i].name, name) == 0)
			return &rig_verify_slots[i];
		if (free_slot == NULL && rig_verify_slots[i].name[0] == '\0')
			free_slot = &rig_verify_slots[i];
	}
	if (free_slot == NULL)
		free_slot = &rig_verify_slots[0];
	strlcpy(free_slot->name, name, NAMEDATALEN);
	free_slot->verified_at = 0;
	return free_slot;
}

/* Ask this process's next verification pass to verify a peer (after a catch-up). */
void
rig_verify_request(const char *name)
{
	rig_verify_slot(name)->verified_at = 0;
}

/* Is a full verification of this peer due (rig.verify_interval)? */
static bool
rig_verify_due(const char *name)
{
	RigVerifySlot *s = rig_verify_slot(name);

	if (rig_verify_interval < 0)
		return false;
	return s->verified_at == 0 ||
		TimestampDifferenceExceeds(s->verified_at, GetCurrentTimestamp(), rig_verify_interval);
}

/*
 * May the worker try a diverged peer again (a full comparison) now?  At
 * most once per rig.verify_interval; never when it is -1 (rig_sync_peer
 * still does).
 */
bool
rig_verify_retry_due(const char *name)
{
	if (!rig_verify_due(name))
		return false;
	rig_verify_slot(name)->verified_at = GetCurrentTimestamp();
	return true;
}

/*
 * rig_foreach_peer callback of the worker: an in-sync peer's handlers are
 * compared every round (one query), its log when a verification is due.
 * A difference makes it diverged; catch-up then repairs what it can and
 * returns it to sync.  Peers out of sync are left to catch-up, which
 * verifies before it ships.
 */
static void
rig_verify_one(RigPeer *peer, void *arg)
{
	RigConn    *rc;
	List	   *hdiffs;
	RigVerifyResult res;
	char	   *what;

	if (rig_peer_get_state(peer->name) != RIG_STATE_IN_SYNC)
		return;
	rc = rig_conn_get(peer->name, peer->conninfo, rig_deadline(rig_sync_timeout));
	hdiffs = rig_verify_handlers(rc);
	if (hdiffs != NIL)
		what = psprintf("handlers differ: %s", rig_handler_diffs_describe(hdiffs));
	else
	{
		rig_confirm_in_sync(peer);
		if (!rig_verify_due(peer->name))
			return;
		rig_verify_log(rc, 0, &res);
		if (res.diffs == NIL)
		{
			rig_verify_slot(peer->name)->verified_at = GetCurrentTimestamp();
			return;
		}
		what = rig_diff_describe(linitial(res.diffs));
	}
	rig_peer_event(peer->name, RIG_PEER_DIVERGED, 0, what);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("peer \"%s\" has diverged from this node: %s", peer->name, what),
			 errhint("rig's worker ships versions the peer lacks and returns it to sync once the handlers match; "
					 "rig_verify_peer('%s') lists the differences.", peer->name)));
}

/* The worker's verification pass over every peer of this primary. */
void
rig_verify_all(void)
{
	/* a fenced node's peers follow the new primary */
	if (!rig_node_is_replica() && !rig_node_fenced(NULL))
		rig_foreach_peer(rig_verify_one, NULL, "verify");
}

/*
 * SQL: compare this primary's log and handlers with a peer's; one row per
 * differing range (no rows: identical up to the lower watermark).  Runs
 * as the owner of rig.log, so that rig_reader and pg_monitor may call it;
 * the conninfo is read in C and never shown.  A difference makes the peer
 * diverged (the worker repairs holes and returns it to sync).
 */
Datum
rig_verify_peer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RigPeer    *peer;
	RigConn    *rc;
	RigVerifyResult res;
	RigTablesResult tres;
	List	   *hdiffs;
	Oid			save_userid;
	int			save_sec;
	ListCell   *lc;

	rig_check_database();
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_verify_peer() requires the READ COMMITTED isolation level"),
				 errdetail("The watermarks must be read before the snapshots that read the logs.")));
	peer = rig_peer_find(name);
	if (peer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", name)));

	InitMaterializedSRF(fcinfo, 0);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(rig_rel_owner(rig_relid("log")),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	rc = rig_conn_get(peer->name, peer->conninfo, rig_deadline(rig_sync_timeout));
	hdiffs = rig_verify_handlers(rc);
	rig_verify_log(rc, 0, &res);
	/* the tables only where the same log made them */
	if (hdiffs == NIL && res.diffs == NIL)
		rig_verify_tables(rc, res.upto, &tres);
	else
		memset(&tres, 0, sizeof(tres));
	SetUserIdAndSecContext(save_userid, save_sec);

	foreach(lc, hdiffs)
	{
		RigHandlerDiff *d = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, true, true, false, false};

		values[0] = CStringGetTextDatum("rig.handlers");
		values[3] = CStringGetTextDatum(d->method);
		values[4] = CStringGetTextDatum(rig_diff_name(d->kind));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	foreach(lc, res.diffs)
	{
		RigLogDiff *d = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, true, false};

		values[0] = CStringGetTextDatum("rig.log");
		values[1] = Int64GetDatum(d->first);
		values[2] = Int64GetDatum(d->last);
		values[4] = CStringGetTextDatum(rig_diff_name(d->kind));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	foreach(lc, tres.diffs)
	{
		RigTableDiff *d = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, true, !tres.compared, d->key_range == NULL, false};

		values[0] = CStringGetTextDatum(d->relation);
		values[2] = Int64GetDatum(tres.version);
		if (d->key_range != NULL)
			values[3] = CStringGetTextDatum(d->key_range);
		values[4] = CStringGetTextDatum(d->problem);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (tres.truncated)
		ereport(NOTICE,
				(errmsg("only the first differing key ranges of each table are shown")));
	if (res.truncated)
		ereport(NOTICE,
				(errmsg("only the first %d differing ranges are shown", RIG_VERIFY_MAX_DIFFS)));
	ereport(DEBUG1,
			(errmsg_internal("rig_verify_peer(%s): %d queries to the peer", name,
							 res.queries + tres.queries + 1)));

	if (hdiffs != NIL)
		rig_peer_event(name, RIG_PEER_DIVERGED, 0,
					   psprintf("handlers differ: %s", rig_handler_diffs_describe(hdiffs)));
	else if (res.diffs != NIL)
		rig_peer_event(name, RIG_PEER_DIVERGED, 0, rig_diff_describe(linitial(res.diffs)));
	return (Datum) 0;
}

/*
 * Confirm to an in-sync peer that commits prepare on what it holds: every
 * version up to this node's watermark (read under the commit gate, so the
 * peer cannot return to sync in between; the state is read after the
 * watermark, as on the commit path).  A replica restarted while its
 * primary is idle gets its watermark back this way.
 */
static void
rig_confirm_in_sync(RigPeer *peer)
{
	int64		wm;
	bool		in_sync;

	if (peer->mode == RIG_PEER_ASYNC)
		return;
	LockRelationOid(rig_relid("commit_gate"), RowShareLock);
	wm = rig_compute_watermark();
	in_sync = rig_peer_get_state(peer->name) == RIG_STATE_IN_SYNC;
	UnlockRelationOid(rig_relid("commit_gate"), RowShareLock);
	if (in_sync)
		rig_send_confirm(peer->name, peer->conninfo, wm, peer->mode);
}

