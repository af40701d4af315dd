/*-------------------------------------------------------------------------
 *
 * write.h
 *	  The write path on the primary (write.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/write.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_WRITE_H
#define RIG_WRITE_H

#include "utils/jsonb.h"

extern int64 rig_do_internal(const char *method, Jsonb *data, const char *key);
extern int64 rig_write_system(const char *caller, const char *method, Jsonb *data);

#endif							/* RIG_WRITE_H */
