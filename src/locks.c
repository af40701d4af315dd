/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  Resource locks and idempotency-key locks.
 *
 * A resource is a name an operation reads or writes.  rig locks it with a
 * transaction-level heavyweight lock in the advisory lock space (field4
 * RIG_LOCKCLASS_RESOURCE, so it never collides with pg_advisory_lock), keyed
 * by a 64-bit hash of the name.  Locks are taken in ascending hash order, so
 * two operations naming the same resources in a different order cannot
 * deadlock.  They show in pg_locks as advisory locks with objsubid 29289.
 * The barrier between ops and handler or schema changes is rig.log's lock.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/locks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "handlers.h"
#include "locks.h"

/* field4 of the advisory lock tags rig uses, kept clear of pg_advisory_lock's 1 and 2 */
#define RIG_LOCKCLASS_RESOURCE	0x7269
#define RIG_LOCKCLASS_IDEMKEY	0x726a
#define RIG_LOCKCLASS_NODE		0x726b

static uint64 rig_hash_name(text *name);
static void rig_lock_hash(uint64 hash, uint16 lockclass, LOCKMODE mode);
static int	rig_cmp_uint64(const void *a, const void *b);

/* 64-bit hash of a resource name or idempotency key. */
static uint64
rig_hash_name(text *name)
{
	return hash_bytes_extended((const unsigned char *) VARDATA_ANY(name),
							   VARSIZE_ANY_EXHDR(name), 0);
}

/* Take a transaction-level lock on one hashed name. */
static void
rig_lock_hash(uint64 hash, uint16 lockclass, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hash >> 32),
						 (uint32) hash, lockclass);
	(void) LockAcquire(&tag, mode, false, false);
}

/* qsort comparator for lock hashes. */
static int
rig_cmp_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/*
 * Ask the op's resources handler (as its owner) what it touches: the sorted, distinct
 * hashes of the names (0 when the method declares none).  The write path
 * locks them; catch-up uses them to tell which ops may apply in parallel.
 */
int
rig_resource_hashes(RigHandler *handler, Jsonb *data, uint64 **hashes)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;
	ArrayType  *names;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	*hashes = NULL;
	if (!OidIsValid(handler->resources_oid))
		return 0;
	InitFunctionCallInfoData(*fcinfo, &handler->resources, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(data);
	fcinfo->args[0].isnull = false;
	result = rig_handler_invoke(fcinfo, handler->resources_owner);
	if (fcinfo->isnull)
		return 0;

	names = DatumGetArrayTypeP(result);
	if (ARR_NDIM(names) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("resources handler of method \"%s\" returned a multidimensional array",
						handler->method)));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		return 0;

	*hashes = palloc(sizeof(uint64) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("resources handler of method \"%s\" returned a NULL resource name",
							handler->method)));
		(*hashes)[i] = rig_hash_name(DatumGetTextPP(elems[i]));
	}
	return rig_sort_hashes(*hashes, n);
}

/* Sort lock hashes and drop repeats, in place; returns how many are left. */
int
rig_sort_hashes(uint64 *hashes, int n)
{
	int			distinct = 0;

	qsort(hashes, n, sizeof(uint64), rig_cmp_uint64);
	for (int i = 0; i < n; i++)
		if (i == 0 || hashes[i] != hashes[distinct - 1])
			hashes[distinct++] = hashes[i];
	return distinct;
}

/* Lock hashed resources, in the (sorted) order given. */
void
rig_lock_hashes(const uint64 *hashes, int n)
{
	for (int i = 0; i < n; i++)
		rig_lock_hash(hashes[i], RIG_LOCKCLASS_RESOURCE, ExclusiveLock);
}

/* Serialize ops that carry the same idempotency key until the first ends. */
void
rig_lock_idempotency_key(text *key)
{
	rig_lock_hash(rig_hash_name(key), RIG_LOCKCLASS_IDEMKEY, ExclusiveLock);
}

/*
 * A registered node (rig.remote_nodes): shared by a transaction start
 * that puts a branch on it, exclusive for its drop, so a drop never
 * misses a start that has not committed yet.
 */
void
rig_lock_remote_node(const char *name, bool exclusive)
{
	rig_lock_hash(rig_hash_name(cstring_to_text(name)), RIG_LOCKCLASS_NODE,
				  exclusive ? ExclusiveLock : ShareLock);
}

/*
 * Release the transaction's resource and idempotency-key locks, with its
 * other transaction-level advisory locks, once its commit is visible:
 * what ProcReleaseLocks() does at the end of the commit, done before the
 * commit waits for its peers' COMMIT PREPARED answers, so the next op on
 * the same resources need not wait for them too.  Never throws.
 */
void
rig_release_xact_locks(void)
{
	LockReleaseAll(USER_LOCKMETHOD, false);
}

/*
 * The node-wide barrier between ops and rig's own records (handler and
 * schema changes) is rig.log's own table lock: every op takes
 * RowExclusiveLock on it from before its handler is looked up (the lock
 * its log row needs anyway, on the fast path), a handler or schema change
 * ShareRowExclusiveLock before its version (it conflicts with ops and with
 * other changes, not with readers of the log); both to the end of the
 * transaction, on the primary and on every peer.  A prepared transaction
 * keeps it, so a peer applies nothing past a change until the change
 * commits there.  Invalidations are read once it is granted
 * (LockRelationOid), so the op sees the handlers and tables of the last
 * change before it.
 */
void
rig_lock_barrier(bool exclusive)
{
	LockRelationOid(rig_relid("log"),
					exclusive ? ShareRowExclusiveLock : RowExclusiveLock);
}
