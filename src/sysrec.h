/*-------------------------------------------------------------------------
 *
 * sysrec.h
 *	  rig's own log records: handler and schema changes (sysrec.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/sysrec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_SYSREC_H
#define RIG_SYSREC_H

#include "utils/jsonb.h"

/* The methods of rig's own records (all begin with RIG_SYSTEM_METHOD_PREFIX) */
#define RIG_SYSREC_REGISTER		"rig.register"
#define RIG_SYSREC_UNREGISTER	"rig.unregister"
#define RIG_SYSREC_DDL			"rig.ddl"

extern bool rig_is_system_method(const char *method);
extern void rig_ddl_check(const char *sql);
extern int	rig_sysrec_timeout_push(void);
extern void rig_sysrec_timeout_pop(int nest);
extern Jsonb *rig_sysrec_ddl_data(const char *sql, const char *search_path);
extern Jsonb *rig_sysrec_register_data(const char *method, Oid apply,
									   Oid validate, Oid resources);
extern bool rig_applying_system(void);
extern void rig_apply_system(const char *method, Jsonb *data, bool remote);

#endif							/* RIG_SYSREC_H */
