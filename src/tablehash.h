/*-------------------------------------------------------------------------
 *
 * tablehash.h
 *	  A state table's primary key and the node-local side of comparing
 *	  state tables (tablehash.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/tablehash.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_TABLEHASH_H
#define RIG_TABLEHASH_H

#include "utils/array.h"

/* A table's primary key, as SQL */
typedef struct RigTableKey
{
	Oid			relid;
	Oid			owner;
	char	   *relname;		/* schema.table, quoted */
	int			nkeys;
	char	  **cols;			/* quoted column names */
	char	  **types;			/* qualified type names */
} RigTableKey;

extern void rig_table_key(Oid relid, RigTableKey *key);
extern char **rig_text_array_values(ArrayType *arr, int expect, int *n);

#endif							/* RIG_TABLEHASH_H */
