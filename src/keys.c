/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  Idempotency keys: rig.idempotency_keys, which outlives compaction.
 *
 * A key names one operation for good: rig_do() with a key that was used
 * before returns that operation's version and applies nothing.  The key is
 * bound to what it was first used for (method and data, by a 64-bit hash
 * of the data's canonical text), so a key reused for another operation is
 * refused instead of silently answered with the first version.  Keys live
 * in their own table, written with the log record (on the primary and on
 * every replica), so exactly-once survives compaction of rig.log and a
 * failover; rig_compact() removes a key only once its record is compacted
 * away and it is older than rig.key_retention.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/keys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "keys.h"

/* Columns of rig.idempotency_keys */
#define Natts_keys				5
#define Anum_keys_key			1
#define Anum_keys_version		2
#define Anum_keys_method		3
#define Anum_keys_data_hash		4
#define Anum_keys_op_time		5

/* What a key was first used for */
typedef struct RigKeyUse
{
	int64		version;
	char	   *method;
	int64		data_hash;
} RigKeyUse;

static int64 rig_key_data_hash(Jsonb *data);
static bool rig_key_find(text *key, RigKeyUse *use);

/* Hash of the canonical text of data: equal jsonb values hash alike. */
static int64
rig_key_data_hash(Jsonb *data)
{
	char	   *txt = JsonbToCString(NULL, &data->root, VARSIZE(data));
	int64		h = (int64) hash_bytes_extended((const unsigned char *) txt,
												strlen(txt), 0);

	pfree(txt);
	return h;
}

/*
 * The committed (or own) use of a key, if any.  The caller holds the key's
 * lock, so any other writer of the key has ended and the latest snapshot
 * shows its outcome.
 */
static bool
rig_key_find(text *key, RigKeyUse *use)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData skey;
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	rel = table_open(rig_relid("idempotency_keys"), AccessShareLock);
	ScanKeyInit(&skey, Anum_keys_key, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(key));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, rig_relid("idempotency_keys_pkey"), true,
							  snap, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;

		use->version = DatumGetInt64(heap_getattr(tup, Anum_keys_version, desc, &isnull));
		use->method = TextDatumGetCString(heap_getattr(tup, Anum_keys_method, desc, &isnull));
		use->data_hash = DatumGetInt64(heap_getattr(tup, Anum_keys_data_hash, desc, &isnull));
		found = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Was key used before?  Then set *version to its operation's version, or
 * throw when that operation had another method or other data.
 */
bool
rig_key_lookup(text *key, const char *method, Jsonb *data, int64 *version)
{
	RigKeyUse	use;

	if (!rig_key_find(key, &use))
		return false;
	if (strcmp(use.method, method) != 0 || use.data_hash != rig_key_data_hash(data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key \"%s\" was already used for another operation",
						text_to_cstring(key)),
				 errdetail("It names version " INT64_FORMAT " (method \"%s\"); a key is bound to the method and data it was first used with.",
						   use.version, use.method),
				 errhint("Retry with the same method and data, or use a new key for a new operation.")));
	*version = use.version;
	return true;
}

/* Remember key as naming this operation (heap tuple plus its index entry). */
void
rig_key_record(text *key, int64 version, const char *method, Jsonb *data,
			   TimestampTz op_time)
{
	Datum		values[Natts_keys];
	bool		nulls[Natts_keys] = {false};

	values[Anum_keys_key - 1] = PointerGetDatum(key);
	values[Anum_keys_version - 1] = Int64GetDatum(version);
	values[Anum_keys_method - 1] = CStringGetTextDatum(method);
	values[Anum_keys_data_hash - 1] = Int64GetDatum(rig_key_data_hash(data));
	values[Anum_keys_op_time - 1] = TimestampTzGetDatum(op_time);

	rig_insert_row("idempotency_keys", values, nulls);
}
