/*-------------------------------------------------------------------------
 *
 * compare.c
 *	  Comparing this node's log and handlers with another node's.
 *
 * The logs are compared by range hashes, Merkle style: both sides hash
 * the same version range with the same SQL (rig_log_range_hashes, split
 * into up to 16 buckets), and only buckets that differ are split again,
 * down to single versions.  A clean log costs one query per side; each
 * difference costs one per side and level.  The comparison stops at the
 * lower of the two nodes' watermarks: a version above it may still be in
 * flight, and a missing tail is lag, not a difference.  Handlers are
 * compared by their fingerprints (rig_handler_fingerprints), and so are
 * the settings they run under (rig.handler_search_path, _timezone,
 * _locale), by value.  What to make of a difference is verify.c's
 * business.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/compare.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "compare.h"
#include "conn.h"
#include "handlers.h"
#include "oplog.h"
#include "settings.h"
#include "watermark.h"

/* Buckets a differing range is split into */
#define RIG_VERIFY_FANOUT	16

/* Hashes of up to 16 buckets of [$1, $2], $3 versions wide; the same on both nodes */
#define RIG_RANGE_HASH_SQL \
	"SELECT bucket, n, first_version, last_version, hash " \
	"FROM pg_catalog.rig_log_range_hashes($1, $2, $3)"

/* Does a log hold a handler or schema change (sysrec.c) above version $1? */
#define RIG_CHANGES_ABOVE_SQL \
	"SELECT EXISTS (SELECT 1 FROM rig.log WHERE version > $1 " \
	"AND method IN ('rig.register', 'rig.unregister', 'rig.ddl'))"

#define RIG_FINGERPRINT_SQL \
	"SELECT method, fingerprint FROM pg_catalog.rig_handler_fingerprints()"

/* The settings handlers run under (handlers.c), which every node must share */
static const char *const rig_handler_setting_names[] = {
	"rig.handler_search_path", "rig.handler_timezone", "rig.handler_locale",
};

/* Their values in a session, in that order (NULL where a build lacks one) */
#define RIG_HANDLER_SETTINGS_SQL \
	"SELECT current_setting('rig.handler_search_path', true), " \
	"current_setting('rig.handler_timezone', true), current_setting('rig.handler_locale', true)"

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

static const char *const rig_diff_names[] = {
	"missing on peer", "extra on peer", "differs"
};

static int	rig_verify_timeout(void);
static void rig_hashes_remote(RigVerifyState *st, int64 lo, int64 hi, int64 width,
							  RigBucket *out);
static void rig_hashes_local(RigVerifyState *st, int64 lo, int64 hi, int64 width,
							 RigBucket *out);
static void rig_add_diff(RigVerifyState *st, RigDiffKind kind, int64 first, int64 last);
static void rig_verify_range(RigVerifyState *st, int64 lo, int64 hi);
static int64 rig_peer_watermark(RigConn *rc, int64 *compacted_below, int64 *last);
static int	rig_cmp_fingerprint(const void *a, const void *b);
static int	rig_fingerprints_remote(RigConn *rc, RigFingerprint **out);
static int	rig_fingerprints_local(RigFingerprint **out);
static char *rig_handler_settings_differ(RigConn *rc, List **diffs);
static bool rig_changes_pending(RigConn *rc, bool remote_ahead);

/*
 * How long the peer may hash a range of its log, which grows with the log:
 * a user's call (rig_verify_peer, rig_add_peer, rig_sync_peer) as long as
 * its own statement_timeout allows, the worker a minute at least.
 */
static int
rig_verify_timeout(void)
{
	return IsBackgroundWorker ? Max(rig_sync_timeout, 60000) : 0;
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
	res = rig_conn_query_long(st->rc, RIG_RANGE_HASH_SQL, 3, params, rig_verify_timeout());
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
 * The peer's watermark (every version at or below it is final there), the
 * lowest version its own compaction left it (*compacted_below) and its
 * highest committed version (*last).
 */
static int64
rig_peer_watermark(RigConn *rc, int64 *compacted_below, int64 *last)
{
	PGresult   *res = rig_conn_query(rc, "SELECT pg_catalog.rig_watermark(), compacted_below, "
									 "pg_catalog.rig_last_version() FROM rig.node", 0, NULL,
									 rig_deadline(rig_sync_timeout));
	int64		wm = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);

	*compacted_below = strtoi64(PQgetvalue(res, 0, 1), NULL, 10);
	*last = strtoi64(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return wm;
}

/*
 * Compare this node's log with a peer's for the versions above after, up
 * to the lower of the two watermarks.  res (allocated in the caller's
 * memory context) gets the range compared and the differences, in version
 * order.
 *
 * A replica's watermark is 0 after a restart until its primary confirms
 * again (watermark.c), and confirming needs this comparison.  Where that
 * watermark lies below this node's log (compacted past it), nothing could
 * be compared and catch-up would ask for removed records: then the range
 * goes up to the peer's last version instead (or, with nothing there, its
 * own compaction bound), which is proved the same way.  A hole there that
 * the peer holds prepared, in doubt, is shipped again and fails on the
 * peer's key until its resolver settles it; the next round compares again.
 */
void
rig_verify_log(RigConn *rc, int64 after, RigVerifyResult *res)
{
	RigVerifyState st;
	int64		local_wm;
	int64		peer_wm;
	int64		peer_compacted;
	int64		peer_last;
	bool		isnull;
	Datum		min;
	ListCell   *lc;

	memset(res, 0, sizeof(*res));
	st.rc = rc;
	st.cxt = CurrentMemoryContext;
	st.res = res;

	/* the watermarks first: the logs are read later, with newer snapshots */
	local_wm = rig_compute_watermark();
	peer_wm = rig_peer_watermark(rc, &peer_compacted, &peer_last);
	res->queries = 1;
	res->upto = Min(local_wm, peer_wm);

	SPI_connect();
	if (SPI_execute("SELECT min(version) FROM rig.log", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.log");
	min = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* what either node compacted away is not compared */
	res->from = Max(after + 1, isnull ? 1 : DatumGetInt64(min));
	res->from = Max(res->from, peer_compacted);
	if (res->upto < res->from - 1)
		res->upto = Min(local_wm, Max(Max(peer_wm, peer_last), peer_compacted - 1));
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
	/* not read-only: a snapshot of now, not the caller's */
	if (SPI_execute(RIG_FINGERPRINT_SQL, false, 0) != SPI_OK_SELECT)
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
 * Does the node ahead (the other one when remote_ahead, else this one)
 * hold a handler or schema change above the other's last version?  Then
 * their handlers may differ now and match once it arrives: they are
 * compared when the node behind holds every change (a change a node made
 * outside rig is found then).
 */
static bool
rig_changes_pending(RigConn *rc, bool remote_ahead)
{
	PGresult   *res;
	bool		pending;

	if (remote_ahead)
	{
		char		after[32];
		const char *params[1] = {after};

		snprintf(after, sizeof(after), INT64_FORMAT, rig_log_last_version());
		res = rig_conn_query(rc, RIG_CHANGES_ABOVE_SQL, 1, params,
							 rig_deadline(rig_sync_timeout));
		pending = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	}
	else
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1];

		res = rig_conn_query(rc, "SELECT pg_catalog.rig_last_version()", 0, NULL,
							 rig_deadline(rig_sync_timeout));
		args[0] = Int64GetDatum(strtoi64(PQgetvalue(res, 0, 0), NULL, 10));
		SPI_connect();
		if (rig_spi_as_owner("log", RIG_CHANGES_ABOVE_SQL, 1, types, args, NULL) != SPI_OK_SELECT)
			elog(ERROR, "could not read rig.log");
		pending = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
		SPI_finish();
	}
	PQclear(res);
	return pending;
}

/*
 * Do the settings handlers run under differ between this node and the
 * other node's session rc (the role and connection its applies run in)?
 * Here the values this session would RESET to (postgresql.conf, ALTER
 * ROLE / DATABASE), not a superuser's SET in it: that made rig_verify_peer
 * mark a healthy peer diverged, and rig_do refused everywhere.  Returns
 * "name (here X, there Y), ..." or NULL when they match; appends a
 * RigHandlerDiff named after each differing setting to *diffs unless NULL.
 */
static char *
rig_handler_settings_differ(RigConn *rc, List **diffs)
{
	PGresult   *res;
	StringInfoData buf;

	res = rig_conn_query(rc, RIG_HANDLER_SETTINGS_SQL, 0, NULL, rig_deadline(rig_sync_timeout));
	initStringInfo(&buf);
	for (int i = 0; i < (int) lengthof(rig_handler_setting_names); i++)
	{
		const char *here = GetConfigOptionResetString(rig_handler_setting_names[i]);
		const char *there = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);

		if (here != NULL && there != NULL && strcmp(here, there) == 0)
			continue;
		appendStringInfo(&buf, "%s%s (here %s, there %s)", buf.len > 0 ? ", " : "",
						 rig_handler_setting_names[i], here ? here : "unknown",
						 there ? there : "unknown");
		if (diffs != NULL)
		{
			RigHandlerDiff *d = palloc(sizeof(RigHandlerDiff));

			d->method = pstrdup(rig_handler_setting_names[i]);
			d->kind = RIG_DIFF_DIFFERS;
			*diffs = lappend(*diffs, d);
		}
	}
	PQclear(res);
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * Is method one of rig's own (rig.*), which its install or update script
 * registers on each node locally?  One node has it and the other not only
 * while their SQL versions differ (README, Upgrading), which is no
 * divergence: the node without it refuses its records until updated.
 */
static bool
rig_is_own_method(const char *method)
{
	return strncmp(method, RIG_SYSTEM_METHOD_PREFIX, strlen(RIG_SYSTEM_METHOD_PREFIX)) == 0;
}

/*
 * Compare the handlers of both nodes.  Returns a list of RigHandlerDiff
 * (method and kind), sorted by method, then the settings handlers run
 * under that differ (named after the setting); NIL when they match.  A
 * method's difference is left out while the peer has yet to take a
 * handler or schema change of this node's log; a setting's never is.
 */
List *
rig_verify_handlers(RigConn *rc)
{
	RigFingerprint *here;
	RigFingerprint *there;
	int			nhere;
	int			nthere;
	int			i = 0;
	int			j = 0;
	List	   *diffs = NIL;

	/*
	 * The peer's first, then this node's with a snapshot of now (not the
	 * worker round's, taken before it talked to other peers): a change
	 * commits here before it commits on a peer, so whatever the peer shows
	 * is here too, and what the peer lacks is a change above its last
	 * version (rig_changes_pending).
	 */
	nthere = rig_fingerprints_remote(rc, &there);
	nhere = rig_fingerprints_local(&here);

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
		if (c != 0 && rig_is_own_method(d->method))
		{
			/* one node's SQL is older: a rolling upgrade, not a divergence */
			pfree(d);
			if (c < 0)
				i++;
			else
				j++;
			continue;
		}
		diffs = lappend(diffs, d);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	/* asked only on a difference: the worker compares every round */
	if (diffs != NIL && rig_changes_pending(rc, false))
		diffs = NIL;
	(void) rig_handler_settings_differ(rc, &diffs);
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
 * The other node must have the same handlers, or it would compute other
 * rows: unless the node ahead (the other one when remote_ahead) has a
 * handler or schema change the other will take through the log.  rig's
 * own methods count only where both nodes have them (a node whose SQL is
 * still 1.0 has none).  The settings they run under must match too.
 */
void
rig_check_handlers_match(RigConn *rc, const char *name, bool remote_ahead)
{
	/* the users' methods, then rig's own (rig.*: none while the SQL is 1.0) */
	const char *sql = "SELECT coalesce(string_agg(method || '=' || fingerprint, ',' ORDER BY method) "
		"FILTER (WHERE method NOT LIKE '" RIG_SYSTEM_METHOD_PREFIX "%'), ''), "
		"coalesce(string_agg(method || '=' || fingerprint, ',' ORDER BY method) "
		"FILTER (WHERE method LIKE '" RIG_SYSTEM_METHOD_PREFIX "%'), '') "
		"FROM pg_catalog.rig_handler_fingerprints()";
	PGresult   *res;
	char	   *local;
	char	   *remote;
	char	   *local_own;
	char	   *remote_own;
	char	   *settings;
	bool		differ;

	settings = rig_handler_settings_differ(rc, NULL);
	if (settings != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" runs handlers under other settings than this node", name),
				 errdetail("%s.", settings),
				 errhint("Set rig.handler_search_path, rig.handler_timezone and rig.handler_locale "
						 "alike on every node (postgresql.conf, then a reload).")));

	res = rig_conn_query(rc, sql, 0, NULL, rig_deadline(rig_sync_timeout));
	remote = pstrdup(PQgetvalue(res, 0, 0));
	remote_own = pstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);

	SPI_connect();
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not list handlers");
	local = MemoryContextStrdup(TopTransactionContext,
								SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	local_own = MemoryContextStrdup(TopTransactionContext,
									SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	SPI_finish();

	/*
	 * rig's own methods only where both nodes' SQL has them: a node still
	 * on 1.0 lacks them during a rolling upgrade (README, Upgrading).
	 */
	differ = strcmp(local, remote) != 0 ||
		(local_own[0] != '\0' && remote_own[0] != '\0' && strcmp(local_own, remote_own) != 0);
	if (differ && !rig_changes_pending(rc, remote_ahead))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" does not have the same handlers as this node", name),
				 errdetail("Handlers here: %s. Handlers there: %s.",
						   local[0] ? local : "(none)", remote[0] ? remote : "(none)"),
				 errhint("Load the same handler functions and rig_register() calls on both nodes.")));
}
