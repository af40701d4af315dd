/*-------------------------------------------------------------------------
 *
 * bootstrap.c
 *	  Bringing up an empty peer whose needed log records were compacted:
 *	  the latest stored snapshot (snapshot.c) is copied to it chunk by
 *	  chunk, checked there, and the log after it is shipped as usual.
 *	  This is the primary's side; the new node's is bootload.c.
 *
 * The primary (rig_add_peer, peer.c) drives: it plans the bootstrap and
 * makes every check it can before the new node follows it
 * (rig_bootstrap_plan), has the new node begin the snapshot in the
 * transaction that makes it a replica (rig_bootstrap_begin_remote), then
 * sends the chunks, the records of the later versions the snapshot
 * includes, and asks the new node to check the state hash
 * (rig_bootstrap_peer).  A kill -9 of either side loses at most the chunk
 * in flight: the next rig_add_peer asks the new node where it stands and
 * goes on from its next chunk (the same snapshot), or starts again (a
 * newer one).  The primary holds the snapshot's row FOR KEY SHARE
 * meanwhile, so that rig_compact keeps it and the log after it.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/bootstrap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"

#include "bootload.h"
#include "bootstrap.h"
#include "catalog.h"
#include "conn.h"
#include "node.h"
#include "pace.h"
#include "settings.h"
#include "snapshot.h"

/* The new node's answer to rig_bootstrap_state() */
typedef struct RigPeerBoot
{
	int64		snapshot_id;	/* 0: none */
	bool		complete;
	int			next_chunk;
	int64		last_version;
	int64		compacted_below;
} RigPeerBoot;

/* One chunk read here, as the parameters of rig_bootstrap_chunk() */
typedef struct RigBootChunk
{
	char	   *params[6];
} RigBootChunk;

static void rig_peer_boot_state(RigConn *rc, RigPeerBoot *st);
static void rig_boot_read_chunk(RigSnapshotInfo *snap, int chunk, RigBootChunk *out);
static void rig_boot_free_chunk(RigBootChunk *ch);
static int64 rig_boot_chunk_bytes(RigBootChunk *ch);
static void rig_boot_send_chunks(RigConn *rc, RigSnapshotInfo *snap, int next);
static void rig_boot_send_records(RigConn *rc, RigSnapshotInfo *snap);
static void rig_boot_check_own_state(const char *name, RigSnapshotInfo *snap);

/* Ask the new node where its bootstrap stands. */
static void
rig_peer_boot_state(RigConn *rc, RigPeerBoot *st)
{
	PGresult   *res = rig_conn_query(rc, "SELECT coalesce(snapshot_id, 0), complete, next_chunk, "
									 "last_version, compacted_below FROM pg_catalog.rig_bootstrap_state()",
									 0, NULL, rig_deadline(rig_sync_timeout));

	st->snapshot_id = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
	st->complete = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	st->next_chunk = atoi(PQgetvalue(res, 0, 2));
	st->last_version = strtoi64(PQgetvalue(res, 0, 3), NULL, 10);
	st->compacted_below = strtoi64(PQgetvalue(res, 0, 4), NULL, 10);
	PQclear(res);
}

/* Read one chunk of the snapshot from this node's rig.snapshot_chunks, into out. */
static void
rig_boot_read_chunk(RigSnapshotInfo *snap, int chunk, RigBootChunk *out)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(snap->id), Int32GetDatum(chunk)};
	MemoryContext cxt = CurrentMemoryContext;

	SPI_connect();
	if (rig_spi_as_owner("snapshot_chunks",
						 "SELECT relation, nrows, rows::text, checksum FROM rig.snapshot_chunks "
						 "WHERE snapshot_id = $1 AND chunk = $2",
						 2, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshot_chunks");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("chunk %d of snapshot " INT64_FORMAT " is missing on node \"%s\"",
						chunk, snap->id, rig_node_name())));
	out->params[0] = MemoryContextStrdup(cxt, psprintf(INT64_FORMAT, snap->id));
	out->params[1] = MemoryContextStrdup(cxt, psprintf("%d", chunk));
	for (int i = 0; i < 4; i++)
		out->params[2 + i] = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, i + 1));
	SPI_finish();
}

/* Free a chunk read by rig_boot_read_chunk. */
static void
rig_boot_free_chunk(RigBootChunk *ch)
{
	for (int i = 0; i < 6; i++)
		pfree(ch->params[i]);
}

/* The bytes a chunk sends: what rig.bootstrap_max_rate counts. */
static int64
rig_boot_chunk_bytes(RigBootChunk *ch)
{
	int64		bytes = 0;

	for (int i = 0; i < 6; i++)
		bytes += strlen(ch->params[i]);
	return bytes;
}

/*
 * Send the chunks from next on, one transaction each on the new node; the
 * next chunk is read here while the new node loads the one sent (the two
 * overlap), and the fault point comes once a chunk is committed there.
 * Between two chunks (none in flight, no lock a writer needs held: the
 * commit gate comes after the bootstrap) it keeps rig.bootstrap_max_rate.
 * An error while a chunk is in flight drops the connection (its result
 * would be read by the next query).
 */
static void
rig_boot_send_chunks(RigConn *rc, RigSnapshotInfo *snap, int next)
{
	RigBootChunk cur;
	RigBootChunk ahead;
	RigPace		pace;

	if (next >= snap->chunks)
		return;
	rig_boot_read_chunk(snap, next, &cur);
	rig_pace_start(&pace, &rig_bootstrap_max_rate);
	for (int c = next; c < snap->chunks; c++)
	{
		TimestampTz deadline;

		CHECK_FOR_INTERRUPTS();
		if (c > next)
		{
			rig_fault("bootstrap_between_chunks", true);
			rig_pace_wait(&pace);
		}
		rig_pace_sent(&pace, rig_boot_chunk_bytes(&cur));
		deadline = rig_deadline(rig_sync_timeout);
		rig_conn_query_send(rc, "SELECT pg_catalog.rig_bootstrap_chunk($1, $2, $3, $4, $5, $6)",
					  6, (const char *const *) cur.params, deadline);
		if (c + 1 < snap->chunks)
		{
			PG_TRY();
			{
				rig_boot_read_chunk(snap, c + 1, &ahead);
			}
			PG_CATCH();
			{
				rig_conn_discard(rc);
				PG_RE_THROW();
			}
			PG_END_TRY();
		}
		PQclear(rig_conn_query_wait(rc, deadline));
		rig_boot_free_chunk(&cur);
		if (c + 1 < snap->chunks)
			cur = ahead;
	}
}

/* Record on the new node the later versions the snapshot includes. */
static void
rig_boot_send_records(RigConn *rc, RigSnapshotInfo *snap)
{
	for (int i = 0; i < snap->nincluded; i++)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(snap->included[i])};
		const char *params[7];

		CHECK_FOR_INTERRUPTS();
		SPI_connect();
		if (rig_spi_as_owner("log",
							 "SELECT version, epoch, method, data::text, idempotency_key, "
							 "to_char(op_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), origin "
							 "FROM rig.log WHERE version = $1",
							 1, types, values, NULL) != SPI_OK_SELECT)
			elog(ERROR, "could not read rig.log");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("version " INT64_FORMAT " of snapshot " INT64_FORMAT " is no longer in rig.log",
							snap->included[i], snap->id)));
		for (int c = 0; c < 7; c++)
			params[c] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1);
		PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_bootstrap_record($1, $2, $3, $4, $5, $6, $7)",
							   7, params, rig_deadline(rig_sync_timeout)));
		SPI_finish();
	}
}

/*
 * Called by rig_add_peer before the peer follows us: decide whether it is
 * to be bootstrapped from the latest snapshot (it is empty and needs
 * compacted records, or is in the middle of a bootstrap) and make every
 * check this node can, so that a refusal leaves the peer as it was.
 * Without a load, plan->start is where shipping starts.
 */
void
rig_bootstrap_plan(RigConn *rc, const char *name, RigBootPlan *plan)
{
	RigPeerBoot st;
	int64		below = rig_node_compacted_below();
	PGresult   *res;

	memset(plan, 0, sizeof(*plan));
	/* a bootstrap starts only on a compacted log, and compaction never goes back */
	if (below <= 1)
		return;
	/* a peer whose SQL is still 1.0 cannot be bootstrapped: shipping says what it lacks */
	res = rig_conn_query(rc, "SELECT to_regprocedure('pg_catalog.rig_bootstrap_state()') IS NOT NULL",
						 0, NULL, rig_deadline(rig_sync_timeout));
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		PQclear(res);
		return;
	}
	PQclear(res);
	rig_peer_boot_state(rc, &st);
	if (st.snapshot_id != 0 && st.complete)
	{
		plan->start = Max(st.compacted_below - 1, 0);
		return;
	}
	if (st.snapshot_id == 0 && st.last_version > 0)
		return;

	if (!rig_snapshot_latest(&plan->snap, true))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add peer \"%s\": it is empty and the log here was compacted below version " INT64_FORMAT,
						name, below),
				 errdetail("The records it needs are gone and no snapshot holds their effects."),
				 errhint("Take a snapshot with rig_snapshot(), then add the peer again.")));
	if (plan->snap.watermark + 1 < below)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add peer \"%s\": snapshot " INT64_FORMAT " ends at version " INT64_FORMAT
						", but the log here was compacted below version " INT64_FORMAT,
						name, plan->snap.id, plan->snap.watermark, below),
				 errhint("Take a new snapshot with rig_snapshot(), then add the peer again.")));
	if (strcmp(rig_snapshot_fingerprint(), plan->snap.fingerprint) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot bootstrap peer \"%s\" from snapshot " INT64_FORMAT ": the handlers changed since it was taken",
						name, plan->snap.id),
				 errdetail("The log after the snapshot would be applied with other handlers than those that wrote it."),
				 errhint("Take a new snapshot with rig_snapshot(), then add the peer again.")));
	rig_boot_check_own_state(name, &plan->snap);
	plan->load = true;
	plan->next = st.snapshot_id == plan->snap.id ? st.next_chunk : 0;
}

/*
 * Record the planned snapshot on the new node, which checks there that it
 * can take it (rig_boot_fresh).  Sent in the remote transaction that makes
 * the node our replica, so that its refusal leaves it no replica.
 */
void
rig_bootstrap_begin_remote(RigConn *rc, RigBootPlan *plan)
{
	const char *params[1] = {plan->snap.json};

	PQclear(rig_conn_query(rc, "SELECT pg_catalog.rig_bootstrap_begin($1)",
						   1, params, rig_deadline(rig_sync_timeout)));
}

/*
 * Called by rig_add_peer once the peer is our replica (and, for a load,
 * has begun the snapshot): send it the planned snapshot's chunks and
 * records and have it check the state hash.  Returns the version up to
 * which it now holds the state, where shipping starts.
 */
int64
rig_bootstrap_peer(RigConn *rc, const char *name, RigBootPlan *plan)
{
	RigSnapshotInfo *snap = &plan->snap;
	PGresult   *res;
	char		id[32];
	const char *params[1] = {id};

	if (!plan->load)
		return plan->start;
	ereport(NOTICE,
			(errmsg("bootstrapping peer \"%s\" from snapshot " INT64_FORMAT " (every version up to " INT64_FORMAT
					" and %d later): %s at chunk %d of %d",
					name, snap->id, snap->watermark, snap->nincluded,
					plan->next > 0 ? "resuming" : "starting", plan->next, snap->chunks)));
	rig_boot_send_chunks(rc, snap, plan->next);
	rig_boot_send_records(rc, snap);
	rig_fault("bootstrap_before_finish", true);

	snprintf(id, sizeof(id), INT64_FORMAT, snap->id);
	/* hashing every state table takes as long as the state is large */
	res = rig_conn_query_long(rc, "SELECT pg_catalog.rig_bootstrap_finish($1)",
							  1, params, 0);
	PQclear(res);
	ereport(LOG,
			(errmsg("rig bootstrapped peer \"%s\" from snapshot " INT64_FORMAT ", state hash checked there",
					name, snap->id)));
	return snap->watermark;
}

/*
 * Refuse to bootstrap a peer from a snapshot taken before snapshots
 * carried rig's own tables, when its state would lack what rig's own ops
 * wrote: such a snapshot holds the registered tables only, not
 * rig.remote_nodes nor rig.transactions and rig.transaction_events, and
 * the new node records the ops it covers without applying them.  It would
 * know no branch node, and the first event op of a transaction the
 * snapshot covers failed there ("transaction N does not exist"): on a sync
 * peer that refused the coordinator's every record of it, the decision
 * and this node's branches with it, pass after pass, for good.
 */
static void
rig_boot_check_own_state(const char *name, RigSnapshotInfo *snap)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		covered = snap->nincluded > 0 ? snap->included[snap->nincluded - 1] : snap->watermark;
	char	   *what;

	if (snap->rig_state)
		return;
	values[0] = Int64GetDatum(Max(covered, snap->watermark));
	what = rig_boot_own_state_found("SELECT CASE WHEN EXISTS (SELECT 1 FROM rig.remote_nodes) "
									"  THEN 'a registered node (rig_add_node)' "
									"WHEN EXISTS (SELECT 1 FROM rig.transactions t WHERE t.id <= $1) "
									"  OR EXISTS (SELECT 1 FROM rig.log l WHERE l.version > $1 "
									"   AND l.method = 'rig.transaction.event' "
									"   AND (l.data->>'transaction')::bigint <= $1) "
									"  THEN 'a transaction across nodes it covers' END",
									1, types, values);
	if (what == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot bootstrap peer \"%s\" from snapshot " INT64_FORMAT ": this node has %s",
					name, snap->id, what),
			 errdetail("A snapshot holds the registered tables, not rig.remote_nodes, rig.transactions "
					   "or rig.transaction_events: the peer would know no branch node, and it would "
					   "refuse the later events of the transactions the snapshot covers."),
			 errhint("Take a new snapshot with rig_snapshot(), which carries them, and add the peer again.")));
}
