/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  The in-doubt resolver: finish rig's prepared transactions on peers.
 *
 * Presumed abort.  For every prepared transaction on a peer whose GID says
 * this node started it (rig_<this node>_<epoch>_<incarnation>_<xid>_...),
 * look at the local transaction: still running -> leave it; committed ->
 * COMMIT PREPARED; otherwise (aborted, or lost in a crash before its
 * commit record) -> ROLLBACK PREPARED.  A transaction of an earlier
 * incarnation (its xid may have been handed out again after a crash: rig
 * does not flush before the peers prepare) or too old for the commit log is
 * decided by rig.log instead: its last version's record is there iff it
 * committed, since a version is never handed out twice (watermark.c).
 * "does not exist" and "is busy" mean somebody else settled it meanwhile.
 * Citus's transaction_recovery.c is the model.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/resolve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "storage/procarray.h"
#include "utils/builtins.h"

#include "conn.h"
#include "gid.h"
#include "incarnation.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "peerstate.h"
#include "resolve.h"
#include "settings.h"
#include "xact.h"

typedef enum RigOutcome
{
	RIG_OUTCOME_RUNNING,
	RIG_OUTCOME_COMMITTED,
	RIG_OUTCOME_ABORTED,
	RIG_OUTCOME_UNKNOWN			/* too old for the commit log */
} RigOutcome;

static RigOutcome rig_branch_outcome(const RigGid *g);
static RigOutcome rig_local_outcome(FullTransactionId fxid);
static RigOutcome rig_outcome_from_log(const RigGid *g);
static int	rig_resolve_peer(RigPeer *peer, int min_age_ms);
static void rig_resolve_one(RigPeer *peer, void *arg);

PG_FUNCTION_INFO_V1(rig_resolve);

/* What became of the local transaction a branch on a peer belongs to. */
static RigOutcome
rig_branch_outcome(const RigGid *g)
{
	RigOutcome	outcome;

	/* an earlier incarnation's xid may belong to another transaction now */
	if (g->incarnation != rig_incarnation())
		return rig_outcome_from_log(g);
	outcome = rig_local_outcome(g->fxid);
	if (outcome == RIG_OUTCOME_UNKNOWN)
		outcome = rig_outcome_from_log(g);
	return outcome;
}

/* What became of a transaction of this incarnation, by the commit log. */
static RigOutcome
rig_local_outcome(FullTransactionId fxid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	TransactionId xid = XidFromFullTransactionId(fxid);

	/* not handed out yet in this incarnation: cannot have committed */
	if (!FullTransactionIdPrecedes(fxid, next))
		return RIG_OUTCOME_ABORTED;
	if (U64FromFullTransactionId(next) - U64FromFullTransactionId(fxid) >= (UINT64CONST(1) << 31) ||
		TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		return RIG_OUTCOME_UNKNOWN;
	if (TransactionIdIsInProgress(xid))
		return RIG_OUTCOME_RUNNING;
	if (TransactionIdDidCommit(xid))
		return RIG_OUTCOME_COMMITTED;
	return RIG_OUTCOME_ABORTED;
}

/*
 * What became of a transaction of an earlier incarnation or too old for
 * the commit log, from rig.log (DESIGN 5.1): it wrote versions first..last
 * here in the same transaction, and no other transaction was given those
 * versions, so its last version's record, of its epoch, is here if and
 * only if it committed.  An absent record proves an abort only while
 * compaction has not reached it: records below first are still here, or
 * the branch is of this node's current epoch (every record of it was
 * written here, so only this node's own compaction removes one) and
 * rig.node.compacted_below, read after the record was looked for, is not
 * above it (a log that is empty or starts above the branch, as after a
 * new primary's first op was lost).  Otherwise it stays unknown: a log
 * seeded from a compacted primary lacks older epochs' records without
 * saying so.
 */
static RigOutcome
rig_outcome_from_log(const RigGid *g)
{
	int64		epoch = rig_log_version_epoch(g->last);
	int64		oldest;

	if (epoch == g->epoch)
		return RIG_OUTCOME_COMMITTED;
	/* another primary's op at that version: this one never committed here */
	if (epoch >= 0)
		return RIG_OUTCOME_ABORTED;
	oldest = rig_log_first_version();
	if (oldest > 0 && oldest < g->first)
		return RIG_OUTCOME_ABORTED;
	/* a compaction that removed the record committed before this read */
	rig_node_refresh();
	if (g->epoch == rig_node_epoch() && g->last >= rig_node_compacted_below())
		return RIG_OUTCOME_ABORTED;
	return RIG_OUTCOME_UNKNOWN;
}

/* Settle this node's prepared transactions on one peer; returns how many. */
static int
rig_resolve_peer(RigPeer *peer, int min_age_ms)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	RigConn    *rc = rig_conn_get(peer->name, peer->conninfo, deadline);
	PGresult   *res;
	char		pattern[NAMEDATALEN + 8];
	char		age[32];
	const char *params[2] = {pattern, age};
	int			resolved = 0;

	snprintf(pattern, sizeof(pattern), "rig\\_%s\\_%%", rig_node_name());
	snprintf(age, sizeof(age), "%d", min_age_ms);
	res = rig_conn_query(rc, "SELECT gid, prepared <= now() - make_interval(secs => $2::int / 1000.0) "
						 "FROM pg_catalog.pg_prepared_xacts "
						 "WHERE gid LIKE $1 AND database = current_database() "
						 "ORDER BY prepared",
						 2, params, deadline);
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *gid = PQgetvalue(res, i, 0);
		RigGid		g;
		RigOutcome	outcome;
		char		sql[256];

		if (!rig_parse_gid(gid, rig_node_name(), &g))
			continue;
		/* a young branch of this incarnation is left to its own backend */
		if (strcmp(PQgetvalue(res, i, 1), "t") != 0 &&
			g.incarnation == rig_incarnation())
			continue;
		outcome = rig_branch_outcome(&g);
		if (outcome == RIG_OUTCOME_RUNNING)
			continue;
		if (outcome == RIG_OUTCOME_UNKNOWN)
		{
			ereport(WARNING,
					(errmsg("cannot tell the outcome of prepared transaction \"%s\" on peer \"%s\"",
							gid, peer->name),
					 errdetail("Its transaction here is too old for the commit log or from before a restart, and rig.log was compacted past its versions."),
					 errhint("Compare the peer's and this node's rig.log and run COMMIT PREPARED or ROLLBACK PREPARED on the peer by hand.")));
			continue;
		}
		/* a commit made with synchronous_commit = off may not be durable yet */
		if (outcome == RIG_OUTCOME_COMMITTED)
			rig_flush_visible();
		snprintf(sql, sizeof(sql), "%s PREPARED '%s'",
				 outcome == RIG_OUTCOME_COMMITTED ? "COMMIT" : "ROLLBACK", gid);
		if (rig_conn_exec_quiet(rc, sql, deadline))
		{
			resolved++;
			/* the peer now holds these versions: they no longer count as behind */
			if (outcome == RIG_OUTCOME_COMMITTED)
				rig_peer_event(peer->name, RIG_PEER_REACHED, g.last, NULL);
		}
		else if (rc->conn == NULL || PQstatus(rc->conn) != CONNECTION_OK)
			break;				/* "does not exist" / "is busy" leave it usable */
	}
	PQclear(res);
	return resolved;
}

/* SQL: resolve in-doubt transactions on every peer now; returns how many. */
Datum
rig_resolve(PG_FUNCTION_ARGS)
{
	rig_check_database();
	PG_RETURN_INT32(rig_resolve_all(0));
}

typedef struct RigResolveArgs
{
	int			min_age_ms;
	int			resolved;
} RigResolveArgs;

/* rig_foreach_peer callback: resolve on one peer, adding to the count. */
static void
rig_resolve_one(RigPeer *peer, void *arg)
{
	RigResolveArgs *a = arg;

	a->resolved += rig_resolve_peer(peer, a->min_age_ms);
}

/*
 * Resolve on every peer; an unreachable one is reported and skipped.  The
 * worker passes a minimum age, so that it leaves a transaction its own
 * backend is still finishing to that backend.
 */
int
rig_resolve_all(int min_age_ms)
{
	RigResolveArgs a = {min_age_ms, 0};

	rig_foreach_peer(rig_resolve_one, &a, "resolve prepared transactions on");
	return a.resolved;
}
