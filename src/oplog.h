/*-------------------------------------------------------------------------
 *
 * oplog.h
 *	  The operation log rig.log (oplog.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/oplog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_OPLOG_H
#define RIG_OPLOG_H

#include "datatype/timestamp.h"
#include "funcapi.h"
#include "utils/jsonb.h"

/* One record of rig.log, as read for shipping */
typedef struct RigLogRecord
{
	int64		version;
	int64		epoch;
	char	   *method;
	Jsonb	   *jdata;
	char	   *data;			/* jdata as text */
	uint64	   *locks;			/* resource hashes (ship.c fills them) */
	int			nlocks;			/* -1: unknown method */
	char	   *idem_key;		/* NULL when none */
	TimestampTz op_time;
	char	   *origin;
} RigLogRecord;

extern void rig_log_append(int64 version, int64 epoch, const char *method,
						   Jsonb *data, text *idem_key, TimestampTz op_time,
						   const char *origin);
extern bool rig_log_has_version(int64 version);
extern int64 rig_log_version_epoch(int64 version);
extern int	rig_log_read(int64 after, int64 upto, int max, Size max_bytes,
						 RigLogRecord *out, bool *limited);
extern void rig_log_return(ReturnSetInfo *rsinfo, int64 after, int64 upto,
						   int max_rows);
extern int64 rig_log_last_version(void);
extern int64 rig_log_first_version(void);
extern void rig_flush_visible(void);
extern void rig_log_check_retained(int64 after);
extern uint64 rig_log_guarded_delete(const char *sql, int nargs, Oid *types,
									 Datum *values);

#endif							/* RIG_OPLOG_H */
