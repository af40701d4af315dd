/*-------------------------------------------------------------------------
 *
 * oplog.c
 *	  The operation log rig.log: appending, reading in version order, the
 *	  append-only guard and the checks that compaction left what a reader
 *	  needs.
 *
 * rig_do() appends through rig_log_append(), which inserts the heap tuple
 * and its index entries directly: the caller of rig_do() holds no
 * privilege on rig.log (writes go through rig_do() only), and the path
 * stays free of executor set-up and SQL parsing.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/oplog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "node.h"
#include "oplog.h"
#include "settings.h"

/* Columns of rig.log */
#define Natts_log					7
#define Anum_log_version			1
#define Anum_log_epoch				2
#define Anum_log_method				3
#define Anum_log_data				4
#define Anum_log_idempotency_key	5
#define Anum_log_op_time			6
#define Anum_log_origin				7

/* Called for each record of a scan; false ends the scan. */
typedef bool (*RigLogVisitor) (Datum *values, bool *nulls, void *arg);

/* Set while rig_compact() deletes, so the guard trigger lets it through. */
static bool rig_compacting = false;

static int64 rig_log_end_version(ScanDirection dir);
static void rig_log_recheck_retained(int64 after);
static void rig_log_scan(int64 after, RigLogVisitor visit, void *arg);
static bool rig_read_visit(Datum *values, bool *nulls, void *arg);
static bool rig_since_visit(Datum *values, bool *nulls, void *arg);

PG_FUNCTION_INFO_V1(rig_log_guard);
PG_FUNCTION_INFO_V1(rig_last_version);

/* Append one record to rig.log (heap tuple plus its btree entries). */
void
rig_log_append(int64 version, int64 epoch, const char *method, Jsonb *data,
			   text *idem_key, TimestampTz op_time, const char *origin)
{
	Datum		values[Natts_log];
	bool		nulls[Natts_log] = {false};

	values[Anum_log_version - 1] = Int64GetDatum(version);
	values[Anum_log_epoch - 1] = Int64GetDatum(epoch);
	values[Anum_log_method - 1] = CStringGetTextDatum(method);
	values[Anum_log_data - 1] = JsonbPGetDatum(data);
	values[Anum_log_idempotency_key - 1] = PointerGetDatum(idem_key);
	nulls[Anum_log_idempotency_key - 1] = (idem_key == NULL);
	values[Anum_log_op_time - 1] = TimestampTzGetDatum(op_time);
	values[Anum_log_origin - 1] = CStringGetTextDatum(origin);

	rig_insert_row("log", values, nulls);
}

/* Is version already in rig.log (committed, or written by this transaction)? */
bool
rig_log_has_version(int64 version)
{
	return rig_log_version_epoch(version) >= 0;
}

/*
 * The epoch of version's record in rig.log under a fresh snapshot (seeing
 * this transaction's writes too), or -1 when there is none.
 */
int64
rig_log_version_epoch(int64 version)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	Snapshot	snap;
	HeapTuple	tup;
	int64		epoch = -1;

	rel = table_open(rig_relid("log"), AccessShareLock);
	ScanKeyInit(&key, Anum_log_version, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(version));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, rig_relid("log_pkey"), true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_log_epoch, RelationGetDescr(rel), &isnull);

		epoch = isnull ? 0 : DatumGetInt64(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return epoch;
}

/*
 * Visit the records with version > after in version order, under a fresh
 * snapshot, until the visitor returns false: an ordered scan of log_pkey,
 * so it costs the rows visited however long the log is.
 */
static void
rig_log_scan(int64 after, RigLogVisitor visit, void *arg)
{
	Relation	rel;
	Relation	idx;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Snapshot	snap;

	rel = table_open(rig_relid("log"), AccessShareLock);
	idx = index_open(rig_relid("log_pkey"), AccessShareLock);
	ScanKeyInit(&key, Anum_log_version, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan_ordered(rel, idx, snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
	{
		Datum		values[Natts_log];
		bool		nulls[Natts_log];

		heap_deform_tuple(tup, RelationGetDescr(rel), values, nulls);
		if (!visit(values, nulls, arg))
			break;
	}
	systable_endscan_ordered(scan);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	rig_flush_visible();
}

/*
 * Make every commit this process can see durable before it is shipped or
 * returned: with synchronous_commit = off a visible commit may not be on
 * disk yet, and a crash would then lose it here while a peer or follower
 * keeps it.  A visible transaction's commit record was inserted before it
 * became visible, so flushing to the current insert position covers it.
 */
void
rig_flush_visible(void)
{
	XLogRecPtr	upto = GetXLogInsertRecPtr();
	uint32		in_page = upto % XLOG_BLCKSZ;

	/*
	 * Right after a page header nothing is on the page yet, and a flush
	 * request there could never be satisfied: flush to the page's start.
	 */
	if (in_page == SizeOfXLogShortPHD ||
		(in_page == SizeOfXLogLongPHD &&
		 XLogSegmentOffset(upto, wal_segment_size) == SizeOfXLogLongPHD))
		upto -= in_page;
	XLogFlush(upto);
}

/*
 * Whoever reads the log after a version needs every record above it: say
 * so clearly when compaction removed some of them, rather than hand out a
 * log with a hole.
 */
void
rig_log_check_retained(int64 after)
{
	int64		below = rig_node_compacted_below();

	if (after + 1 < below)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("log records after version " INT64_FORMAT " are no longer on node \"%s\"",
						after, rig_node_name()),
				 errdetail("rig_compact() removed the records below version " INT64_FORMAT ".", below),
				 errhint("Rebuild the node that needs them from an empty node (DROP EXTENSION rig; CREATE EXTENSION rig; load the handlers; add it again).")));
}

/*
 * The same check after a scan: a compaction that committed between the
 * first check and the scan's snapshot took records the scan then missed.
 * Its change of rig.node is seen once pending invalidations are read.
 */
static void
rig_log_recheck_retained(int64 after)
{
	AcceptInvalidationMessages();
	rig_log_check_retained(after);
}

typedef struct RigReadState
{
	RigLogRecord *out;
	int			max;
	int			n;
	int64		upto;
	Size		max_bytes;
	Size		bytes;			/* of data read so far */
	bool		limited;		/* stopped at max or max_bytes */
} RigReadState;

/* rig_log_read's visitor: copy one record out, as text for the wire. */
static bool
rig_read_visit(Datum *values, bool *nulls, void *arg)
{
	RigReadState *st = arg;
	RigLogRecord *r;
	Jsonb	   *data;

	if (st->n >= st->max || st->bytes >= st->max_bytes)
	{
		st->limited = true;
		return false;
	}
	r = &st->out[st->n];
	r->version = DatumGetInt64(values[Anum_log_version - 1]);
	if (st->upto >= 0 && r->version > st->upto)
		return false;
	r->epoch = DatumGetInt64(values[Anum_log_epoch - 1]);
	r->method = TextDatumGetCString(values[Anum_log_method - 1]);
	data = DatumGetJsonbPCopy(values[Anum_log_data - 1]);
	r->jdata = data;
	r->data = JsonbToCString(NULL, &data->root, VARSIZE(data));
	r->idem_key = nulls[Anum_log_idempotency_key - 1] ? NULL :
		TextDatumGetCString(values[Anum_log_idempotency_key - 1]);
	r->op_time = DatumGetTimestampTz(values[Anum_log_op_time - 1]);
	r->origin = TextDatumGetCString(values[Anum_log_origin - 1]);
	st->bytes += VARSIZE(data) + strlen(r->data);
	st->n++;
	return true;
}

/*
 * Read at most max records with after < version <= upto (upto < 0: no
 * bound) into out[], in version order, under a fresh snapshot, stopping
 * once they hold max_bytes of data (at least one record is read).  Returns
 * how many were read; *limited says whether a bound cut the read short
 * (more records may follow).
 */
int
rig_log_read(int64 after, int64 upto, int max, Size max_bytes,
			 RigLogRecord *out, bool *limited)
{
	RigReadState st = {out, max, 0, upto, max_bytes, 0, false};

	rig_log_check_retained(after);
	rig_log_scan(after, rig_read_visit, &st);
	rig_log_recheck_retained(after);
	*limited = st.limited;
	return st.n;
}

typedef struct RigSinceState
{
	ReturnSetInfo *rsinfo;
	int64		upto;
	int			left;
} RigSinceState;

/* rig_log_return's visitor: return one record up to the bound. */
static bool
rig_since_visit(Datum *values, bool *nulls, void *arg)
{
	RigSinceState *st = arg;

	if (st->left <= 0 || DatumGetInt64(values[Anum_log_version - 1]) > st->upto)
		return false;
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
	st->left--;
	return true;
}

/*
 * Return the records after a version up to upto (at most max_rows) as the
 * rows of a materialized set-returning function, in version order, read
 * with a fresh snapshot (rig_log_since).
 */
void
rig_log_return(ReturnSetInfo *rsinfo, int64 after, int64 upto, int max_rows)
{
	RigSinceState st;

	st.rsinfo = rsinfo;
	st.upto = upto;
	st.left = max_rows;
	rig_log_scan(after, rig_since_visit, &st);
	rig_log_recheck_retained(after);
}

/* Trigger: rig.log and its keys are append-only except through rig_compact(). */
Datum
rig_log_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "rig_log_guard: not called by trigger manager");
	if (!rig_compacting)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("rig.%s is append-only", RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("%s on rig.%s is refused: the log is the source of truth for every node.",
						   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE" :
						   TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE" : "TRUNCATE",
						   RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Use rig_compact(before_version) to remove old, final records.")));
	return PointerGetDatum(NULL);
}

/* SQL: highest version in rig.log visible to the caller (0 when empty). */
Datum
rig_last_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(rig_log_last_version());
}

/* The highest (Backward) or lowest (Forward) version in rig.log, 0 when empty. */
static int64
rig_log_end_version(ScanDirection dir)
{
	Relation	rel;
	Relation	idx;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	int64		last = 0;

	rel = table_open(rig_relid("log"), AccessShareLock);
	idx = index_open(rig_relid("log_pkey"), AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan_ordered(rel, idx, snap, 0, NULL);
	tup = systable_getnext_ordered(scan, dir);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;

		last = DatumGetInt64(heap_getattr(tup, Anum_log_version,
										  RelationGetDescr(rel), &isnull));
	}
	systable_endscan_ordered(scan);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return last;
}

/* Highest version in rig.log under a fresh snapshot (0 when empty). */
int64
rig_log_last_version(void)
{
	return rig_log_end_version(BackwardScanDirection);
}

/* Lowest version in rig.log (what compaction left) under a fresh snapshot. */
int64
rig_log_first_version(void)
{
	return rig_log_end_version(ForwardScanDirection);
}

/*
 * Run a DELETE on rig.log or rig.idempotency_keys past their guard
 * triggers (rig_compact() only); returns how many rows went.
 */
uint64
rig_log_guarded_delete(const char *sql, int nargs, Oid *types, Datum *values)
{
	volatile int ret = 0;
	uint64		removed;

	SPI_connect();
	rig_compacting = true;
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	}
	PG_CATCH();
	{
		rig_compacting = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	rig_compacting = false;
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not compact: SPI error %d", ret);
	removed = SPI_processed;
	SPI_finish();
	return removed;
}
