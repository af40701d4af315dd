/*-------------------------------------------------------------------------
 *
 * handlers.h
 *	  The handler registry and how handlers are called (handlers.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/handlers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_HANDLERS_H
#define RIG_HANDLERS_H

#include "fmgr.h"
#include "settings.h"

/*
 * Methods beginning with this are rig's own: the handler and schema change
 * records (sysrec.c) and the ordinary methods rig's install script
 * registers (rig.transaction.*, coord.c); rig_register refuses them.
 */
#define RIG_SYSTEM_METHOD_PREFIX	"rig."

/* A registered method's handlers, resolved for calling */
typedef struct RigHandler
{
	char		method[RIG_MAX_NAME_LEN + 1];
	Oid			apply_oid;
	Oid			validate_oid;
	Oid			resources_oid;
	Oid			apply_owner;	/* handlers run as their owner */
	Oid			validate_owner;
	Oid			resources_owner;
	bool		apply_exposed;	/* a role other than the owner may EXECUTE it */
	Oid			apply_grantee;	/* that role (ACL_ID_PUBLIC: PUBLIC) */
	FmgrInfo	apply;
	FmgrInfo	validate;
	FmgrInfo	resources;
} RigHandler;

extern void rig_handlers_init(void);
extern RigHandler *rig_lookup_handler(const char *method);
extern void rig_check_handler_private(RigHandler *handler);
extern int	rig_handler_settings_push(void);
extern void rig_handler_settings_pop(int nestlevel);
extern Datum rig_handler_invoke(FunctionCallInfo fcinfo, Oid owner);
extern bool rig_in_own_extension_script(void);
extern bool rig_session_has_temp_objects(void);
extern void rig_check_not_reserved(const char *method);
extern void rig_handler_check(const char *method, Oid apply, Oid validate,
							  Oid resources);
extern void rig_handler_store(const char *method, Oid apply, Oid validate,
							  Oid resources);
extern void rig_handler_remove(const char *method);

#endif							/* RIG_HANDLERS_H */
