/*-------------------------------------------------------------------------
 *
 * decide.c
 *	  The rules of a transaction across nodes: what each branch's answer
 *	  means, which transition the branches' progress allows, and the
 *	  events a step records for them (coord.c drives the passes).
 *
 *	  preparing --(every branch voted yes)--> committing --> committed
 *	  preparing --(a no, the deadline, a client)--> aborting --> aborted
 *	  committing / aborting --(a phase raised a non-transient error)--> failed
 *
 * A transaction is failed only once every other branch has had its phase
 * too.  The events are noted as a JSON array's elements in the
 * transaction (RigCoordTxn.events), which the coordinator records as one
 * rig op; noting also says whether the step must be durable at its commit
 * (RigCoordTxn.durable) and whether it ended the transaction.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/decide.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"
#include "utils/memutils.h"

#include "decide.h"
#include "phase.h"

/* Note one definite answer as an event, and what it means for the branch. */
void
rig_decide_answer(RigCoordCall *call)
{
	RigCoordTxn *t = call->txn;
	int			b = call->branch;
	const char *event;
	char	   *detail = call->error;

	switch (call->phase)
	{
		case RIG_PHASE_PREPARE:
			event = call->ok ? "prepared" : "refused";
			t->flags[b] |= call->ok ? RIG_BRANCH_PREPARED : RIG_BRANCH_REFUSED;
			if (!call->ok && t->refused_branch < 0)
			{
				t->refused_branch = b;
				t->refused_error = call->error;
			}
			break;
		case RIG_PHASE_COMMIT:
			event = call->ok ? "committed" : "commit failed";
			if (call->ok)
				t->flags[b] |= RIG_BRANCH_COMMITTED;
			break;
		default:
			event = !call->ok ? "abort failed" :
				call->result > 0 ? "compensated" : "released";
			if (call->ok)
				t->flags[b] |= RIG_BRANCH_ABORTED;
			if (call->ok && call->result < 0)
				detail = "its prepare never took effect: its key is claimed, nothing to compensate";
			break;
	}
	if (!call->ok && call->phase != RIG_PHASE_PREPARE)
	{
		t->flags[b] |= RIG_BRANCH_FAILED;
		if (t->failed_branch < 0)
		{
			t->failed_branch = b;
			t->failed_error = call->error;
		}
	}
	if (call->ok && detail == NULL)
		detail = psprintf("version " INT64_FORMAT " on node \"%s\"",
						  call->result < 0 ? -call->result : call->result, t->node[b]);
	rig_decide_note(t, event, b, detail, NULL, NULL, -1);
}

/*
 * The transition the branches' progress allows, if any: noted for the
 * transaction's op when note, else only said (true if one is due).
 */
bool
rig_decide(RigCoordTxn *t, bool note)
{
	bool		preparing = strcmp(t->state, "preparing") == 0;
	bool		committing = strcmp(t->state, "committing") == 0;
	int			need = preparing ? RIG_BRANCH_PREPARED :
		committing ? RIG_BRANCH_COMMITTED : RIG_BRANCH_ABORTED;
	bool		all = true;
	bool		ended = true;
	int			refused = t->refused_branch;
	const char *state = NULL;
	const char *detail = NULL;
	const char *reason = NULL;
	int			reason_branch = -1;

	for (int b = 0; b < t->nbranches; b++)
	{
		if (!(t->flags[b] & need))
			all = false;
		if (!(t->flags[b] & (need | RIG_BRANCH_FAILED)))
			ended = false;
		if (refused < 0 && (t->flags[b] & RIG_BRANCH_REFUSED))
			refused = b;
	}

	if (preparing && refused >= 0)
	{
		state = "aborting";
		detail = t->refused_error ? t->refused_error : "a branch voted no";
		reason = "branch";
		reason_branch = refused;
	}
	else if (preparing && t->expired && !all)
	{
		state = "aborting";
		detail = "not every branch voted yes before the deadline";
		reason = "timeout";
	}
	else if (preparing && all)
		state = "committing";
	/* failed once every other branch has had its phase too */
	else if (!preparing && t->failed_branch >= 0 && ended)
	{
		state = "failed";
		detail = t->failed_error;
		reason = "branch";
		reason_branch = t->failed_branch;
	}
	else if (!preparing && all)
		state = committing ? "committed" : "aborted";

	if (state != NULL && note)
		rig_decide_note(t, state, -1, detail, state, reason, reason_branch);
	return state != NULL;
}

/*
 * Note one event (and transition) for the transaction's op of this step,
 * in the transaction's own memory (the coordinator's, which outlives the
 * step's transaction: the next step reads the state).
 */
void
rig_decide_note(RigCoordTxn *t, const char *event, int branch, const char *detail,
			   const char *state, const char *reason, int reason_branch)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(t));
	StringInfo	data;
	bool		final = state != NULL && (strcmp(state, "committed") == 0 ||
										  strcmp(state, "aborted") == 0 ||
										  strcmp(state, "failed") == 0);

	/* see RigCoordTxn.durable: what the keys would answer again */
	if (!(branch >= 0 && (strcmp(event, "committed") == 0 ||
						  strcmp(event, "compensated") == 0 ||
						  strcmp(event, "released") == 0)) &&
		!(final && strcmp(state, "failed") != 0))
		t->durable = true;
	if (final)
		t->ended = true;
	if (t->events == NULL)
		t->events = makeStringInfo();
	else
		appendStringInfoString(t->events, ", ");
	data = t->events;
	appendStringInfoString(data, "{\"event\": ");
	escape_json(data, event);
	if (branch >= 0)
		appendStringInfo(data, ", \"branch\": %d", branch);
	if (detail != NULL)
	{
		appendStringInfoString(data, ", \"detail\": ");
		escape_json(data, detail);
	}
	if (state != NULL)
	{
		appendStringInfoString(data, ", \"state\": ");
		escape_json(data, state);
		t->state = pstrdup(state);
	}
	if (reason != NULL)
	{
		appendStringInfoString(data, ", \"reason\": ");
		escape_json(data, reason);
		if (reason_branch >= 0)
			appendStringInfo(data, ", \"reason_branch\": %d", reason_branch);
		if (detail != NULL)
		{
			appendStringInfoString(data, ", \"reason_detail\": ");
			escape_json(data, detail);
		}
	}
	appendStringInfoChar(data, '}');
	MemoryContextSwitchTo(old);
}
