/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  rig's own schema and relations (catalog.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_CATALOG_H
#define RIG_CATALOG_H

#include "executor/spi.h"

extern void rig_catalog_init(void);
extern Oid	rig_schema_oid(void);
extern Oid	rig_relid(const char *relname);
extern Oid	rig_rel_owner(Oid relid);
extern void rig_insert_row(const char *relname, Datum *values, bool *nulls);
extern int	rig_spi_as_owner(const char *relname, const char *sql, int nargs,
							 Oid *types, Datum *values, const char *nulls);
extern int	rig_spi_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
						 Datum *values, const char *nulls, bool read_only, long count);
extern int	rig_spi_kept_as_owner(const char *relname, SPIPlanPtr *plan, const char *sql,
								  int nargs, Oid *types, Datum *values, const char *nulls);
extern int	rig_spi_as_role(Oid owner, const char *sql, int nargs, Oid *types,
							Datum *values, bool read_only);
extern int	rig_spi_generic_as(Oid owner, const char *sql, int nargs,
							   Oid *types, Datum *values);
extern void rig_check_identifier(const char *what, const char *name);

#endif							/* RIG_CATALOG_H */
