/*-------------------------------------------------------------------------
 *
 * phase.h
 *	  Phase calls of transactions across nodes (phase.c): the shapes the
 *	  coordinator (coord.c) and the calls share.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/phase.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_PHASE_H
#define RIG_PHASE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

typedef enum RigPhase
{
	RIG_PHASE_PREPARE,
	RIG_PHASE_COMMIT,
	RIG_PHASE_ABORT
} RigPhase;

/* An unfinished transaction, as one pass sees it */
typedef struct RigCoordTxn
{
	int64		id;
	char	   *state;
	bool		expired;		/* its prepare deadline passed */
	char	   *coordinator;	/* the identity its keys name */
	TimestampTz created;		/* with id, which transaction it is */
	int			nbranches;
	char	  **node;
	char	  **method[3];		/* per phase */
	char	  **data;			/* data || {transaction, branch} */
	int		   *flags;
	bool		moved;			/* this step recorded a decision */
	/* this pass's answers that decide */
	int			refused_branch;
	char	   *refused_error;
	int			failed_branch;
	char	   *failed_error;
	/* this step's events, not yet recorded: a JSON array's elements */
	StringInfo	events;

	/*
	 * This step recorded something a crash must not lose (a decision, a
	 * branch's vote or failure, this node's own branch calls), so its
	 * transaction must be durable when it commits.  A step that only
	 * recorded other nodes' definite answers of a decided phase, and the
	 * final state they make, need not wait for its flush: lost in a crash,
	 * the next pass sends those calls again and their keys answer as
	 * before.
	 */
	bool		durable;
	bool		ended;			/* this step recorded a final state */
} RigCoordTxn;

/* One phase call of one branch, and its answer */
typedef struct RigCoordCall
{
	RigCoordTxn *txn;
	int			branch;
	RigPhase	phase;
	bool		answered;		/* a definite answer came */
	bool		ok;
	int64		result;
	char	   *error;			/* the branch's error, or why it is retried */
} RigCoordCall;

extern const char *rig_phase_name(RigPhase phase);
extern const char *rig_phase_sql(RigPhase phase);
extern int	rig_phase_nparams(RigPhase phase);
extern char *rig_phase_key(RigCoordTxn *t, int branch, RigPhase phase);
extern void rig_phase_answer(RigCoordCall *call, const char *sqlstate,
							 const char *message, const char *value);
extern bool rig_phase_ready(RigCoordTxn *t, int branch, TimestampTz now);
extern void rig_phase_local_result(RigCoordCall *call);
extern List *rig_phase_send_remote(List *calls, List *nodes);
extern void rig_phase_read_remote(List *sent, List *calls);

#endif							/* RIG_PHASE_H */
