/*-------------------------------------------------------------------------
 *
 * tables.h
 *	  State tables registered with rig: the registry (tables.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tables.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_TABLES_H
#define RIG_TABLES_H

#include "nodes/pg_list.h"

/* A snapshot chunk's load (snapshot.c): its statement may write, no other */
typedef enum RigTablesLoad
{
	RIG_LOAD_NONE,				/* no load */
	RIG_LOAD_ARMED,				/* the load's statement has yet to start */
	RIG_LOAD_RUNNING			/* it runs: nothing else may write */
} RigTablesLoad;

extern void rig_tables_init(void);
extern bool rig_table_is_registered(Oid relid);
extern List *rig_registered_tables(void);
extern void rig_tables_truncate(List *relids);
extern void rig_tables_allow_schema_change(bool allow);
extern void rig_tables_check_immediate(void);
extern void rig_tables_check_immediate_of(List *conrelids);
extern void rig_tables_set_loading(RigTablesLoad state);

/* for tableguard.c */
extern bool rig_tables_any(void);
extern Oid	rig_tables_in_schema(Oid nsp);
extern bool rig_tables_allowed(void);
extern bool rig_tables_schema_allowed(void);
extern bool rig_tables_emptying_now(void);
extern bool rig_tables_write_ok_now(void);
extern bool rig_tables_loading_now(void);
extern char *rig_table_name(Oid relid);

#endif							/* RIG_TABLES_H */
