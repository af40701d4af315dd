/*-------------------------------------------------------------------------
 *
 * replica.c
 *	  The replica side of a transaction: rig_apply_remote(),
 *	  rig_confirm_remote() and rig_become_replica().
 *
 * A replica applies its primary's operations exactly as the primary did:
 * the same resource locks in the same order, then the identical rig.log
 * row, then the apply handler with a snapshot taken after the locks, so an
 * op that depends on an earlier one still prepared here waits for it.  It
 * accepts operations only from the primary it follows, in that primary's
 * epoch, and only from roles granted rig_replication.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/replica.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"

#include "apply.h"
#include "catalog.h"
#include "conn.h"
#include "handlers.h"
#include "keys.h"
#include "locks.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "replica.h"
#include "settings.h"
#include "shmem.h"
#include "sysrec.h"
#include "watermark.h"
#include "wire.h"
#include "xact.h"

static void rig_check_sender(const char *sender, int64 sender_epoch);
static void rig_record_epochs(Jsonb *epochs);
static void rig_forget_peers(void);
static void rig_check_superseded(const char *primary, int64 epoch);
static void rig_apply_system_op(int64 version, int64 epoch, const char *method,
								Jsonb *data, TimestampTz op_time,
								const char *origin);

PG_FUNCTION_INFO_V1(rig_apply_remote);
PG_FUNCTION_INFO_V1(rig_confirm_remote);
PG_FUNCTION_INFO_V1(rig_become_replica);

/* Only this replica's primary, in its current epoch, may send operations. */
static void
rig_check_sender(const char *sender, int64 sender_epoch)
{
	const char *primary;
	int64		epoch = rig_node_epoch();

	/*
	 * First: a sender from an older epoch was superseded by a promotion,
	 * whatever this node is now.  RG001 tells it to stop writing (fencing);
	 * the message names the primary of this node's epoch.
	 */
	if (sender_epoch < epoch)
	{
		const char *role = rig_node_role();
		const char *current = (strcmp(role, "primary") == 0 ||
							   strcmp(role, "promoting") == 0) ?
			rig_node_name() : rig_node_primary_name();

		ereport(ERROR,
				(errcode(ERRCODE_RIG_STALE_EPOCH),
				 errmsg("node \"%s\" is in epoch " INT64_FORMAT " whose primary is \"%s\": operations from \"%s\" in epoch " INT64_FORMAT " are refused",
						rig_node_name(), epoch, current ? current : "?",
						rig_name_for_message(sender), sender_epoch),
				 errdetail("The sender was superseded by a promotion and must stop writing."),
				 errhint("Send writes to \"%s\"; the old primary rejoins with rig_add_peer() on it.",
						 current ? current : "?")));
	}
	if (!rig_node_is_replica())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" is not a replica and accepts no operations from \"%s\"",
						rig_node_name(), rig_name_for_message(sender)),
				 errhint("A primary makes a node its replica with rig_add_peer().")));
	primary = rig_node_primary_name();
	if (primary == NULL || strcmp(primary, sender) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" accepts operations only from its primary \"%s\", not from \"%s\"",
						rig_node_name(), primary ? primary : "?",
						rig_name_for_message(sender))));
	if (sender_epoch != epoch)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("operation from \"%s\" carries epoch " INT64_FORMAT ", but this replica is in epoch " INT64_FORMAT,
						rig_name_for_message(sender), sender_epoch, epoch),
				 errdetail("This replica has not seen the sender's promotion."),
				 errhint("Check which node is the primary (rig.status on each node).")));
}

/*
 * SQL: apply one of the primary's ops here with its version and op_time,
 * writing the identical log row, under the resource locks the primary
 * sent (or, without them, the ones the resources handler names here).
 */
Datum
rig_apply_remote(PG_FUNCTION_ARGS)
{
	char	   *sender;
	int64		version;
	int64		epoch;
	char	   *method;
	Jsonb	   *data;
	text	   *key;
	TimestampTz op_time;
	char	   *origin;
	uint64	   *locks = NULL;
	int			nlocks;

	for (int i = 0; i < 9; i++)
		if (PG_ARGISNULL(i) && i != 6)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of rig_apply_remote() must not be NULL", i + 1)));
	if (PG_GETARG_INT64(2) < 1 || PG_GETARG_INT64(3) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version and epoch of an operation must be positive"),
				 errdetail("rig_apply_remote() got version " INT64_FORMAT " and epoch " INT64_FORMAT ".",
						   PG_GETARG_INT64(2), PG_GETARG_INT64(3))));
	sender = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rig_check_sender(sender, PG_GETARG_INT64(1));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_apply_remote() requires the READ COMMITTED isolation level")));

	version = PG_GETARG_INT64(2);
	epoch = PG_GETARG_INT64(3);
	method = text_to_cstring(PG_GETARG_TEXT_PP(4));
	data = PG_GETARG_JSONB_P(5);
	key = PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6);
	op_time = PG_GETARG_TIMESTAMPTZ(7);
	origin = text_to_cstring(PG_GETARG_TEXT_PP(8));
	nlocks = PG_NARGS() > 9 && !PG_ARGISNULL(9) ?
		rig_wire_decode_locks(PG_GETARG_ARRAYTYPE_P(9), &locks) : -1;
	if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
		rig_xact_note_confirmed(PG_GETARG_INT64(10));

	rig_apply_op(version, epoch, method, data, key, op_time, origin, locks, nlocks);
	PG_RETURN_VOID();
}

/*
 * SQL (called by this replica's primary): this node holds every version up
 * to confirmed; its watermark may rise that far once this transaction
 * commits.
 */
Datum
rig_confirm_remote(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of rig_confirm_remote() must not be NULL")));
	rig_check_sender(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_INT64(1));
	rig_xact_note_confirmed(PG_GETARG_INT64(2));
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		rig_xact_note_contact(rig_peer_parse_mode(text_to_cstring(PG_GETARG_TEXT_PP(3))));
	PG_RETURN_VOID();
}

/*
 * Apply one of the primary's ops on this replica (or follower): the same
 * locks, the identical log row, the apply handler after the locks.  A
 * version this node already has is skipped (catch-up may resend it).  The
 * locks are the hashes the primary sent, sorted; nlocks < 0: ask the
 * method's resources handler here.
 */
void
rig_apply_op(int64 version, int64 epoch, const char *method, Jsonb *data,
			 text *key, TimestampTz op_time, const char *origin,
			 const uint64 *locks, int nlocks)
{
	RigHandler *handler;
	uint64	   *own_locks = NULL;
	int			settings_level;

	/*
	 * A version above all this node has prepared or committed cannot be
	 * here yet.  (One committed a moment ago, before its COMMIT callback
	 * raised last_assigned, is applied again and fails on rig.log's key.)
	 */
	if (version <= rig_last_assigned() && rig_log_has_version(version))
		return;
	/* below what this node compacted: it was here (applying it again would double it) */
	if (version < rig_node_compacted_below())
		return;

	if (rig_is_system_method(method))
	{
		rig_apply_system_op(version, epoch, method, data, op_time, origin);
		return;
	}

	/* after the last handler or schema change before this op (locks.c) */
	rig_lock_barrier(false);
	/* one search_path switch for the op's handlers */
	settings_level = rig_handler_settings_push();
	handler = rig_lookup_handler(method);
	if (handler == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("method \"%s\" is not registered on replica \"%s\"",
						rig_name_for_message(method), rig_node_name()),
				 errhint("Load the same handlers on every node.")));
	rig_check_handler_private(handler);

	if (nlocks < 0)
		nlocks = rig_resource_hashes(handler, data, &own_locks);
	rig_lock_hashes(own_locks ? own_locks : locks, nlocks);
	/* last_assigned moves when the transaction prepares or commits (xact.c) */
	rig_xact_register_op(version, epoch, method, data, key, op_time, origin,
						 own_locks ? own_locks : locks, nlocks, true);
	rig_log_append(version, epoch, method, data, key, op_time, origin);
	if (key != NULL)
		rig_key_record(key, version, method, data, op_time);
	rig_call_apply(handler, version, op_time, data);
	rig_handler_settings_pop(settings_level);
}

/*
 * Apply one of rig's own records (a handler or schema change) from the
 * primary: the barrier exclusively within rig.ddl_timeout, so no op of
 * this node runs beside it, then the identical log row, then the change
 * itself as rig.ddl_role (sysrec.c).
 */
static void
rig_apply_system_op(int64 version, int64 epoch, const char *method,
					Jsonb *data, TimestampTz op_time, const char *origin)
{
	int			nest = rig_sysrec_timeout_push();

	rig_lock_barrier(true);
	rig_xact_register_op(version, epoch, method, data, NULL, op_time, origin,
						 NULL, 0, true);
	rig_log_append(version, epoch, method, data, NULL, op_time, origin);
	rig_apply_system(method, data, true);
	rig_sysrec_timeout_pop(nest);
}

/*
 * Record one of the primary's ops on this replica without applying it: a
 * snapshot loaded here (bootstrap.c) already holds its effects.  The same
 * log row and key as rig_apply_op writes; last_assigned moves at commit.
 */
void
rig_record_op(int64 version, int64 epoch, const char *method, Jsonb *data,
			  text *key, TimestampTz op_time, const char *origin)
{
	if (rig_log_has_version(version))
		return;
	rig_xact_register_op(version, epoch, method, data, key, op_time, origin,
						 NULL, 0, true);
	rig_log_append(version, epoch, method, data, key, op_time, origin);
	if (key != NULL)
		rig_key_record(key, version, method, data, op_time);
}

/*
 * SQL (called by a primary's rig_add_peer): follow that primary, in its
 * epoch, and record its history of epochs.
 */
Datum
rig_become_replica(PG_FUNCTION_ARGS)
{
	rig_check_database();
	rig_set_replica_of(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_INT64(1),
					   PG_NARGS() > 2 ? PG_GETARG_JSONB_P(2) : NULL);
	/* a follower (after rig_switchover) pulls no more: its primary pushes */
	SPI_connect();
	if (rig_spi_as_owner("follow_source", "DELETE FROM rig.follow_source",
						 0, NULL, NULL, NULL) != SPI_OK_DELETE)
		elog(ERROR, "could not update rig.follow_source");
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Follow primary from now on, in its epoch: allowed on an empty standalone
 * node, again on a replica of the same primary, and on a node of an older
 * epoch (an old primary, or a replica of one), which the new primary let
 * rejoin after it compared their histories (peer.c).  Never for an older
 * epoch than this node's own: that primary was superseded.  A rejoining
 * old primary forgets its own peers (they are the new primary's to add).
 * epochs (NULL: none): the primary's rig.epochs, as a JSON array of
 * {epoch, first_version, node}; a pair that contradicts this node's is refused.
 */
void
rig_set_replica_of(const char *primary, int64 epoch, Jsonb *epochs)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2] = {CStringGetTextDatum(primary), Int64GetDatum(epoch)};
	bool		newer;

	/* one change of role at a time, checked against what the last one left */
	rig_node_lock();
	newer = epoch > rig_node_epoch();

	if (epoch < rig_node_epoch())
		ereport(ERROR,
				(errcode(ERRCODE_RIG_STALE_EPOCH),
				 errmsg("node \"%s\" is in epoch " INT64_FORMAT " and cannot follow \"%s\" of epoch " INT64_FORMAT,
						rig_node_name(), rig_node_epoch(), rig_name_for_message(primary), epoch),
				 errdetail("\"%s\" was superseded by a promotion.", rig_name_for_message(primary))));
	if (rig_node_is_replica())
	{
		if (strcmp(rig_node_primary_name(), primary) != 0 && !newer)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("node \"%s\" is already a replica of \"%s\"",
							rig_node_name(), rig_node_primary_name())));
	}
	else if ((rig_log_last_version() > 0 || rig_peer_list() != NIL) && !newer)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is a primary with its own log or peers", rig_node_name()),
				 errhint("Only an empty node can become a replica.")));

	/* a primary with its own log or peers is demoted only when it is proved superseded */
	if (newer && !rig_node_is_replica() &&
		(rig_log_last_version() > 0 || rig_peer_list() != NIL))
		rig_check_superseded(primary, epoch);
	if (epochs != NULL)
		rig_record_epochs(epochs);
	if (newer && !rig_node_is_replica() && rig_peer_list() != NIL)
		rig_forget_peers();
	rig_node_update("UPDATE rig.node SET role = 'replica', primary_name = $1, epoch = $2",
					2, types, args);
}

/*
 * A primary told to follow a node of a newer epoch does not take the
 * caller's word for it (any member of rig_replication may call
 * rig_become_replica): either it is fenced already (a peer of its own
 * refused it, or was found in a newer epoch), or it asks the claimed
 * primary itself, over the conninfo its own rig.peers holds for it.
 */
static void
rig_check_superseded(const char *primary, int64 epoch)
{
	RigFenceInfo f;
	TimestampTz deadline;
	RigConn    *rc;
	PGresult   *res;
	bool		confirmed;
	RigPeer    *p;

	if (rig_node_fenced(&f) && (f.primary[0] == '\0' || strcmp(f.primary, primary) == 0))
		return;
	if ((p = rig_peer_find(primary)) != NULL)
	{
		deadline = rig_deadline(rig_sync_timeout);
		rc = rig_conn_get(p->name, p->conninfo, deadline);
		res = rig_conn_query(rc, "SELECT node_name, role, epoch FROM pg_catalog.rig_node_info()",
							 0, NULL, deadline);
		confirmed = strcmp(PQgetvalue(res, 0, 0), primary) == 0 &&
			strcmp(PQgetvalue(res, 0, 1), "primary") == 0 &&
			strtoi64(PQgetvalue(res, 0, 2), NULL, 10) == epoch;
		PQclear(res);
		if (confirmed)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("primary \"%s\" will not follow \"%s\" of epoch " INT64_FORMAT ": it cannot confirm that node is the primary of that epoch",
					rig_node_name(), rig_name_for_message(primary), epoch),
			 errdetail("A primary becomes another node's replica only once it is fenced, or once a peer of its own confirms it is the new primary."),
			 errhint("Let this node learn of the promotion (its next commit or its worker's next round fences it), then run rig_add_peer() on the new primary again.")));
}

/*
 * Record the primary's epochs this node lacks; one that began at another
 * version here means the histories forked.
 */
static void
rig_record_epochs(Jsonb *epochs)
{
	Oid			types[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(epochs)};

	SPI_connect();
	if (rig_spi_as_owner("epochs",
						 "SELECT e.epoch, e.first_version, x.first_version "
						 "FROM jsonb_to_recordset($1) AS e(epoch bigint, first_version bigint) "
						 "JOIN rig.epochs x USING (epoch) WHERE x.first_version <> e.first_version",
						 1, types, args, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.epochs");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("epoch %s began at version %s on the primary but at version %s on node \"%s\"",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3),
						rig_node_name()),
				 errdetail("The two nodes' histories forked.")));
	if (rig_spi_as_owner("epochs",
						 "INSERT INTO rig.epochs (epoch, first_version, node) "
						 "SELECT e.epoch, e.first_version, e.node "
						 "FROM jsonb_to_recordset($1) AS e(epoch bigint, first_version bigint, node text) "
						 "ON CONFLICT (epoch) DO NOTHING",
						 1, types, args, NULL) != SPI_OK_INSERT)
		elog(ERROR, "could not record epochs");
	SPI_finish();
}

/* A rejoining old primary's peers are the new primary's to add. */
static void
rig_forget_peers(void)
{
	SPI_connect();
	if (rig_spi_as_owner("peers", "DELETE FROM rig.peers", 0, NULL, NULL, NULL) != SPI_OK_DELETE)
		elog(ERROR, "could not forget peers");
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("peers"));
}

