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
#include "settings.h"
#include "shmem.h"
#include "watermark.h"

static void rig_node_values(Datum *values, bool *nulls);

PG_FUNCTION_INFO_V1(rig_node_info);
PG_FUNCTION_INFO_V1(rig_status);

/* The first five columns of rig_node_info() and rig_status(). */
static void
rig_node_values(Datum *values, bool *nulls)
{
	const char *primary = rig_node_primary_name();

	values[0] = CStringGetTextDatum(rig_node_name());
	values[1] = CStringGetTextDatum(rig_node_role());
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

/* SQL (behind the rig.status view): this node at a glance. */
Datum
rig_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[12];
	bool		nulls[12] = {false};
	RigWorkerInfo w;

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
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
