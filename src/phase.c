/*-------------------------------------------------------------------------
 *
 * phase.c
 *	  Phase calls of transactions across nodes on the branch nodes: the
 *	  SQL and key of each call, pipelined sends and their answers, which
 *	  errors are transient, and each node's backoff (for coord.c).
 *
 * A pass sends every call due on another node over up to RIG_PHASE_LANES
 * connections per node (conn.c's cache, keys "<node>#node<lane>"), each
 * call with a Sync of its own so that it is its own transaction there,
 * to all nodes before reading any answer; then it reads every answer
 * within one rig.sync_timeout.  A node that leaves a call unanswered backs
 * off (100 ms doubling to 10 s, and at least rig.sync_timeout after it let
 * that pass); one that answers is tried at once again.  This node's own
 * calls (coord.c runs them) back off per branch instead: one that waited
 * for a lock says nothing of the others.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/phase.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "phase.h"
#include "settings.h"

/* Connections per branch node over which a pass spreads its calls */
#define RIG_PHASE_LANES			4

/* Backoff of a node after a transient failure: doubling, within these (ms) */
#define RIG_PHASE_BACKOFF_MIN_MS	100
#define RIG_PHASE_BACKOFF_MAX_MS	10000

/* A node's transient failures and when to try it again */
typedef struct RigNodeBackoff
{
	char		name[NAMEDATALEN];
	int			failures;
	TimestampTz next_try;
} RigNodeBackoff;

static HTAB *rig_phase_backoff = NULL;

static bool rig_phase_transient(RigCoordCall *call, const char *sqlstate,
								const char *message);
static RigNodeBackoff *rig_phase_backoff_entry(const char *node);
static void rig_phase_node_result(const char *node, bool failed, bool slow);
static RigConn *rig_phase_send(const char *node, int lane, const char *conninfo,
							   List *calls);
static bool rig_phase_read_answers(RigConn *rc, List *calls, TimestampTz deadline);

/* A phase's name, in keys and messages. */
const char *
rig_phase_name(RigPhase phase)
{
	static const char *const names[] = {"prepare", "commit", "abort"};

	return names[phase];
}

/*
 * What backs off for a branch: its node, or, on this node, the branch
 * itself ("#<id>:<branch>", never a node name): a call here that waited
 * for a lock says nothing of the other branches here.
 */
static const char *
rig_phase_backoff_name(RigCoordTxn *t, int branch)
{
	if (strcmp(t->node[branch], rig_node_name()) != 0)
		return t->node[branch];
	return psprintf("#" INT64_FORMAT ":%d", t->id, branch);
}

/* May a call of this branch go now, or is it backing off? */
bool
rig_phase_ready(RigCoordTxn *t, int branch, TimestampTz now)
{
	RigNodeBackoff *bo = rig_phase_backoff_entry(rig_phase_backoff_name(t, branch));

	return bo == NULL || bo->next_try <= now;
}

/* After one of this node's own calls: reset or double its branch's backoff. */
void
rig_phase_local_result(RigCoordCall *call)
{
	rig_phase_node_result(rig_phase_backoff_name(call->txn, call->branch),
						  !call->answered, false);
}

/*
 * The SQL of a phase call: $1 method, $2 data, $3 key, $4 the prepare's key
 * (abort); $4 and $5 the commit and abort methods (prepare).
 */
const char *
rig_phase_sql(RigPhase phase)
{
	/*
	 * a prepare votes no (rig_do of the missing one raises) when the node
	 * lacks the branch's commit or abort method: a start may have trusted a
	 * session's memory of them (branches.c), and once held the branch
	 * could then neither commit nor abort
	 */
	if (phase == RIG_PHASE_PREPARE)
		return "SELECT pg_catalog.rig_do(coalesce((SELECT m FROM pg_catalog.unnest(ARRAY[$4, $5]::text[]) m "
			"WHERE NOT EXISTS (SELECT 1 FROM rig.handlers h WHERE h.method = m) LIMIT 1), $1), $2::jsonb, $3)";
	if (phase == RIG_PHASE_COMMIT)
		return "SELECT pg_catalog.rig_do($1, $2::jsonb, $3)";
	/*
	 * compensate a prepare that took effect; otherwise claim its key (once:
	 * a claim made before is its answer), with only the transaction and
	 * branch as data: the branch's own data may be what the prepare was
	 * refused for (too large for the node's rig.max_payload)
	 */
	return "SELECT CASE WHEN EXISTS (SELECT 1 FROM rig.idempotency_keys k "
		"WHERE k.idempotency_key = $4 AND k.method <> 'rig.transaction.claim') "
		"THEN pg_catalog.rig_do($1, $2::jsonb, $3) "
		"ELSE -coalesce((SELECT k.version FROM rig.idempotency_keys k WHERE k.idempotency_key = $4), "
		"pg_catalog.rig_do('rig.transaction.claim', pg_catalog.jsonb_build_object("
		"'transaction', $2::jsonb -> 'transaction', 'branch', $2::jsonb -> 'branch'), $4)) END";
}

/* How many parameters rig_phase_sql's statement of a phase takes. */
int
rig_phase_nparams(RigPhase phase)
{
	return phase == RIG_PHASE_PREPARE ? 5 : phase == RIG_PHASE_ABORT ? 4 : 3;
}

/* The idempotency key of one phase of one branch. */
char *
rig_phase_key(RigCoordTxn *t, int branch, RigPhase phase)
{
	return psprintf("rig:%s:" INT64_FORMAT ":%d:%s", t->coordinator, t->id,
					branch, rig_phase_name(phase));
}

/*
 * Errors worth retrying: the node or the connection, resources, a
 * timeout or cancel, a serialization failure or deadlock, a node not in a
 * state to write now (a replica, fenced, promoting), and an abort's claim
 * that lost the race to a prepare still running (its key is now the
 * prepare's: the next try compensates it).  Anything else is the branch's
 * answer.
 */
static bool
rig_phase_transient(RigCoordCall *call, const char *sqlstate, const char *message)
{
	if (sqlstate == NULL)
		return true;
	if (call->phase == RIG_PHASE_ABORT && strcmp(sqlstate, "22023") == 0 &&
		strstr(message, rig_phase_key(call->txn, call->branch, RIG_PHASE_PREPARE)) != NULL)
		return true;
	return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
		strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "58", 2) == 0 ||
		strncmp(sqlstate, "40", 2) == 0 || strncmp(sqlstate, "RG", 2) == 0 ||
		strcmp(sqlstate, "55P03") == 0 || strcmp(sqlstate, "55000") == 0 ||
		strcmp(sqlstate, "25006") == 0;
}

/* Note a call's answer: a value, a definite error, or one to retry. */
void
rig_phase_answer(RigCoordCall *call, const char *sqlstate,
				 const char *message, const char *value)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(call));

	if (value != NULL)
	{
		call->answered = true;
		call->ok = true;
		call->result = pg_strtoint64(value);
	}
	else if (!rig_phase_transient(call, sqlstate, message))
	{
		call->answered = true;
		call->ok = false;
		call->error = psprintf("%s: %s", sqlstate, message);
	}
	else
	{
		call->answered = false;
		call->error = pstrdup(message);
	}
	MemoryContextSwitchTo(old);
}

/* The backoff entry of a node (NULL: none yet). */
static RigNodeBackoff *
rig_phase_backoff_entry(const char *node)
{
	if (rig_phase_backoff == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RigNodeBackoff);
		rig_phase_backoff = hash_create("rig node backoff", 16, &ctl,
										HASH_ELEM | HASH_STRINGS);
	}
	return hash_search(rig_phase_backoff, node, HASH_FIND, NULL);
}

/*
 * After talking to a node: reset its backoff, or double it.  A node that
 * let rig.sync_timeout pass without answering (slow: it hangs, or a call
 * waits there) backs off at least that long, so the passes that wait for
 * it leave as much time to the other nodes' transactions as they take.
 */
static void
rig_phase_node_result(const char *node, bool failed, bool slow)
{
	RigNodeBackoff *bo;
	bool		found;
	long		ms;

	(void) rig_phase_backoff_entry(node);
	if (!failed)
	{
		(void) hash_search(rig_phase_backoff, node, HASH_REMOVE, NULL);
		return;
	}
	bo = hash_search(rig_phase_backoff, node, HASH_ENTER, &found);
	if (!found)
		bo->failures = 0;
	bo->failures = Min(bo->failures + 1, 20);
	ms = Min((long) RIG_PHASE_BACKOFF_MIN_MS << (bo->failures - 1), RIG_PHASE_BACKOFF_MAX_MS);
	if (slow)
		ms = Max(ms, rig_sync_timeout);
	bo->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
}

/*
 * Send every call to another node, to all nodes first (one pipelined
 * connection each, opened within rig.sync_timeout); returns, per node
 * sent to, its name, connection and calls, for rig_phase_read_remote.
 */
List *
rig_phase_send_remote(List *calls, List *nodes)
{
	List	   *names = NIL;
	List	   *sent = NIL;
	ListCell   *lc;

	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);
		const char *node = call->txn->node[call->branch];

		if (strcmp(node, rig_node_name()) != 0 && !list_member(names, makeString((char *) node)))
			names = lappend(names, makeString((char *) node));
	}
	foreach(lc, names)
	{
		const char *node = strVal(lfirst(lc));
		const char *conninfo = NULL;
		List	   *mine = NIL;
		ListCell   *lc2;
		RigConn    *rc;

		for (int i = 0; i + 1 < list_length(nodes); i += 2)
			if (strcmp((char *) list_nth(nodes, i), node) == 0)
				conninfo = list_nth(nodes, i + 1);
		foreach(lc2, calls)
		{
			RigCoordCall *call = lfirst(lc2);

			if (strcmp(call->txn->node[call->branch], node) == 0)
				mine = lappend(mine, call);
		}
		if (conninfo == NULL)
		{
			foreach(lc2, mine)
				rig_phase_answer(lfirst(lc2), NULL,
								 psprintf("node \"%s\" is not in rig.remote_nodes", node), NULL);
			continue;
		}
		/* up to RIG_PHASE_LANES connections, calls dealt round-robin */
		for (int lane = 0; lane < RIG_PHASE_LANES && lane < list_length(mine); lane++)
		{
			List	   *dealt = NIL;

			for (int i = lane; i < list_length(mine); i += RIG_PHASE_LANES)
				dealt = lappend(dealt, list_nth(mine, i));
			rc = rig_phase_send(node, lane, conninfo, dealt);
			if (rc != NULL)
				sent = lappend(sent, list_make3((void *) node, rc, dealt));
		}
	}
	return sent;
}

/*
 * Read the answers of every connection sent to, all within one
 * rig.sync_timeout from now: the nodes work in parallel, and a node that
 * does not answer costs the pass one timeout, not one per node.  Then a
 * node with a call left unanswered backs off; the others are reset.
 */
void
rig_phase_read_remote(List *sent, List *calls)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	List	   *failed = NIL;
	List	   *answered = NIL;
	List	   *slow = NIL;
	ListCell   *lc;

	foreach(lc, sent)
	{
		List	   *s = lfirst(lc);

		if (!rig_phase_read_answers(list_nth(s, 1), list_nth(s, 2), deadline))
			slow = list_append_unique(slow, makeString((char *) linitial(s)));
	}
	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);
		String	   *node = makeString(call->txn->node[call->branch]);

		/* this node's own calls back off per branch (rig_phase_local_result) */
		if (strcmp(strVal(node), rig_node_name()) == 0)
			continue;
		if (!call->answered)
			failed = list_append_unique(failed, node);
		else
			answered = list_append_unique(answered, node);
	}
	foreach(lc, answered)
		if (!list_member(failed, lfirst(lc)))
			rig_phase_node_result(strVal(lfirst(lc)), false, false);
	foreach(lc, failed)
		rig_phase_node_result(strVal(lfirst(lc)), true, list_member(slow, lfirst(lc)));
}

/*
 * Send calls on one of a node's connections: pipelined, each call with a sync
 * of its own (its own transaction there: one call's error does not undo
 * another's).  NULL when the node cannot be reached: then every call
 * stays to be retried (and the node backs off, rig_phase_read_remote).
 */
static RigConn *
rig_phase_send(const char *node, int lane, const char *conninfo, List *calls)
{
	char		key[RIG_CONN_KEYLEN];
	char	   *err = NULL;
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	RigConn    *rc;
	ListCell   *lc;

	snprintf(key, sizeof(key), "%s#node%d", node, lane);
	rc = rig_conn_try_get(key, conninfo, deadline, &err);
	if (rc != NULL && PQenterPipelineMode(rc->conn) != 1)
	{
		err = pchomp(PQerrorMessage(rc->conn));
		rig_conn_discard(rc);
		rc = NULL;
	}
	if (rc != NULL)
	{
		foreach(lc, calls)
		{
			RigCoordCall *call = lfirst(lc);
			RigCoordTxn *t = call->txn;
			const char *params[5];

			params[0] = t->method[call->phase][call->branch];
			params[1] = t->data[call->branch];
			params[2] = rig_phase_key(t, call->branch, call->phase);
			params[3] = call->phase == RIG_PHASE_PREPARE ? t->method[RIG_PHASE_COMMIT][call->branch] :
				rig_phase_key(t, call->branch, RIG_PHASE_PREPARE);
			params[4] = t->method[RIG_PHASE_ABORT][call->branch];
			if (!PQsendQueryParams(rc->conn, rig_phase_sql(call->phase),
								   rig_phase_nparams(call->phase),
								   NULL, params, NULL, NULL, 0) ||
				!PQpipelineSync(rc->conn))
			{
				err = pchomp(PQerrorMessage(rc->conn));
				rig_conn_discard(rc);
				rc = NULL;
				break;
			}
		}
	}
	if (rc != NULL && !rig_conn_flush(rc, deadline, true))
	{
		err = pchomp(PQerrorMessage(rc->conn));
		rig_conn_discard(rc);
		rc = NULL;
	}
	if (rc == NULL)
	{
		foreach(lc, calls)
			rig_phase_answer(lfirst(lc), NULL, err ? err : "could not reach the node", NULL);
	}
	return rc;
}

/*
 * Read one answer per call, in order; a broken or slow node leaves the
 * rest.  False when the deadline passed first.
 */
static bool
rig_phase_read_answers(RigConn *rc, List *calls, TimestampTz deadline)
{
	ListCell   *lc;

	foreach(lc, calls)
	{
		RigCoordCall *call = lfirst(lc);
		bool		synced = false;
		bool		got = false;
		int			nulls = 0;

		while (!synced)
		{
			bool		timed_out;
			PGresult   *res = rig_conn_result(rc, deadline, true, &timed_out);

			if (res == NULL)
			{
				if (timed_out || PQstatus(rc->conn) == CONNECTION_BAD || ++nulls > 2)
				{
					const char *why = timed_out ?
						psprintf("no answer within rig.sync_timeout (%d ms)", rig_sync_timeout) :
						pchomp(PQerrorMessage(rc->conn));

					/* this call and every later one stay to be retried */
					for (int j = foreach_current_index(lc); j < list_length(calls); j++)
						if (!((RigCoordCall *) list_nth(calls, j))->answered)
							rig_phase_answer(list_nth(calls, j), NULL, why, NULL);
					rig_conn_discard(rc);
					return !timed_out;
				}
				continue;
			}
			nulls = 0;
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
				synced = true;
			else if (!got && PQresultStatus(res) == PGRES_TUPLES_OK)
			{
				rig_phase_answer(call, NULL, NULL, PQgetvalue(res, 0, 0));
				got = true;
			}
			else if (!got)
			{
				rig_phase_answer(call, PQresultErrorField(res, PG_DIAG_SQLSTATE),
								 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
								 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
								 PQresultErrorMessage(res), NULL);
				got = true;
			}
			PQclear(res);
		}
	}
	if (PQexitPipelineMode(rc->conn) != 1)
		rig_conn_discard(rc);
	return true;
}
