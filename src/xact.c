/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  Transaction state of rig: the operations a transaction wrote, the
 *	  transaction callbacks that end them, and running a piece of work
 *	  (one peer's, one step of the worker's) in a subtransaction.
 *
 * Every rig_do() call, and every op a replica applies for its primary,
 * appends its operation to a list kept in TopTransactionContext, tagged
 * with the subtransaction that wrote it.  A subtransaction that aborts
 * takes its operations (and their in-flight versions) with it; one that
 * commits hands them to its parent.  The callbacks prepare rig_do()'s ops
 * on the peers before the local commit (replicate.c) and finish them
 * after it, clear the shared in-flight slot once the commit or abort is
 * visible, and refuse PREPARE TRANSACTION of a transaction that ran
 * rig_do(): rig runs two-phase commit itself.  (A replica's transaction
 * of its primary's ops is prepared: that is how the primary commits it.)
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "peerlist.h"
#include "peerstate.h"
#include "replicate.h"
#include "shmem.h"
#include "watermark.h"
#include "xact.h"

/* Operations of the open transaction, in the order they were written. */
static List *rig_xact_ops = NIL;

/* What the primary confirmed in this transaction (published at its end) */
static int64 rig_xact_confirmed = 0;

/* The primary's word in this transaction: how it treats this replica (-2: none) */
static int	rig_xact_contact_mode = -2;

static void rig_xact_callback(XactEvent event, void *arg);
static void rig_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);
static void rig_xact_reset(void);
static bool rig_xact_has_local_ops(void);
static void rig_publish_min(void);
static void rig_note_remote_ops(void);
static void rig_peer_work(void *arg);

/* Hook rig into every transaction of this process. */
void
rig_xact_init(void)
{
	RegisterXactCallback(rig_xact_callback, NULL);
	RegisterSubXactCallback(rig_subxact_callback, NULL);
}

/* Remember an op so commit can ship it and abort can forget it. */
void
rig_xact_register_op(int64 version, int64 epoch, const char *method,
					 Jsonb *data, text *idem_key, TimestampTz op_time,
					 const char *origin, const uint64 *locks, int nlocks,
					 bool remote)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	RigOp	   *op = palloc(sizeof(RigOp));

	op->version = version;
	op->epoch = epoch;
	op->op_time = op_time;
	op->subid = GetCurrentSubTransactionId();
	op->remote = remote;
	op->origin = pstrdup(origin);
	op->method = pstrdup(method);
	op->data = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(data));
	op->idem_key = idem_key ? (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(idem_key)) : NULL;
	op->nlocks = nlocks;
	op->locks = nlocks > 0 ? palloc(sizeof(uint64) * nlocks) : NULL;
	if (nlocks > 0)
		memcpy(op->locks, locks, sizeof(uint64) * nlocks);
	rig_xact_ops = lappend(rig_xact_ops, op);
	MemoryContextSwitchTo(old);

	rig_publish_min();
}

/*
 * Shipping functions read the log with the latest snapshot, which includes
 * this transaction's own uncommitted records: refuse to run after rig_do()
 * in the same transaction, or a rollback would leave them on the peer only.
 */
void
rig_xact_refuse_ops(const char *caller)
{
	if (rig_xact_ops == NIL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
			 errmsg("%s cannot run in a transaction that has written rig operations", caller),
			 errdetail("It would ship this transaction's uncommitted operations to the peer."),
			 errhint("Commit or roll back first, then call %s in a transaction of its own.", caller)));
}

/*
 * The primary says this node holds every version up to version; it counts
 * once this transaction prepares or commits (rig_note_confirmed).  The
 * shared state is loaded first, so that loading it later (which forgets
 * confirmations made to a dropped extension) cannot forget this one.
 */
void
rig_xact_note_confirmed(int64 version)
{
	rig_ensure_loaded();
	rig_xact_confirmed = Max(rig_xact_confirmed, version);
}

/*
 * The primary says how it treats this replica (a RigPeerMode) and that it
 * is in sync: recorded for rig.status's safe_to_promote when this
 * transaction commits.
 */
void
rig_xact_note_contact(int mode)
{
	rig_xact_contact_mode = mode;
}

/*
 * Run work(arg) in a subtransaction, so that one failing piece of a larger
 * job (a peer, a step of the worker) is reported and the rest goes on.
 * Returns NULL when it succeeded; otherwise the subtransaction is rolled
 * back and its error returned, copied into the caller's memory context.
 */
ErrorData *
rig_subxact_try(void (*work) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

/* True when this transaction ran rig_do() (not only applied remote ops). */
static bool
rig_xact_has_local_ops(void)
{
	ListCell   *lc;

	foreach(lc, rig_xact_ops)
	{
		if (!((RigOp *) lfirst(lc))->remote)
			return true;
	}
	return false;
}

/* Publish the smallest version still live in this transaction. */
static void
rig_publish_min(void)
{
	ListCell   *lc;
	int64		min = 0;

	foreach(lc, rig_xact_ops)
	{
		RigOp	   *op = lfirst(lc);

		if (min == 0 || op->version < min)
			min = op->version;
	}
	rig_inflight_set_min(min);
}

/*
 * A replica's ops become durable at PREPARE (or COMMIT): only then do
 * their versions raise last_assigned, so a call rolled back leaves the
 * shared state as it was.  Runs before the slot is cleared (readers load
 * last_assigned before the slots), and cannot fail.
 */
static void
rig_note_remote_ops(void)
{
	ListCell   *lc;
	int64		max = 0;

	foreach(lc, rig_xact_ops)
	{
		RigOp	   *op = lfirst(lc);

		if (op->remote && op->version > max)
			max = op->version;
	}
	if (max > 0)
		rig_note_assigned(max);
}

/* Forget the transaction's ops; its memory goes with TopTransactionContext. */
static void
rig_xact_reset(void)
{
	rig_xact_ops = NIL;
	rig_xact_confirmed = 0;
	rig_xact_contact_mode = -2;
	rig_handler_context_reset();
	rig_inflight_set_min(0);
}

/*
 * End of a top-level transaction: prepare on the peers before the local
 * commit, finish them after it, refuse PREPARE, and clear the in-flight
 * slot once the outcome is visible.
 */
static void
rig_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (rig_xact_has_local_ops())
				rig_replicate_prepare(rig_xact_ops);
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (rig_xact_has_local_ops())
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has run rig_do()"),
						 errdetail("rig commits its operations on this node and its peers with its own two-phase commit."),
						 errhint("Use COMMIT; rig prepares the transaction on its peers itself.")));
			break;
		case XACT_EVENT_COMMIT:
			if (rig_xact_ops != NIL)
				rig_replicate_commit();
			rig_note_remote_ops();
			rig_note_confirmed(rig_xact_confirmed);
			if (rig_xact_contact_mode > -2)
				rig_note_contact(rig_xact_contact_mode);
			rig_xact_reset();
			break;
		case XACT_EVENT_ABORT:
			rig_replicate_abort();
			rig_xact_reset();
			break;
		case XACT_EVENT_PREPARE:
			/* a replica's prepared ops: the transaction is no longer ours */
			rig_note_remote_ops();
			rig_note_confirmed(rig_xact_confirmed);
			/* a commit prepares here only while the primary has us in sync */
			if (rig_xact_ops != NIL)
				rig_note_contact(rig_xact_contact_mode > -2 ? rig_xact_contact_mode : -1);
			rig_xact_reset();
			break;
		default:
			break;
	}
}

/* A savepoint rolled back takes its ops with it; a released one passes them up. */
static void
rig_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, rig_xact_ops)
		{
			RigOp	   *op = lfirst(lc);

			if (op->subid == mySubid)
				op->subid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, rig_xact_ops)
		{
			RigOp	   *op = lfirst(lc);

			if (op->subid == mySubid)
				rig_xact_ops = foreach_delete_current(rig_xact_ops, lc);
		}
		/* (the handler context needs nothing here: rig_call_apply restores it) */
		rig_publish_min();
		/* a confirmation may have come in it: forgetting one is always safe */
		rig_xact_confirmed = 0;
	}
}

/* One peer's work for rig_foreach_peer, through rig_subxact_try */
typedef struct RigPeerWork
{
	void		(*work) (RigPeer *peer, void *arg);
	RigPeer    *peer;
	void	   *arg;
} RigPeerWork;

/* rig_subxact_try callback: do one peer's work. */
static void
rig_peer_work(void *arg)
{
	RigPeerWork *pw = arg;

	pw->work(pw->peer, pw->arg);
}

/*
 * Run work on every peer, each in a subtransaction, so that one failing
 * peer is reported (a WARNING, and its health) and the others go on.  A
 * query cancel still cancels everything.
 */
void
rig_foreach_peer(void (*work) (RigPeer *peer, void *arg), void *arg,
				 const char *what)
{
	ListCell   *lc;

	/*
	 * Work on a copy: a step that takes a lock may process a change of
	 * rig.peers, and reloading the cached list frees the one it came from.
	 */
	foreach(lc, rig_peer_list_copy())
	{
		RigPeerWork pw = {work, lfirst(lc), arg};
		ErrorData  *edata = rig_subxact_try(rig_peer_work, &pw);

		if (edata == NULL)
			continue;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		rig_peer_event(pw.peer->name,
					   ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION ?
					   RIG_PEER_STEP_LOST : RIG_PEER_STEP_FAILED, 0, edata->message);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not %s peer \"%s\": %s", what, pw.peer->name, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		FreeErrorData(edata);
	}
}
