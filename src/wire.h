/*-------------------------------------------------------------------------
 *
 * wire.h
 *	  How ops travel to a peer: pipelines of rig_apply_remote() calls and
 *	  their results (wire.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/wire.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_WIRE_H
#define RIG_WIRE_H

#include "utils/array.h"

#include "conn.h"
#include "peerlist.h"

/* Parameters of rig_apply_remote(sender, sender_epoch, version, epoch,
 * method, data, idempotency_key, op_time, origin, locks, confirmed) */
#define RIG_WIRE_NPARAMS 11

/* One rig_apply_remote() call, its parameters ready to send */
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
extern void rig_wire_op_confirm(RigWireOp *w, int64 confirmed);
extern int	rig_wire_decode_locks(ArrayType *arr, uint64 **out);
extern bool rig_send_ops(RigConn *rc, RigWireOp *ops, int nops,
						 const char *final_sql, TimestampTz deadline);
extern bool rig_read_ops(RigConn *rc, TimestampTz deadline, bool interruptible,
						 PGresult **err, bool *timed_out);
extern void rig_ops_failed(RigConn *rc, PGresult *err, bool timed_out,
						   const char *what) pg_attribute_noreturn();
extern bool rig_settled_elsewhere(PGresult *res);
extern void rig_send_confirm(const char *peer, const char *conninfo,
							 int64 confirmed, RigPeerMode mode);

#endif							/* RIG_WIRE_H */
