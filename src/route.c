/*-------------------------------------------------------------------------
 *
 * route.c
 *	  Routing clients to the primary with stock libpq.
 *
 * A client that lists every node (host=a,b target_session_attrs=read-write)
 * must land on the primary.  libpq 14+ skips a server that reports
 * default_transaction_read_only = on when the connection starts, so on a
 * node that is not the primary (a replica, or one promoting or fenced) new
 * ordinary sessions in rig.database start with it on.  Superusers and
 * members of rig_replication (a primary applies its ops through such
 * sessions) keep writing; rig's worker never passes through here.
 *
 * The setting must be made before PostgresMain reports the GUC_REPORT
 * settings, and PostgreSQL 15 has no hook between InitPostgres and that
 * report, so it is made from ClientAuthentication_hook.  That hook runs in
 * InitPostgres's startup transaction, after authentication, but before the
 * database is selected: only the shared catalogs can be read (pg_authid and
 * pg_auth_members, as pg_hba.conf's +group matching reads them), not
 * rig.node.  So node.c publishes in shared memory whether the node is the
 * primary each time a process reads rig.node and when a change of it
 * commits, and the worker reads it every round; the hook reads only that.
 * Until something read rig.node after a start (normally the worker, at
 * once) the node's role is unknown and sessions start as stock PostgreSQL
 * starts them.
 *
 * The value is set as an override, so a client's startup options and
 * ALTER ROLE ... SET do not undo it and RESET or DISCARD ALL return to it;
 * SET default_transaction_read_only = off in the session still works.  It
 * routes clients; it protects nothing (rig_do on a replica is refused).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/route.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/*
 * libpq/libpq-be.h (for Port) includes GSSAPI's headers when the server was
 * built with GSSAPI, which would make rig need them to build; without it the
 * header declares Port with the same offsets (its own promise, for
 * extensions' ABI), and rig reads only its database and user names.
 */
#undef ENABLE_GSS

#include "access/htup_details.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "nodes/pg_list.h"
#include "replication/walsender.h"
#include "utils/acl.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "node.h"
#include "route.h"
#include "settings.h"
#include "shmem.h"

static ClientAuthentication_hook_type rig_prev_client_auth_hook = NULL;

static void rig_route_client_auth(Port *port, int status);
static bool rig_route_exempt(const char *user_name);
static bool rig_route_member_of(Oid member, Oid role);

/* Install the authentication hook; called from _PG_init. */
void
rig_route_init(void)
{
	rig_prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = rig_route_client_auth;
}

/*
 * Read rig.node again and publish whether this node is the primary, or that
 * it is not known while the extension does not exist; the worker's round.
 */
void
rig_route_refresh(void)
{
	if (OidIsValid(get_extension_oid("rig", true)))
		rig_node_refresh();
	else
		rig_shmem_set_route_role(RIG_ROUTE_UNKNOWN);
}

/*
 * After a successful authentication to rig.database on a node that is not
 * the primary, start an ordinary session read-only, so that libpq's
 * target_session_attrs=read-write passes this node by.
 */
static void
rig_route_client_auth(Port *port, int status)
{
	if (rig_prev_client_auth_hook)
		rig_prev_client_auth_hook(port, status);

	if (status != STATUS_OK || am_walsender)
		return;
	if (rig_shmem_route_role() != RIG_ROUTE_NOT_PRIMARY)
		return;
	if (port->database_name == NULL || rig_database == NULL ||
		strcmp(port->database_name, rig_database) != 0)
		return;
	if (rig_route_exempt(port->user_name))
		return;

	/* PGC_SUSET: there is no current user yet to check a USERSET change for */
	SetConfigOption("default_transaction_read_only", "on", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Superusers and members of rig_replication keep writing on any node.  A
 * role that does not exist is left alone: InitPostgres refuses it next.
 */
static bool
rig_route_exempt(const char *user_name)
{
	HeapTuple	tup;
	Oid			roleid;
	bool		super;
	Oid			replication;

	if (user_name == NULL)
		return true;
	tup = SearchSysCache1(AUTHNAME, CStringGetDatum(user_name));
	if (!HeapTupleIsValid(tup))
		return true;
	roleid = ((Form_pg_authid) GETSTRUCT(tup))->oid;
	super = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
	ReleaseSysCache(tup);
	if (super)
		return true;

	replication = get_role_oid("rig_replication", true);
	return OidIsValid(replication) && rig_route_member_of(roleid, replication);
}

/*
 * Whether member is a member of role, directly or through other roles (what
 * pg_has_role(member, role, 'MEMBER') says for a role that is not a
 * superuser).  Walks pg_auth_members itself rather than calling
 * is_member_of_role(): acl.c caches that answer per role, and before the
 * database is selected it would be cached without pg_database_owner.
 */
static bool
rig_route_member_of(Oid member, Oid role)
{
	List	   *seen = list_make1_oid(member);
	bool		found = false;

	for (int i = 0; i < list_length(seen) && !found; i++)
	{
		CatCList   *memlist;

		memlist = SearchSysCacheList1(AUTHMEMMEMROLE,
									  ObjectIdGetDatum(list_nth_oid(seen, i)));
		for (int j = 0; j < memlist->n_members; j++)
		{
			Oid			granted = ((Form_pg_auth_members)
								   GETSTRUCT(&memlist->members[j]->tuple))->roleid;

			if (granted == role)
			{
				found = true;
				break;
			}
			seen = list_append_unique_oid(seen, granted);
		}
		ReleaseSysCacheList(memlist);
	}
	list_free(seen);
	return found;
}
