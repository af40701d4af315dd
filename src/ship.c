/*-------------------------------------------------------------------------
 *
 * ship.c
 *	  Shipping committed log records to a peer, on parallel connections.
 *
 * Catch-up (and a new peer's first copy) sends the peer committed records
 * in batches that each commit there.  A peer applies an op as fast as one
 * backend runs its handlers, so a batch is split over several connections
 * ("lanes", rig.catchup_connections), which the peer applies in parallel:
 *   - ops that name a common resource (by the resources handler, as on the
 *     write path) end up in the same lane, in version order, so no op
 *     overtakes an older one it conflicts with;
 *   - ops in different lanes share no resource, so on the primary too they
 *     could have committed in either order;
 *   - every lane commits a batch before any lane gets the next one, so an
 *     op never reaches the peer before an older conflicting op of an
 *     earlier batch;
 *   - a handler or schema change (sysrec.c) is a batch of its own;
 *   - the ops of transactions across nodes (rig.transaction.*) share one
 *     lane: an event depends on its transaction's start op, which names
 *     no resource (its key would be its own version).
 * While the peer applies one batch, the next is read and split here.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/ship.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "conn.h"
#include "handlers.h"
#include "locks.h"
#include "node.h"
#include "oplog.h"
#include "pace.h"
#include "settings.h"
#include "ship.h"
#include "sysrec.h"
#include "wire.h"

/*
 * Log records read, split and shipped per round (all lanes together), and
 * the data a round holds at most (two are in memory at a time)
 */
#define RIG_SHIP_BATCH		1000
#define RIG_SHIP_BATCH_BYTES	(16 * 1024 * 1024)

/* A batch uses another connection only for this many more records */
#define RIG_LANE_MIN_OPS	50

/* The connections to one peer, opened when a batch first needs them */
typedef struct RigLanes
{
	const char *peer;
	const char *conninfo;
	int			n;
	RigConn   **conn;			/* NULL until opened */
} RigLanes;

/* One round: records read from the log, split into lanes */
typedef struct RigShipBatch
{
	MemoryContext cxt;			/* everything below lives here */
	RigLogRecord *recs;
	int			nrecs;
	bool		limited;		/* a bound cut it: more may follow */
	RigWireOp **lane_ops;		/* per lane: its ops, in version order */
	int		   *lane_n;
} RigShipBatch;

/* Resource hash -> the op that last named it (for the union-find) */
typedef struct RigHashOwner
{
	uint64		hash;
	int			op;
} RigHashOwner;

static int	rig_find(int *parent, int i);
static void rig_hash_resources(RigShipBatch *b);
static void rig_union_resources(RigShipBatch *b, int *parent);
static void rig_union_transactions(RigShipBatch *b, int *parent);
static int	rig_cmp_set_size(const void *a, const void *b, void *arg);
static void rig_split_batch(RigShipBatch *b, int nlanes);
static void rig_cut_at_system_record(RigShipBatch *b);
static bool rig_read_batch(RigShipBatch *b, int64 after, int64 upto, int nlanes);
static int64 rig_batch_bytes(RigShipBatch *b);
static void rig_send_batch(RigShipBatch *b, RigLanes *lanes);
static void rig_wait_batch(RigShipBatch *b, RigLanes *lanes);
static RigConn *rig_lane(RigLanes *lanes, int lane);
static void rig_close_lanes(RigLanes *lanes, int first);

/* Root of op i's set, halving the path on the way. */
static int
rig_find(int *parent, int i)
{
	while (parent[i] != i)
	{
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

/*
 * Ask each op's resources handler for its lock hashes: they are sent with
 * the op (the peer locks them as they are) and tell which ops conflict.
 */
static void
rig_hash_resources(RigShipBatch *b)
{
	for (int i = 0; i < b->nrecs; i++)
	{
		RigLogRecord *r = &b->recs[i];
		RigHandler *handler = rig_lookup_handler(r->method);

		/* an unknown method fails on the peer, with the peer's message */
		r->locks = NULL;
		r->nlocks = handler ? rig_resource_hashes(handler, r->jdata, &r->locks) : -1;
	}
}

/* Join the sets of ops that name a common resource. */
static void
rig_union_resources(RigShipBatch *b, int *parent)
{
	HASHCTL		ctl;
	HTAB	   *owners;

	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(RigHashOwner);
	ctl.hcxt = CurrentMemoryContext;
	owners = hash_create("rig ship resources", b->nrecs * 2, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < b->nrecs; i++)
	{
		for (int h = 0; h < b->recs[i].nlocks; h++)
		{
			bool		found;
			RigHashOwner *o = hash_search(owners, &b->recs[i].locks[h], HASH_ENTER, &found);

			if (found)
				parent[rig_find(parent, i)] = rig_find(parent, o->op);
			o->op = i;
		}
	}
	hash_destroy(owners);
}

/*
 * Join every op of the transactions across nodes (rig.transaction.*):
 * they depend on each other through rig.transactions in ways their
 * resources cannot name (an event on its start, whose resource would be
 * its own version; a prune on the events that ended what it removes).
 */
static void
rig_union_transactions(RigShipBatch *b, int *parent)
{
	int			first = -1;

	for (int i = 0; i < b->nrecs; i++)
	{
		if (strncmp(b->recs[i].method, "rig.transaction.", 16) != 0)
			continue;
		if (first < 0)
			first = i;
		else
			parent[rig_find(parent, i)] = rig_find(parent, first);
	}
}

/* qsort_arg comparator: set roots by the size of their set, biggest first. */
static int
rig_cmp_set_size(const void *a, const void *b, void *arg)
{
	const int  *size = arg;

	return size[*(const int *) b] - size[*(const int *) a];
}

/*
 * Split the batch into lanes: ops that share a resource (transitively) go
 * to one lane, in version order; the sets are dealt biggest first, each to
 * the least loaded lane.
 */
static void
rig_split_batch(RigShipBatch *b, int nlanes)
{
	int		   *parent = palloc(sizeof(int) * b->nrecs);
	int		   *size = palloc0(sizeof(int) * b->nrecs);
	int		   *roots = palloc(sizeof(int) * b->nrecs);
	int		   *lane_of = palloc(sizeof(int) * b->nrecs);
	int		   *load = palloc0(sizeof(int) * nlanes);
	int			nroots = 0;

	for (int i = 0; i < b->nrecs; i++)
		parent[i] = i;
	if (nlanes > 1)
	{
		rig_union_resources(b, parent);
		rig_union_transactions(b, parent);
	}
	for (int i = 0; i < b->nrecs; i++)
	{
		parent[i] = rig_find(parent, i);
		if (size[parent[i]]++ == 0)
			roots[nroots++] = parent[i];
	}
	qsort_arg(roots, nroots, sizeof(int), rig_cmp_set_size, size);
	for (int r = 0; r < nroots; r++)
	{
		int			light = 0;

		for (int l = 1; l < nlanes; l++)
			if (load[l] < load[light])
				light = l;
		lane_of[roots[r]] = light;
		load[light] += size[roots[r]];
	}

	for (int l = 0; l < nlanes; l++)
	{
		b->lane_ops[l] = palloc(sizeof(RigWireOp) * Max(load[l], 1));
		b->lane_n[l] = 0;
	}
	for (int i = 0; i < b->nrecs; i++)
	{
		int			l = lane_of[parent[i]];
		RigLogRecord *r = &b->recs[i];

		rig_wire_op_init(&b->lane_ops[l][b->lane_n[l]++], rig_node_name(),
						 rig_node_epoch(), r->version, r->epoch, r->method,
						 r->data, r->idem_key, r->op_time, r->origin,
						 r->locks, r->nlocks);
	}
}

/*
 * A handler or schema change is a barrier: it travels in a batch of its
 * own, so the peer commits every older op before it and applies no newer
 * op until it committed (the next batch starts after it).
 */
static void
rig_cut_at_system_record(RigShipBatch *b)
{
	for (int i = 0; i < b->nrecs; i++)
	{
		if (!rig_is_system_method(b->recs[i].method))
			continue;
		b->nrecs = Max(i, 1);
		b->limited = true;
		return;
	}
}

/* Read the next batch and split it; false when there is nothing to ship. */
static bool
rig_read_batch(RigShipBatch *b, int64 after, int64 upto, int nlanes)
{
	MemoryContext old;

	MemoryContextReset(b->cxt);
	old = MemoryContextSwitchTo(b->cxt);
	b->recs = palloc(sizeof(RigLogRecord) * RIG_SHIP_BATCH);
	b->nrecs = rig_log_read(after, upto, RIG_SHIP_BATCH, RIG_SHIP_BATCH_BYTES,
							b->recs, &b->limited);
	b->lane_ops = palloc0(sizeof(RigWireOp *) * nlanes);
	b->lane_n = palloc0(sizeof(int) * nlanes);
	rig_cut_at_system_record(b);
	if (b->nrecs > 0)
	{
		rig_hash_resources(b);
		rig_split_batch(b, Max(1, Min(nlanes, b->nrecs / RIG_LANE_MIN_OPS)));
	}
	MemoryContextSwitchTo(old);
	return b->nrecs > 0;
}

/* The bytes a batch sends, about: what a pace counts. */
static int64
rig_batch_bytes(RigShipBatch *b)
{
	int64		bytes = 0;

	for (int i = 0; i < b->nrecs; i++)
		bytes += strlen(b->recs[i].data) + strlen(b->recs[i].method) +
			(b->recs[i].idem_key ? strlen(b->recs[i].idem_key) : 0);
	return bytes;
}

/* Queue each lane's part of the batch as one transaction and start sending. */
static void
rig_send_batch(RigShipBatch *b, RigLanes *lanes)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);

	for (int l = 0; l < lanes->n; l++)
	{
		RigConn    *rc;

		if (b->lane_n[l] == 0)
			continue;
		rc = rig_lane(lanes, l);
		if (!rig_send_ops(rc, b->lane_ops[l], b->lane_n[l], "COMMIT", deadline))
			rig_ops_failed(rc, NULL, true, "take the log records");
	}
}

/* Wait until every lane committed its part (or throw the first failure). */
static void
rig_wait_batch(RigShipBatch *b, RigLanes *lanes)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);

	for (int l = 0; l < lanes->n; l++)
	{
		PGresult   *err;
		bool		timed_out;

		if (b->lane_n[l] == 0)
			continue;
		if (!rig_read_ops(lanes->conn[l], deadline, true, &err, &timed_out))
			rig_ops_failed(lanes->conn[l], err, timed_out, "apply the log records");
	}
}

/*
 * Connection number lane to the peer, opened if needed: lane 0 is the
 * peer's usual cached connection, the others are cached as "<peer>#<lane>".
 */
static RigConn *
rig_lane(RigLanes *lanes, int lane)
{
	char		key[RIG_CONN_KEYLEN];
	char	   *err;

	if (lanes->conn[lane] != NULL)
		return lanes->conn[lane];
	if (lane == 0)
		return lanes->conn[0] = rig_conn_get(lanes->peer, lanes->conninfo,
											 rig_deadline(rig_sync_timeout));
	snprintf(key, sizeof(key), "%s#%d", lanes->peer, lane);
	lanes->conn[lane] = rig_conn_try_get(key, lanes->conninfo,
										 rig_deadline(rig_sync_timeout), &err);
	if (lanes->conn[lane] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not open catch-up connection %d of %d to peer \"%s\"",
						lane + 1, lanes->n, lanes->peer),
				 errdetail_internal("%s", err),
				 errhint("Lower rig.catchup_connections, or raise max_connections on the peer.")));
	return lanes->conn[lane];
}

/* Close the lanes from number first on (all on an error: pipelines may be half read). */
static void
rig_close_lanes(RigLanes *lanes, int first)
{
	for (int l = first; l < lanes->n; l++)
		if (lanes->conn[l] != NULL)
			rig_conn_discard(lanes->conn[l]);
}

/*
 * Ship committed log records with after < version <= upto (upto < 0: no
 * bound) to a peer.  Each batch is read with a fresh snapshot, so a tail
 * shipped under the commit gate sees every commit that finished before the
 * gate was taken.  Returns the last version shipped (after, when there was
 * nothing).  The extra lanes are closed at the end; on an error every lane
 * is, since its pipeline may be half read.  With a pace (NULL: none), a
 * batch goes only once the last one's bytes at its rate have passed; the
 * caller then must hold nothing a writer waits for.  *bytes (unless NULL)
 * gets about how many bytes of records it sent.
 */
int64
rig_ship_log(const char *peer, const char *conninfo, int64 after, int64 upto,
			 RigPace *pace, int64 *bytes)
{
	volatile int64 shipped = after;
	RigLanes	lanes;
	RigShipBatch batch[2];
	volatile int cur = 0;

	if (bytes != NULL)
		*bytes = 0;
	lanes.peer = peer;
	lanes.conninfo = conninfo;
	lanes.n = Max(rig_catchup_connections, 1);
	lanes.conn = palloc0(sizeof(RigConn *) * lanes.n);
	for (int i = 0; i < 2; i++)
		batch[i].cxt = AllocSetContextCreate(CurrentMemoryContext, "rig ship batch",
											 ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		if (rig_read_batch(&batch[cur], shipped, upto, lanes.n))
		{
			for (;;)
			{
				RigShipBatch *b = &batch[cur];
				RigShipBatch *next = &batch[1 - cur];
				bool		more;

				CHECK_FOR_INTERRUPTS();
				if (pace != NULL || bytes != NULL)
				{
					int64		n = rig_batch_bytes(b);

					if (pace != NULL)
					{
						rig_pace_wait(pace);
						rig_pace_sent(pace, n);
					}
					if (bytes != NULL)
						*bytes += n;
				}
				rig_send_batch(b, &lanes);
				/* read the next batch while the peer applies this one */
				more = b->limited &&
					rig_read_batch(next, b->recs[b->nrecs - 1].version, upto, lanes.n);
				rig_wait_batch(b, &lanes);
				shipped = b->recs[b->nrecs - 1].version;
				if (!more)
					break;
				cur = 1 - cur;
			}
		}
	}
	PG_CATCH();
	{
		rig_close_lanes(&lanes, 0);
		PG_RE_THROW();
	}
	PG_END_TRY();

	rig_close_lanes(&lanes, 1);
	for (int i = 0; i < 2; i++)
		MemoryContextDelete(batch[i].cxt);
	pfree(lanes.conn);
	return shipped;
}
