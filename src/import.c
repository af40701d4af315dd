/*-------------------------------------------------------------------------
 *
 * import.c
 *	  rig_import(): append a record exported from another node's log to
 *	  this one, with its version, epoch and op time, through the handlers.
 *
 * rigctl import calls it once per record, a batch of records per
 * transaction.  It applies a record exactly as a replica applies its
 * primary's op (rig_apply_op: the same locks, the identical log row, the
 * apply handler), on a standalone primary with no peers, in version order.
 * A record whose version this node already holds identically is skipped,
 * so importing the same file twice is harmless; one that differs is
 * refused.  The node's version sequence and epoch move past what it
 * imported, so its own rig_do() goes on after them.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "node.h"
#include "oplog.h"
#include "peerlist.h"
#include "replica.h"
#include "settings.h"
#include "shmem.h"

static void rig_import_check_node(void);
static bool rig_import_present(int64 version, int64 epoch, const char *method,
							   Jsonb *data, text *key, TimestampTz op_time,
							   const char *origin);
static void rig_import_check_order(int64 version, int64 epoch);
static void rig_import_advance(int64 version, int64 epoch);

PG_FUNCTION_INFO_V1(rig_import);

/*
 * Only a standalone primary imports: a replica takes its primary's log,
 * and a primary's peers would not receive what it imports.
 */
static void
rig_import_check_node(void)
{
	RigFenceInfo f;

	rig_check_database();
	if (strcmp(rig_node_role(), "primary") != 0 || rig_node_fenced(&f))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is a %s and cannot import log records",
						rig_node_name(), rig_node_fenced(&f) ? "fenced primary" : rig_node_role()),
				 errhint("Import into a standalone primary, then add its peers.")));
	if (rig_peer_list() != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" has peers and cannot import log records", rig_node_name()),
				 errdetail("Its peers would not receive the imported records."),
				 errhint("Import into a node without peers, then add them with rig_add_peer().")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rig_import() requires the READ COMMITTED isolation level")));
}

/*
 * Whether this node holds the version already: identically (true), or not
 * at all (false); a different record under that version is refused.
 */
static bool
rig_import_present(int64 version, int64 epoch, const char *method, Jsonb *data,
				   text *key, TimestampTz op_time, const char *origin)
{
	Oid			types[7] = {INT8OID, INT8OID, TEXTOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		args[7];
	char		nulls[7] = "       ";
	bool		isnull;
	bool		same;

	if (!rig_log_has_version(version))
		return false;
	args[0] = Int64GetDatum(version);
	args[1] = Int64GetDatum(epoch);
	args[2] = CStringGetTextDatum(method);
	args[3] = JsonbPGetDatum(data);
	args[4] = key ? PointerGetDatum(key) : (Datum) 0;
	nulls[4] = key ? ' ' : 'n';
	args[5] = TimestampTzGetDatum(op_time);
	args[6] = CStringGetTextDatum(origin);

	SPI_connect();
	/* data compared as text: 1.0 and 1 are equal jsonb, but not the same record */
	if (rig_spi_as_owner("log",
						 "SELECT epoch = $2 AND method = $3 AND data::text = $4::text "
						 "AND idempotency_key IS NOT DISTINCT FROM $5 AND op_time = $6 "
						 "AND origin = $7 FROM rig.log WHERE version = $1",
						 7, types, args, nulls) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read version " INT64_FORMAT " of rig.log", version);
	same = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("version " INT64_FORMAT " is already in the log of node \"%s\" with a different record",
						version, rig_node_name()),
				 errdetail("Its epoch, method, data, idempotency key, op time or origin differ from the imported record's."),
				 errhint("Import only into an empty node, or one that holds the same log.")));
	return true;
}

/*
 * New records come in version order after this node's last one, and
 * their epochs never go back.
 */
static void
rig_import_check_order(int64 version, int64 epoch)
{
	int64		last = rig_log_last_version();
	int64		last_epoch;
	bool		isnull;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(last)};

	if (version <= last)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version " INT64_FORMAT " is below the last version " INT64_FORMAT " of node \"%s\"",
						version, last, rig_node_name()),
				 errdetail("Records are imported in version order, after those the node holds.")));
	if (last == 0)
		return;
	SPI_connect();
	if (rig_spi_as_owner("log", "SELECT epoch FROM rig.log WHERE version = $1",
						 1, types, args, NULL) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read version " INT64_FORMAT " of rig.log", last);
	last_epoch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (epoch < last_epoch)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version " INT64_FORMAT " of epoch " INT64_FORMAT " cannot follow version " INT64_FORMAT " of epoch " INT64_FORMAT,
						version, epoch, last, last_epoch),
				 errdetail("Epochs never go back along the log.")));
}

/*
 * Draw this node's next versions after the imported one, and move it into
 * the imported record's epoch (recording where that epoch starts here).
 * setval is not rolled back with the batch: that leaves a gap, as an
 * aborted rig_do() does.
 */
static void
rig_import_advance(int64 version, int64 epoch)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(version), Int64GetDatum(epoch)};

	SPI_connect();
	if (rig_spi_as_owner("version_seq",
						 "SELECT pg_catalog.setval('rig.version_seq', $1) "
						 "FROM rig.version_seq WHERE NOT is_called OR last_value < $1",
						 1, types, args, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not set rig.version_seq");
	if (epoch > rig_node_epoch() &&
		rig_spi_as_owner("epochs",
						 "INSERT INTO rig.epochs (epoch, first_version) VALUES ($2, $1) "
						 "ON CONFLICT (epoch) DO NOTHING",
						 2, types, args, NULL) != SPI_OK_INSERT)
		elog(ERROR, "could not record epoch " INT64_FORMAT, epoch);
	SPI_finish();
	if (epoch > rig_node_epoch())
		rig_node_update("UPDATE rig.node SET epoch = greatest(epoch, $2)", 2, types, args);
}

/*
 * SQL: import one exported log record (rigctl import); true when it was
 * applied, false when this node held it already.
 */
Datum
rig_import(PG_FUNCTION_ARGS)
{
	int64		version;
	int64		epoch;
	char	   *method;
	Jsonb	   *data;
	text	   *key;
	TimestampTz op_time;
	char	   *origin;

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i) && i != 4)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of rig_import() must not be NULL", i + 1)));
	version = PG_GETARG_INT64(0);
	epoch = PG_GETARG_INT64(1);
	if (version < 1 || epoch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version and epoch of an operation must be positive"),
				 errdetail("rig_import() got version " INT64_FORMAT " and epoch " INT64_FORMAT ".",
						   version, epoch)));
	method = text_to_cstring(PG_GETARG_TEXT_PP(2));
	data = PG_GETARG_JSONB_P(3);
	key = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	op_time = PG_GETARG_TIMESTAMPTZ(5);
	/* rig_do() never writes one, and an export could not carry it */
	if (TIMESTAMP_NOT_FINITE(op_time))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("op_time of an operation must be finite"),
				 errdetail("rig_import() got version " INT64_FORMAT " with op_time %s.",
						   version, TIMESTAMP_IS_NOBEGIN(op_time) ? "-infinity" : "infinity")));
	origin = text_to_cstring(PG_GETARG_TEXT_PP(6));
	rig_check_identifier("method name", method);
	rig_check_identifier("node name", origin);

	rig_import_check_node();
	/* no rig_do() commits meanwhile: it could end in an older epoch after these */
	LockRelationOid(rig_relid("commit_gate"), ExclusiveLock);
	if (rig_import_present(version, epoch, method, data, key, op_time, origin))
		PG_RETURN_BOOL(false);
	rig_import_check_order(version, epoch);
	rig_import_advance(version, epoch);
	rig_apply_op(version, epoch, method, data, key, op_time, origin, NULL, -1);
	PG_RETURN_BOOL(true);
}
