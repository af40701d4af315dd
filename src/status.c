/*-------------------------------------------------------------------------
 *
 * status.c
 *	  What a node says about itself: rig_node_info() and the rig.status
 *	  view (rig_status()).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "shmem.h"
#include "watermark.h"

static void rig_node_values(Datum *values, bool *nulls);
static int	rig_in_sync_peers(void);
static bool rig_safe_to_promote(char **reason);

PG_FUNCTION_INFO_V1(rig_node_info);
PG_FUNCTION_INFO_V1(rig_status);

/* The first five columns of rig_node_info() and rig_status(). */
static void
rig_node_values(Datum *values, bool *nulls)
{
	const char *primary = rig_node_primary_name();

	values[0] = CStringGetTextDatum(rig_node_name());
	/* fenced in shared memory already, before the worker makes it durable */
	values[1] = CStringGetTextDatum(rig_node_fenced(NULL) ? "fenced" : rig_node_role());
	values[2] = primary ? CStringGetTextDatum(primary) : (Datum) 0;
	nulls[2] = (primary == NULL);
	values[3] = Int64GetDatum(rig_node_epoch());
	values[4] = Int64GetDatum(rig_log_last_version());
}

/* SQL: this node's name, role, primary, epoch and last version. */
Datum
rig_node_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rig_node_info must return a composite type");
	rig_node_values(values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* How many of this primary's peers commits prepare on (in_sync, not async). */
static int
rig_in_sync_peers(void)
{
	int			n = 0;
	ListCell   *lc;

	if (strcmp(rig_node_role(), "primary") != 0)
		return 0;
	foreach(lc, rig_peer_list())
	{
		RigPeer    *p = lfirst(lc);

		if (p->mode != RIG_PEER_ASYNC && rig_peer_get_state(p->name) == RIG_STATE_IN_SYNC)
			n++;
	}
	return n;
}

/*
 * Would promoting this node lose no acknowledged op?  Only a replica that
 * its primary treated as in sync at their last contact can say so: a sync
 * one (no commit is acknowledged without it), or a semisync one that was
 * in sync then (one degraded after that contact cannot see it).  For an
 * external failover manager; *reason says why, in words.
 */
static bool
rig_safe_to_promote(char **reason)
{
	const char *role = rig_node_role();
	const char *primary = rig_node_primary_name();
	TimestampTz at;
	int			mode;

	if (strcmp(role, "replica") != 0)
	{
		*reason = psprintf("this node is not a replica (its role is %s)", role);
		return false;
	}
	if (!rig_get_contact(&at, &mode) || mode < 0)
	{
		*reason = psprintf("no word from primary \"%s\" since this server started: it cannot tell whether it holds every acknowledged operation",
						   primary ? primary : "?");
		return false;
	}
	if (TimestampDifferenceExceeds(at, GetCurrentTimestamp(), rig_promote_lease))
	{
		*reason = psprintf("the last word from primary \"%s\" (%s) is older than rig.promote_lease (%d ms): it may have been weakened since without being told",
						   primary ? primary : "?", timestamptz_to_str(at), rig_promote_lease);
		return false;
	}
	if (mode == RIG_PEER_ASYNC)
	{
		*reason = psprintf("primary \"%s\" ships to it asynchronously (last contact %s): it may lack acknowledged operations",
						   primary ? primary : "?", timestamptz_to_str(at));
		return false;
	}
	if (mode == RIG_PEER_SYNC)
		*reason = psprintf("sync replica of \"%s\": no commit is acknowledged without it (last contact %s)",
						   primary ? primary : "?", timestamptz_to_str(at));
	else
		*reason = psprintf("semisync replica of \"%s\", in sync at its last contact (%s); a degrade after that contact is not seen here",
						   primary ? primary : "?", timestamptz_to_str(at));
	return true;
}

/* SQL (behind the rig.status view): this node at a glance. */
Datum
rig_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[15];
	bool		nulls[15] = {false};
	RigWorkerInfo w;
	char	   *reason;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rig_status must return a composite type");
	rig_worker_get_state(&w);
	rig_node_values(values, nulls);
	values[5] = Int64GetDatum(rig_compute_watermark());
	values[6] = Int32GetDatum(rig_inflight_count());
	values[7] = CStringGetTextDatum(w.state);
	values[8] = Int32GetDatum(w.pid);
	nulls[8] = (w.pid == 0);
	/* starts after the first are restarts (a worker that died) */
	values[9] = Int32GetDatum(Max(w.starts - 1, 0));
	values[10] = CStringGetTextDatum(w.error);
	nulls[10] = (w.error_at == 0);
	values[11] = TimestampTzGetDatum(w.error_at);
	nulls[11] = (w.error_at == 0);
	values[12] = Int32GetDatum(rig_in_sync_peers());
	values[13] = BoolGetDatum(rig_safe_to_promote(&reason));
	values[14] = CStringGetTextDatum(reason);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
