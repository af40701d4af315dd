/*-------------------------------------------------------------------------
 *
 * compact.c
 *	  Compaction of the log, and what it must keep: rig_compact() and the
 *	  followers' positions (rig_follower_ack()).
 *
 * rig_compact(before) removes final records below a version, but never one
 * that somebody may still need:
 *   - anything above the watermark, and the newest record;
 *   - anything a peer may lack: every version above its horizon (the
 *     highest version below which it is known to miss nothing; a peer not
 *     checked since this node started has horizon 0 and keeps everything);
 *   - anything a registered follower has not pulled yet, unless it is more
 *     than rig.follower_max_lag versions behind (a silent follower must not
 *     hold the log forever; it then learns that it needs a rebuild);
 *   - with state tables registered, anything above the latest snapshot's W
 *     (and without a snapshot, compaction is refused), and anything above
 *     the W of an older snapshot a running bootstrap or rebuild still reads;
 *   - anything at all while a rig_add_peer runs: it ships the new node
 *     records from where that node stands, which no horizon records yet.
 * When one of these holds compaction back, a NOTICE says which.  The bound
 * is recorded in rig.node.compacted_below, so that a reader asking for
 * removed records gets a clear error instead of a log with a hole.
 * Idempotency keys outlive their records: a key goes only once its record
 * is compacted away and it is older than rig.key_retention.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/compact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "compact.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "peerstate.h"
#include "settings.h"
#include "watermark.h"

/* The lowest version that must stay, and who needs it */
typedef struct RigKeep
{
	int64		bound;
	char		who[NAMEDATALEN + 16];
} RigKeep;

static void rig_keep(RigKeep *keep, int64 need, const char *kind, const char *name);
static void rig_keep_for_peers(RigKeep *keep);
static void rig_keep_for_followers(RigKeep *keep);
static void rig_keep_for_snapshots(RigKeep *keep, int64 before);
static bool rig_add_peer_running(void);
static uint64 rig_prune_keys(int64 below);

PG_FUNCTION_INFO_V1(rig_compact);
PG_FUNCTION_INFO_V1(rig_follower_ack);

/* Lower the bound to need, remembering who needs it. */
static void
rig_keep(RigKeep *keep, int64 need, const char *kind, const char *name)
{
	if (need >= keep->bound)
		return;
	keep->bound = need;
	snprintf(keep->who, sizeof(keep->who), "%s \"%s\"", kind, name);
}

/* Each peer needs every version above its horizon. */
static void
rig_keep_for_peers(RigKeep *keep)
{
	ListCell   *lc;

	foreach(lc, rig_peer_list())
	{
		RigPeer    *peer = lfirst(lc);

		rig_keep(keep, rig_peer_get_horizon(peer->name) + 1, "peer", peer->name);
	}
}

/* Each registered follower needs what it has not pulled, within the cap. */
static void
rig_keep_for_followers(RigKeep *keep)
{
	int64		last = rig_log_last_version();

	SPI_connect();
	if (SPI_execute("SELECT name, acked_version FROM rig.followers", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.followers");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2, &isnull));

		if (rig_follower_max_lag >= 0 && last - position > rig_follower_max_lag)
			continue;
		rig_keep(keep, position + 1, "follower",
				 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	SPI_finish();
}

/*
 * With state tables registered, only records whose effects the latest
 * snapshot holds may go (a new node and rig_rebuild start from it); with
 * none, compaction is refused.  Older snapshots go, unless a running
 * bootstrap or rebuild holds one (FOR KEY SHARE, bootstrap.c, rebuild.c):
 * then the log after it stays too.
 */
static void
rig_keep_for_snapshots(RigKeep *keep, int64 before)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	bool		registered;
	int64		latest = 0;

	/* 1.0's SQL has neither state tables nor snapshots */
	if (!OidIsValid(get_relname_relid("snapshots", rig_schema_oid())))
		return;
	SPI_connect();
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM rig.tables)", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.tables");
	registered = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (rig_spi_as_owner("snapshots", "SELECT id, watermark FROM rig.snapshots WHERE complete "
						 "ORDER BY id DESC LIMIT 1", 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshots");
	if (SPI_processed == 1)
	{
		latest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (registered)
			rig_keep(keep, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 2, &isnull)) + 1,
					 "the latest snapshot", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	else if (registered && before > rig_node_compacted_below())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot compact rig.log: there is no snapshot of the state tables"),
				 errdetail("Only records whose effects a snapshot holds may go: rig_rebuild() and a new peer start from it."),
				 errhint("Take one with rig_snapshot(), then compact.")));

	values[0] = Int64GetDatum(latest);
	if (rig_spi_as_owner("snapshots", "DELETE FROM rig.snapshots WHERE id IN "
						 "(SELECT id FROM rig.snapshots WHERE complete AND id < $1 FOR UPDATE SKIP LOCKED)",
						 1, types, values, NULL) != SPI_OK_DELETE)
		elog(ERROR, "could not update rig.snapshots");
	if (rig_spi_as_owner("snapshots", "SELECT id, watermark FROM rig.snapshots WHERE complete AND id < $1",
						 1, types, values, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not read rig.snapshots");
	for (uint64 i = 0; i < SPI_processed; i++)
		rig_keep(keep, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)) + 1,
				 "a running bootstrap or rebuild from snapshot", SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	SPI_finish();
}

/*
 * A running rig_add_peer ships the new node the log from wherever that node
 * stands (all of it, without a bootstrap), at rig.bootstrap_max_rate, for
 * as long as that takes; the node is no peer yet, so no horizon says what
 * it lacks.  It holds this lock until it commits or fails: a lock on
 * rig.log as an object, apart from the table's lock, that any number of
 * rig_add_peer share.
 */
void
rig_compact_hold(void)
{
	LockDatabaseObject(RelationRelationId, rig_relid("log"), 0, AccessShareLock);
}

/*
 * Does a rig_add_peer run?  If not, none starts before this transaction
 * ends (it would wait here, then find the log compacted: a bootstrap, or
 * a clear error).
 */
static bool
rig_add_peer_running(void)
{
	return !ConditionalLockDatabaseObject(RelationRelationId, rig_relid("log"), 0,
										  AccessExclusiveLock);
}

/* Forget keys whose records are gone and which are older than the retention. */
static uint64
rig_prune_keys(int64 below)
{
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];

	if (rig_key_retention < 0)
		return 0;
	values[0] = Int64GetDatum(below);
	values[1] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																-(int64) rig_key_retention * 1000));
	return rig_log_guarded_delete("DELETE FROM rig.idempotency_keys "
								  "WHERE version < $1 AND op_time < $2",
								  2, types, values);
}

/*
 * SQL: delete final records below a version that nobody needs any more;
 * returns how many went.
 */
Datum
rig_compact(PG_FUNCTION_ARGS)
{
	RigKeep		keep;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	uint64		removed;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("before_version must not be NULL")));
	if (PG_GETARG_INT64(0) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_version must not be negative")));
	/* never past the watermark, and always keep the newest record */
	keep.bound = Min(rig_compute_watermark() + 1, rig_log_last_version());
	keep.who[0] = '\0';
	rig_keep_for_peers(&keep);
	rig_keep_for_followers(&keep);
	rig_keep_for_snapshots(&keep, PG_GETARG_INT64(0));
	if (rig_add_peer_running() && rig_node_compacted_below() < keep.bound)
	{
		keep.bound = rig_node_compacted_below();
		strlcpy(keep.who, "a running rig_add_peer()", sizeof(keep.who));
	}
	if (keep.who[0] != '\0' && keep.bound < PG_GETARG_INT64(0))
		ereport(NOTICE,
				(errmsg("rig_compact() keeps the records from version " INT64_FORMAT " on",
						keep.bound),
				 errdetail("%s still needs them.", keep.who)));
	keep.bound = Min(keep.bound, PG_GETARG_INT64(0));

	values[0] = Int64GetDatum(keep.bound);
	removed = rig_log_guarded_delete("DELETE FROM rig.log WHERE version < $1",
									 1, types, values);
	if (keep.bound > rig_node_compacted_below())
		rig_node_update("UPDATE rig.node SET compacted_below = $1", 1, types, values);
	(void) rig_prune_keys(keep.bound);
	PG_RETURN_INT64((int64) removed);
}

/*
 * SQL (called by a follower as it pulls): record that follower name holds
 * every version up to position, so that compaction keeps what it lacks.
 * A follower's row belongs to the role that registered it (any rig_reader
 * may call this): another role moving its position would let compaction
 * remove what it has not pulled.  A position above this node's last
 * version cannot have been pulled from it.
 */
Datum
rig_follower_ack(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64		position;
	Oid			types[4] = {TEXTOID, INT8OID, NAMEOID, BOOLOID};
	Datum		values[4];

	rig_check_database();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	position = PG_GETARG_INT64(1);
	rig_check_identifier("follower name", name);
	if (position < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("follower position must not be negative")));
	if (position > rig_log_last_version())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("follower position " INT64_FORMAT " is above the last version of node \"%s\"",
						position, rig_node_name()),
				 errdetail("The last version here is " INT64_FORMAT "; a follower holds only what it pulled.",
						   rig_log_last_version())));

	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int64GetDatum(position);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	values[3] = BoolGetDatum(superuser());

	/* followers hold rig_reader only: write rig.followers as its owner */
	SPI_connect();
	if (rig_spi_as_owner("followers",
						 "INSERT INTO rig.followers AS f (name, acked_version, last_seen, registered_by) "
						 "VALUES ($1, $2, now(), $3) ON CONFLICT (name) DO UPDATE "
						 "SET acked_version = EXCLUDED.acked_version, last_seen = now() "
						 "WHERE $4 OR f.registered_by = EXCLUDED.registered_by",
						 4, types, values, NULL) != SPI_OK_INSERT)
		elog(ERROR, "could not record follower position");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("follower \"%s\" was registered by another role", name),
				 errdetail("Only the role that registered a follower (or a superuser) may report its position."),
				 errhint("A superuser forgets a follower that is gone for good with DELETE FROM rig.followers WHERE name = '%s'.",
						 name)));
	SPI_finish();
	PG_RETURN_VOID();
}
