/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Anti-entropy: proving what a peer holds instead of assuming it.
 *
 * The primary's rig.log and a peer's are compared by range hashes, Merkle
 * style: both sides hash the same version range with the same SQL
 * (rig_log_range_hashes, split into up to 16 buckets), and only buckets
 * that differ are split again, down to single versions.  A clean log costs
 * one query per side; each difference costs one per side and level.  The
 * comparison stops at the lower of the two nodes' watermarks: a version
 * above it may still be in flight, and a missing tail is lag, not a
 * difference.
 *
 * Where shipping to a peer starts (rig_add_peer, catch-up) is the verified
 * horizon: every version up to it is proved identical on the peer.  Holes
 * (versions only this node has) are repaired by shipping them; a version
 * that differs, or exists only on the peer, makes the peer "diverged" and
 * is never repaired automatically.  The handlers are compared the same way
 * (rig_handler_fingerprints): a peer with other handlers computes other
 * rows, so it is diverged too until they match again.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "replicate.h"
#include "rig.h"

/* Buckets a differing range is split into */
#define RIG_VERIFY_FANOUT	16

/* Differences reported at most (the descent stops there) */
#define RIG_VERIFY_MAX_DIFFS	1000

/* Holes closer than this are repaired by one shipment */
#define RIG_REPAIR_GAP		1000

/* Peers whose last verification the worker remembers */
#define RIG_VERIFY_SLOTS	64

/* Hashes of up to 16 buckets of [$1, $2], $3 versions wide; the same on both nodes */
#define RIG_RANGE_HASH_SQL \
	"SELECT bucket, n, first_version, last_version, hash " \
	"FROM pg_catalog.rig_log_range_hashes($1, $2, $3)"

#define RIG_FINGERPRINT_SQL \
	"SELECT method, fingerprint FROM pg_catalog.rig_handler_fingerprints()"

/* One bucket of a range: how many records, which versions, their hash */
typedef struct RigBucket
{
	int64		n;
	int64		first;
	int64		last;
	char		hash[48];
} RigBucket;

/* The descent in progress */
typedef struct RigVerifyState
{
	RigConn    *rc;
	MemoryContext cxt;			/* where the result lives */
	RigVerifyResult *res;
} RigVerifyState;

/* A method and its fingerprint, from one node */
typedef struct RigFingerprint
{
	char	   *method;
	char	   *fingerprint;
} RigFingerprint;

/* When the worker last verified a peer (0: due now) */
typedef struct RigVerifySlot
{
	char		name[NAMEDATALEN];
	TimestampTz verified_at;
} RigVerifySlot;

static RigVerifySlot rig_verify_slots[RIG_VERIFY_SLOTS];

static TimestampTz rig_verify_deadline(void);
static void rig_hashes_remote(RigVerifyState *st, int64 lo, int64 hi, int64 width,
							  RigBucket *out);
static void rig_hashes_local(RigVerifyState *st, int64 lo, int64 hi, int64 width,
							 RigBucket *out);
static void rig_add_diff(RigVerifyState *st, RigDiffKind kind, int64 first, int64 last);
static void rig_verify_range(RigVerifyState *st, int64 lo, int64 hi);
static int64 rig_peer_watermark(RigConn *rc, int64 *compacted_below);
static int	rig_cmp_fingerprint(const void *a, const void *b);
static int	rig_fingerprints_remote(RigConn *rc, RigFingerprint **out);
static int	rig_fingerprints_local(RigFingerprint **out);
static void rig_repair_holes(const char *name, const char *conninfo, List *diffs);
static RigVerifySlot *rig_verify_slot(const char *name);
static bool rig_verify_due(const char *name);
static void rig_verify_one(RigPeer *peer, void *arg);
static RigPeer *rig_find_peer(const char *name);

PG_FUNCTION_INFO_V1(rig_verify_peer);

static const char *const rig_diff_names[] = {
	"missing on peer", "extra on peer", "differs"
};

/* Hashing a whole log can take longer than a commit may wait. */
static TimestampTz
rig_verify_deadline(void)
{
	return rig_deadline(Max(rig_sync_timeout, 60000));
}

/* The peer's hashes of the buckets of [lo, hi] (out[] zeroed by the caller). */
static void
rig_hashes_remote(RigVerifyState *st, int64 lo, int64 hi, int64 width, RigBucket *out)
{
	char		p[3][32];
	const char *params[3] = {p[0], p[1], p[2]};
	PGresult   *res;

	snprintf(p[0], sizeof(p[0]), INT64_FORMAT, lo);
	snprintf(p[1], sizeof(p[1]), INT64_FORMAT, hi);
	snprintf(p[2], sizeof(p[2]), INT64_FORMAT, width);
	res = rig_conn_query(st->rc, RIG_RANGE_HASH_SQL, 3, params, rig_verify_deadline());
	st->res->queries++;
	for (int i = 0; i < PQntuples(res); i++)
	{
		int64		b = strtoi64(PQgetvalue(res, i, 0), NULL, 10);

		if (b < 0 || b >= RIG_VERIFY_FANOUT)
			elog(ERROR, "peer returned bucket " INT64_FORMAT " of a range", b);
		out[b].n = strtoi64(PQgetvalue(res, i, 1), NULL, 10);
		out[b].first = strtoi64(PQgetvalue(res, i, 2), NULL, 10);
		out[b].last = strtoi64(PQgetvalue(res, i, 3), NULL, 10);
		strlcpy(out[b].hash, PQgetvalue(res, i, 4), sizeof(out[b].hash));
	}
	PQclear(res);
}

/* This node's hashes of the buckets of [lo, hi], by the same SQL (in SPI). */
static void
rig_hashes_local(RigVerifyState *st, int64 lo, int64 hi, int64 width, RigBucket *out)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3] = {Int64GetDatum(lo), Int64GetDatum(hi), Int64GetDatum(width)};

	/* not read-only: every query takes a fresh snapshot */
	if (SPI_execute_with_args(RIG_RANGE_HASH_SQL, 3, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not hash rig.log");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		b = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

		if (b < 0 || b >= RIG_VERIFY_FANOUT)
			elog(ERROR, "rig_log_range_hashes returned bucket " INT64_FORMAT, b);
		out[b].n = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		out[b].first = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		out[b].last = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		strlcpy(out[b].hash, SPI_getvalue(tup, desc, 5), sizeof(out[b].hash));
	}
}

/* Record a difference, joined to the previous one when they touch. */
static void
rig_add_diff(RigVerifyState *st, RigDiffKind kind, int64 first, int64 last)
{
	RigVerifyResult *res = st->res;
	RigLogDiff *d;

	if (res->diffs != NIL)
	{
		d = llast(res->diffs);
		if (d->kind == kind && d->last + 1 == first)
		{
			d->last = last;
			return;
		}
	}
	if (list_length(res->diffs) >= RIG_VERIFY_MAX_DIFFS)
	{
		res->truncated = true;
		return;
	}
	d = MemoryContextAlloc(st->cxt, sizeof(RigLogDiff));
	d->kind = kind;
	d->first = first;
	d->last = last;
	res->diffs = lappend(res->diffs, d);
}

/*
 * Compare [lo, hi] in up to 16 buckets; descend into the buckets that
 * differ, in version order (so the differences come out sorted).
 */
static void
rig_verify_range(RigVerifyState *st, int64 lo, int64 hi)
{
	int64		width = (hi - lo) / RIG_VERIFY_FANOUT + 1;
	int			nbuckets = (int) ((hi - lo) / width) + 1;
	RigBucket	here[RIG_VERIFY_FANOUT];
	RigBucket	there[RIG_VERIFY_FANOUT];

	CHECK_FOR_INTERRUPTS();
	memset(here, 0, sizeof(here));
	memset(there, 0, sizeof(there));
	rig_hashes_remote(st, lo, hi, width, there);
	rig_hashes_local(st, lo, hi, width, here);

	for (int b = 0; b < nbuckets && !st->res->truncated; b++)
	{
		int64		blo = lo + b * width;
		int64		bhi = Min(hi, blo + width - 1);

		if (here[b].n == there[b].n && strcmp(here[b].hash, there[b].hash) == 0)
			continue;
		if (there[b].n == 0)
			rig_add_diff(st, RIG_DIFF_MISSING, here[b].first, here[b].last);
		else if (here[b].n == 0)
			rig_add_diff(st, RIG_DIFF_EXTRA, there[b].first, there[b].last);
		else if (width == 1)
			rig_add_diff(st, RIG_DIFF_DIFFERS, blo, blo);
		else
			rig_verify_range(st, blo, bhi);
	}
}

/*
 * The peer's watermark (every version at or below it is final there), and
 * the lowest version its own compaction left it (*compacted_below).
 */
static int64
rig_peer_watermark(RigConn *rc, int64 *compacted_below)
{
	PGresult   *res = rig_conn_query(rc, "SELECT pg_catalog.rig_watermark(), compacted_below "
									 "FROM rig.node", 0, NULL,
									 rig_deadline(rig_sync_timeout));
	int64		wm = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);

	*compacted_below = strtoi64(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return wm;
}

/*
 * Compare this node's log with a peer's for the versions above after, up
 * to the lower of the two watermarks.  res (allocated in the caller's
 * memory context) gets the range compared and the differences, in version
 * order.
 */
void
rig_verify_log(RigConn *rc, int64 after, RigVerifyResult *res)
{
	RigVerifyState st;
	int64		local_wm;
	int64		peer_wm;
	int64		peer_compacted;
	bool		isnull;
	Datum		min;
	ListCell   *lc;

	memset(res, 0, sizeof(*res));
	st.rc = rc;
	st.cxt = CurrentMemoryContext;
	st.res = res;

	/* the watermarks first: the logs are read later, with newer snapshots */
	local_wm = rig_compute_watermark();
	peer_wm = rig_peer_watermark(rc, &peer_compacted);
	res->queries = 1;
	res->upto = Min(local_wm, peer_wm);

	SPI_connect();
	if (SPI_execute("SELECT min(version) FROM rig.log", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	min = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* what either node compacted away is not compared */
	res->from = Max(after + 1, isnull ? 1 : DatumGetInt64(min));
	res->from = Max(res->from, peer_compacted);
	if (res->from <= res->upto)
		rig_verify_range(&st, res->from, res->upto);
	SPI_finish();

	foreach(lc, res->diffs)
		if (((RigLogDiff *) lfirst(lc))->kind != RIG_DIFF_MISSING)
			res->unrepairable = true;
	ereport(DEBUG1,
			(errmsg_internal("rig verified versions " INT64_FORMAT " to " INT64_FORMAT
							 " with the peer in %d queries: %d difference(s)",
							 res->from, res->upto, res->queries,
							 list_length(res->diffs))));
}

/* How a difference reads in last_error and messages. */
char *
rig_diff_describe(RigLogDiff *d)
{
	if (d->first == d->last)
		return psprintf("version " INT64_FORMAT " %s", d->first, rig_diff_names[d->kind]);
	return psprintf("versions " INT64_FORMAT " to " INT64_FORMAT " %s",
					d->first, d->last, rig_diff_names[d->kind]);
}

/* Name of a kind of difference, as rig_verify_peer shows it. */
const char *
rig_diff_name(RigDiffKind kind)
{
	return rig_diff_names[kind];
}

/* qsort comparator: fingerprints by method (byte order, the same everywhere). */
static int
rig_cmp_fingerprint(const void *a, const void *b)
{
	return strcmp(((const RigFingerprint *) a)->method, ((const RigFingerprint *) b)->method);
}

/* The peer's handler fingerprints, sorted by method. */
static int
rig_fingerprints_remote(RigConn *rc, RigFingerprint **out)
{
	PGresult   *res = rig_conn_query(rc, RIG_FINGERPRINT_SQL, 0, NULL,
									 rig_deadline(rig_sync_timeout));
	int			n = PQntuples(res);

	*out = palloc(sizeof(RigFingerprint) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		(*out)[i].method = pstrdup(PQgetvalue(res, i, 0));
		(*out)[i].fingerprint = pstrdup(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	qsort(*out, n, sizeof(RigFingerprint), rig_cmp_fingerprint);
	return n;
}

/* This node's handler fingerprints, sorted by method. */
static int
rig_fingerprints_local(RigFingerprint **out)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			n;

	SPI_connect();
	if (SPI_execute(RIG_FINGERPRINT_SQL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list handlers");
	n = (int) SPI_processed;
	*out = MemoryContextAlloc(cxt, sizeof(RigFingerprint) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];

		(*out)[i].method = MemoryContextStrdup(cxt, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1));
		(*out)[i].fingerprint = MemoryContextStrdup(cxt, SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
	qsort(*out, n, sizeof(RigFingerprint), rig_cmp_fingerprint);
	return n;
}

/*
 * Compare the handlers of both nodes.  Returns a list of RigHandlerDiff
 * (method and kind), sorted by method; NIL when they match.
 */
List *
rig_verify_handlers(RigConn *rc)
{
	RigFingerprint *here;
	RigFingerprint *there;
	int			nhere = rig_fingerprints_local(&here);
	int			nthere = rig_fingerprints_remote(rc, &there);
	int			i = 0;
	int			j = 0;
	List	   *diffs = NIL;

	while (i < nhere || j < nthere)
	{
		RigHandlerDiff *d = palloc(sizeof(RigHandlerDiff));
		int			c = i >= nhere ? 1 : j >= nthere ? -1 :
			strcmp(here[i].method, there[j].method);

		if (c == 0 && strcmp(here[i].fingerprint, there[j].fingerprint) == 0)
		{
			pfree(d);
			i++, j++;
			continue;
		}
		d->method = c <= 0 ? here[i].method : there[j].method;
		d->kind = c == 0 ? RIG_DIFF_DIFFERS : c < 0 ? RIG_DIFF_MISSING : RIG_DIFF_EXTRA;
		diffs = lappend(diffs, d);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return diffs;
}

/* "note (differs), stamp (missing on peer)": the methods whose handlers differ. */
char *
rig_handler_diffs_describe(List *diffs)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, diffs)
	{
		RigHandlerDiff *d = lfirst(lc);

		appendStringInfo(&buf, "%s%s (%s)", buf.len > 0 ? ", " : "", d->method,
						 rig_diff_names[d->kind]);
	}
	return buf.data;
}

/*
 * The handlers must match, or the peer computes other rows: throw if they
 * do not, after marking a known peer diverged.
 */
void
rig_require_same_handlers(RigConn *rc, const char *name, bool known)
{
	List	   *diffs = rig_verify_handlers(rc);
	char	   *methods;

	if (diffs == NIL)
		return;
	methods = rig_handler_diffs_describe(diffs);
	if (known)
		rig_peer_note_error(name, RIG_STATE_DIVERGED,
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
			(void) rig_ship_log(name, conninfo, first - 1, last);
			first = -1;
		}
		if (first < 0)
			first = d->first;
		last = d->last;
	}
	if (first >= 0)
		(void) rig_ship_log(name, conninfo, first - 1, last);
}

/*
 * Where shipping to a peer may start: compare the logs above after (the
 * horizon already proved, 0 for all of it), repair holes and compare
 * again.  Returns a version V such that the peer holds exactly this
 * node's records up to V, never above this node's watermark at the time
 * it was computed (nor below after).  Throws when the handlers or a
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
			return Max(after, res.upto);
		if (res.unrepairable || attempt > 0)
			break;
		if (known)
			rig_peer_note_error(name, RIG_STATE_CATCHING_UP,
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
		rig_peer_note_error(name, RIG_STATE_DIVERGED, what);
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
	rig_peer_note_error(peer->name, RIG_STATE_DIVERGED, what);
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
	if (!rig_node_is_replica())
		rig_foreach_peer(rig_verify_one, NULL, "verify");
}

/* The peer called name (a copy: the cached list may be reloaded), or NULL. */
static RigPeer *
rig_find_peer(const char *name)
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
	peer = rig_find_peer(name);
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
	SetUserIdAndSecContext(save_userid, save_sec);

	foreach(lc, hdiffs)
	{
		RigHandlerDiff *d = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, true, true, false, false};

		values[0] = CStringGetTextDatum("rig.handlers");
		values[3] = CStringGetTextDatum(d->method);
		values[4] = CStringGetTextDatum(rig_diff_names[d->kind]);
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
		values[4] = CStringGetTextDatum(rig_diff_names[d->kind]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (res.truncated)
		ereport(NOTICE,
				(errmsg("only the first %d differing ranges are shown", RIG_VERIFY_MAX_DIFFS)));
	ereport(DEBUG1,
			(errmsg_internal("rig_verify_peer(%s): %d queries to the peer", name,
							 res.queries + 1)));

	if (hdiffs != NIL)
		rig_peer_note_error(name, RIG_STATE_DIVERGED,
							psprintf("handlers differ: %s", rig_handler_diffs_describe(hdiffs)));
	else if (res.diffs != NIL)
		rig_peer_note_error(name, RIG_STATE_DIVERGED, rig_diff_describe(linitial(res.diffs)));
	return (Datum) 0;
}
