/*-------------------------------------------------------------------------
 *
 * replicate.h
 *	  Two-phase commit of a transaction's operations on this primary's
 *	  peers (replicate.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/replicate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_REPLICATE_H
#define RIG_REPLICATE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* One operation written by the current transaction (xact.c keeps the list) */
typedef struct RigOp
{
	int64		version;
	int64		epoch;
	TimestampTz op_time;
	SubTransactionId subid;
	bool		remote;			/* applied for this replica's primary */
	char	   *method;
	Jsonb	   *data;
	text	   *idem_key;		/* NULL when the op has none */
	char	   *origin;
	uint64	   *locks;			/* hashes of its resources, sorted */
	int			nlocks;
} RigOp;

extern void rig_replicate_connect_early(void);
extern void rig_replicate_prepare(List *ops);
extern void rig_replicate_commit(void);
extern void rig_replicate_abort(void);

#endif							/* RIG_REPLICATE_H */
