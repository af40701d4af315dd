/*-------------------------------------------------------------------------
 *
 * xact.h
 *	  rig's transaction state, its callbacks, and work in subtransactions
 *	  (xact.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/xact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_XACT_H
#define RIG_XACT_H

#include "datatype/timestamp.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

#include "peerlist.h"

extern void rig_xact_init(void);
extern void rig_xact_register_op(int64 version, int64 epoch, const char *method,
								 Jsonb *data, text *idem_key,
								 TimestampTz op_time, const char *origin,
								 const uint64 *locks, int nlocks, bool remote);
extern void rig_xact_refuse_ops(const char *caller);
extern void rig_xact_note_confirmed(int64 version);
extern void rig_xact_note_contact(int mode);
extern ErrorData *rig_subxact_try(void (*work) (void *arg), void *arg);
extern void rig_foreach_peer(void (*work) (RigPeer *peer, void *arg), void *arg,
							 const char *what);

#endif							/* RIG_XACT_H */
