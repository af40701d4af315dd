/*-------------------------------------------------------------------------
 *
 * gid.c
 *	  The names of rig's prepared transactions on its peers.
 *
 * A GID names the primary, its epoch, the primary's incarnation
 * (incarnation.c) and transaction, and the versions the branch holds: the
 * resolver finds the outcome on the primary, and a peer sees which
 * versions it holds in doubt, even after a restart, by reading
 * pg_prepared_xacts.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/gid.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"

#include "gid.h"
#include "incarnation.h"
#include "settings.h"

/*
 * The GID of a transaction's branch on peers: rig_<node>_<epoch>_
 * <incarnation>_<xid>_<first version>_<last version>.  The incarnation and
 * the xid let the resolver find the outcome here; the versions let a peer
 * see which versions it holds in doubt, even after a restart.
 */
char *
rig_make_gid(int64 epoch, FullTransactionId fxid, int64 first, int64 last)
{
	return psprintf("rig_%s_" INT64_FORMAT "_" UINT64_FORMAT "_" UINT64_FORMAT
					"_" INT64_FORMAT "_" INT64_FORMAT,
					rig_node_name(), epoch, rig_incarnation(),
					U64FromFullTransactionId(fxid), first, last);
}

/*
 * Take a GID rig_make_gid() made apart into *g; node NULL accepts any
 * node.  False when gid is not one of rig's (or not node's).
 */
bool
rig_parse_gid(const char *gid, const char *node, RigGid *g)
{
	char		buf[GIDSIZE];
	uint64		num[RIG_GID_NUMBERS];	/* last, first, xid, incarnation, epoch */

	if (strlcpy(buf, gid, sizeof(buf)) >= sizeof(buf) ||
		strncmp(buf, "rig_", 4) != 0)
		return false;
	for (int i = 0; i < RIG_GID_NUMBERS; i++)
	{
		char	   *sep = strrchr(buf, '_');
		char	   *end;

		if (sep == NULL || sep[1] == '\0' || !isdigit((unsigned char) sep[1]))
			return false;
		errno = 0;
		num[i] = strtou64(sep + 1, &end, 10);
		if (*end != '\0' || errno != 0)
			return false;
		*sep = '\0';
	}
	if (strlen(buf) <= 4 || strlen(buf + 4) >= NAMEDATALEN ||
		(node != NULL && strcmp(buf + 4, node) != 0))
		return false;
	strlcpy(g->node, buf + 4, NAMEDATALEN);
	g->epoch = (int64) num[4];
	g->incarnation = num[3];
	g->fxid = FullTransactionIdFromU64(num[2]);
	g->first = (int64) num[1];
	g->last = (int64) num[0];
	return true;
}
