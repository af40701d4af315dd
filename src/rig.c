/*-------------------------------------------------------------------------
 *
 * rig.c
 *	  Loading the rig extension: _PG_init wires the modules together.
 *
 * rig must be loaded through shared_preload_libraries: it keeps in-flight
 * versions and its peers' health in shared memory and runs a background
 * worker.  This file only wires; every module owns its own work (the
 * layers, bottom to top, are in docs/design.md).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rig.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"

#include "catalog.h"
#include "handlers.h"
#include "incarnation.h"
#include "node.h"
#include "peerlist.h"
#include "peerstate.h"
#include "route.h"
#include "settings.h"
#include "shmem.h"
#include "tableguard.h"
#include "tables.h"
#include "worker.h"
#include "xact.h"
#include "xnode.h"

PG_MODULE_MAGIC;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);
static void rig_shmem_request_hook(void);
static void rig_shmem_startup_hook(void);

/* Entry point: refuse to load late, then define settings and hooks. */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig must be loaded via shared_preload_libraries"),
				 errhint("Add rig to shared_preload_libraries in postgresql.conf and restart the server.")));

	rig_settings_define();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rig_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rig_shmem_startup_hook;

	rig_xact_init();
	rig_catalog_init();
	rig_handlers_init();
	rig_tables_init();
	rig_tableguard_init();
	rig_node_init();
	rig_peerlist_init();
	rig_route_init();
	rig_xnode_init();
	rig_worker_register();
}

/* Ask for rig's shared memory and locks before the postmaster sizes them. */
static void
rig_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	rig_shmem_request();
	rig_peerstate_request();
	rig_incarnation_request();
}

/* Attach to (or create) rig's shared state. */
static void
rig_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	rig_shmem_startup();
	rig_peerstate_startup();
	rig_incarnation_startup();
}
