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
extern int	rig_handler_path_push(void);
extern void rig_handler_path_pop(int nestlevel);
extern Datum rig_handler_invoke(FunctionCallInfo fcinfo, Oid owner);

#endif							/* RIG_HANDLERS_H */
