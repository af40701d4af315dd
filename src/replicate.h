/*-------------------------------------------------------------------------
 *
 * replicate.h
 *	  Shipping operations to peers (replicate.c), shared by the commit path
 *	  and catch-up.
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

#include "conn.h"

/* Parameters of rig_apply_remote(sender, sender_epoch, version, epoch,
 * method, data, idempotency_key, op_time, origin, locks, confirmed) */
#define RIG_WIRE_NPARAMS 11

typedef struct RigWireOp
{
	char		sender_epoch[8];	/* binary int8 */
	char		version[8];
	char		epoch[8];
	char		op_time[8];			/* binary timestamptz */
	char		confirmed[8];		/* binary int8 */
	char	   *locks;			/* binary int8[] of lock hashes, or NULL */
	const char *values[RIG_WIRE_NPARAMS];
	int			lengths[RIG_WIRE_NPARAMS];
} RigWireOp;

extern void rig_wire_op_init(RigWireOp *w, const char *sender, int64 sender_epoch,
							 int64 version, int64 epoch, const char *method,
							 const char *data, const char *idem_key,
							 TimestampTz op_time, const char *origin,
							 const uint64 *locks, int nlocks);
extern bool rig_send_ops(RigConn *rc, RigWireOp *ops, int nops,
						 const char *final_sql, TimestampTz deadline);
extern bool rig_send_final(RigConn *rc, const char *final_sql,
						   TimestampTz deadline);
extern bool rig_read_ops(RigConn *rc, TimestampTz deadline, bool interruptible,
						 PGresult **err, bool *timed_out);
extern void rig_check_handlers_match(RigConn *rc, const char *name);
extern bool rig_settled_elsewhere(PGresult *res);
extern void rig_send_confirm(const char *peer, const char *conninfo, int64 confirmed);
extern int64 rig_ship_log(const char *peer, const char *conninfo, int64 after,
						  int64 upto);
extern void rig_ops_failed(RigConn *rc, PGresult *err, bool timed_out,
						   const char *what) pg_attribute_noreturn();

#endif							/* RIG_REPLICATE_H */
