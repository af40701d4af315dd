/*-------------------------------------------------------------------------
 *
 * node.c
 *	  This node's role and epoch, cached from rig.node.
 *
 * rig.node has exactly one row.  It changes only when the node becomes a
 * replica or is promoted; every change sends a relcache invalidation for
 * the table, which drops the per-process copy.
 *
 * Fencing: a primary that learns of a newer epoch stops writing at once
 * (the fence in shared memory, for its current epoch) and then durably
 * (role 'fenced', primary_name the new primary), so a restart keeps it.
 *
 * Whoever reads the row also publishes in shared memory whether this node
 * is the primary, for routing new connections (route.c, which runs before
 * rig.node can be read): every load but one that sees its own transaction's
 * uncommitted change, and a transaction that changed rig.node through
 * rig_node_update() at its commit.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/node.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "node.h"
#include "shmem.h"

/* Columns of rig.node */
#define Anum_node_epoch			2
#define Anum_node_role			3
#define Anum_node_primary_name	4
#define Anum_node_compacted_below	5

typedef struct RigNodeState
{
	bool		valid;
	Oid			relid;
	int64		epoch;
	bool		is_replica;
	char		role[16];		/* primary, replica, promoting or fenced */
	bool		is_primary;		/* role 'primary' (not replica, promoting, fenced) */
	char	   *primary_name;	/* in TopMemoryContext, or NULL */
	int64		compacted_below;	/* rig.log may lack versions below it */
} RigNodeState;

static RigNodeState rig_node = {false, InvalidOid, 0, false, "primary", false, NULL, 1};

/* This transaction changed rig.node: publish the role at commit */
static bool rig_node_publish_pending = false;
static RigRouteRole rig_node_commit_role = RIG_ROUTE_UNKNOWN;

static void rig_node_relcache_cb(Datum arg, Oid relid);
static void rig_node_xact_cb(XactEvent event, void *arg);
static void rig_node_load(void);

/* Drop the cached row whenever rig.node changes; publish role changes. */
void
rig_node_init(void)
{
	CacheRegisterRelcacheCallback(rig_node_relcache_cb, (Datum) 0);
	RegisterXactCallback(rig_node_xact_cb, NULL);
}

/* Relcache callback for rig.node. */
static void
rig_node_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rig_node.relid)
		rig_node.valid = false;
}

/*
 * A transaction that changed rig.node publishes the node's role for new
 * connections as it commits, rather than when some process next reads the
 * row: the row is read at PRE_COMMIT (where an error may still abort), the
 * shared memory written at COMMIT (a store, which cannot fail).
 */
static void
rig_node_xact_cb(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (rig_node_publish_pending)
			{
				rig_node.valid = false;
				rig_node_load();
				rig_node_commit_role = rig_node.is_primary ? RIG_ROUTE_PRIMARY : RIG_ROUTE_NOT_PRIMARY;
			}
			break;
		case XACT_EVENT_COMMIT:
			if (rig_node_publish_pending && rig_node_commit_role != RIG_ROUTE_UNKNOWN)
				rig_shmem_set_route_role(rig_node_commit_role);
			rig_node_publish_pending = false;
			rig_node_commit_role = RIG_ROUTE_UNKNOWN;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			rig_node_publish_pending = false;
			rig_node_commit_role = RIG_ROUTE_UNKNOWN;
			break;
		default:
			break;
	}
}

/* Read the single row of rig.node into the cache. */
static void
rig_node_load(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	bool		isnull;
	Datum		d;

	rig_node.relid = rig_relid("node");
	rel = table_open(rig_node.relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("rig.node is empty"),
				 errhint("The rig extension is damaged: reinstall it.")));

	rig_node.epoch = DatumGetInt64(heap_getattr(tup, Anum_node_epoch,
												RelationGetDescr(rel), &isnull));
	d = heap_getattr(tup, Anum_node_role, RelationGetDescr(rel), &isnull);
	rig_node.is_replica = (strcmp(TextDatumGetCString(d), "replica") == 0);
	strlcpy(rig_node.role, TextDatumGetCString(d), sizeof(rig_node.role));
	rig_node.is_primary = (strcmp(TextDatumGetCString(d), "primary") == 0);
	/* this transaction's own change is published when it commits */
	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)))
		rig_shmem_set_route_role(rig_node.is_primary ? RIG_ROUTE_PRIMARY : RIG_ROUTE_NOT_PRIMARY);
	if (rig_node.primary_name)
		pfree(rig_node.primary_name);
	rig_node.primary_name = NULL;
	d = heap_getattr(tup, Anum_node_primary_name, RelationGetDescr(rel), &isnull);
	if (!isnull)
		rig_node.primary_name = MemoryContextStrdup(TopMemoryContext,
													TextDatumGetCString(d));

	rig_node.compacted_below = DatumGetInt64(heap_getattr(tup, Anum_node_compacted_below,
														  RelationGetDescr(rel), &isnull));
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	rig_node.valid = true;
}

/* The epoch this node writes into new log records. */
int64
rig_node_epoch(void)
{
	if (!rig_node.valid)
		rig_node_load();
	return rig_node.epoch;
}

/* True when this node follows a primary and refuses rig_do(). */
bool
rig_node_is_replica(void)
{
	if (!rig_node.valid)
		rig_node_load();
	return rig_node.is_replica;
}

/* This node's role as rig.node has it: primary, replica, promoting or fenced. */
const char *
rig_node_role(void)
{
	if (!rig_node.valid)
		rig_node_load();
	return rig_node.role;
}

/*
 * Is this node fenced, durably or (in its current epoch) in shared memory
 * only?  With info, says by whom and who the new primary is ("" when not
 * known).
 */
bool
rig_node_fenced(RigFenceInfo *info)
{
	RigFenceInfo f;
	bool		durable;

	if (!rig_node.valid)
		rig_node_load();
	durable = strcmp(rig_node.role, "fenced") == 0;
	if (!rig_fence_get(&f) || f.epoch != rig_node.epoch)
	{
		if (!durable)
			return false;
		memset(&f, 0, sizeof(f));
		strlcpy(f.by, "?", sizeof(f.by));
	}
	if (durable && rig_node.primary_name != NULL)
		strlcpy(f.primary, rig_node.primary_name, sizeof(f.primary));
	if (info)
		*info = f;
	return true;
}

/*
 * Make the fence durable: role 'fenced', following the new primary (NULL
 * when not known).  The epoch stays: the node has written nothing in the
 * new one.  Only a primary still in the epoch it was fenced in: a node
 * that meanwhile became a replica of the new primary (rig_switchover,
 * rejoin) stays one.
 */
void
rig_node_fence(const char *primary, int64 epoch)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2] = {primary ? CStringGetTextDatum(primary) : (Datum) 0, Int64GetDatum(epoch)};
	char		nulls[2] = {primary ? ' ' : 'n', ' '};

	SPI_connect();
	if (rig_spi_as_owner("node", "UPDATE rig.node SET role = 'fenced', primary_name = $1 "
						 "WHERE epoch = $2 AND role = 'primary'",
						 2, types, args, nulls) != SPI_OK_UPDATE)
		elog(ERROR, "could not update rig.node");
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("node"));
}

/* Name of this node's primary, or NULL on a primary. */
const char *
rig_node_primary_name(void)
{
	if (!rig_node.valid)
		rig_node_load();
	return rig_node.primary_name;
}

/*
 * Read rig.node again even if the cached row looks current, which also
 * publishes the role for new connections: the worker does it every round,
 * so a role change no process has read yet (or a publication overtaken by
 * an older read) reaches routing within a round.
 */
void
rig_node_refresh(void)
{
	rig_node.valid = false;
	rig_node_load();
}

/*
 * Lock rig.node's row for a change of role, then read it again: a
 * concurrent change (two primaries making this node their replica at
 * once) is waited for, and the checks that follow see what it left, not
 * the row as it was before.
 */
void
rig_node_lock(void)
{
	SPI_connect();
	if (rig_spi_as_owner("node", "SELECT 1 FROM rig.node FOR UPDATE", 0, NULL, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "could not lock rig.node");
	SPI_finish();
	rig_node_refresh();
}

/* Lowest version rig.log may still hold: rig_compact() removed those below. */
int64
rig_node_compacted_below(void)
{
	if (!rig_node.valid)
		rig_node_load();
	return rig_node.compacted_below;
}

/*
 * Change rig.node as its owner (callers such as rig_replication hold no
 * UPDATE on it); every session drops its cached copy at commit.
 */
void
rig_node_update(const char *sql, int nargs, Oid *types, Datum *args)
{
	SPI_connect();
	if (rig_spi_as_owner("node", sql, nargs, types, args, NULL) != SPI_OK_UPDATE)
		elog(ERROR, "could not update rig.node");
	SPI_finish();
	CacheInvalidateRelcacheByRelid(rig_relid("node"));
	rig_node_publish_pending = true;
}
