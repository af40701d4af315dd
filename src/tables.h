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

extern void rig_tables_init(void);
extern bool rig_table_is_registered(Oid relid);
extern List *rig_registered_tables(void);
extern void rig_tables_truncate(List *relids);
extern void rig_tables_allow_schema_change(bool allow);

/* for tableguard.c */
extern bool rig_tables_any(void);
extern Oid	rig_tables_in_schema(Oid nsp);
extern bool rig_tables_allowed(void);
extern bool rig_tables_schema_allowed(void);
extern bool rig_tables_emptying_now(void);
extern char *rig_table_name(Oid relid);

#endif							/* RIG_TABLES_H */
