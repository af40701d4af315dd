/*-------------------------------------------------------------------------
 *
 * status_print.c
 *	  rigctl status for people: the JSON report printed as text, one line
 *	  per node, peer and follower, then the verdict and its reasons.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/status_print.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>

#include "rigctl.h"

static const char *rigctl_str(json_t *obj, const char *key);
static long long rigctl_int(json_t *obj, const char *key);
static void rigctl_print_node(json_t *node);
static void rigctl_print_peer(json_t *peer);
static void rigctl_print_follower(json_t *f);

/* A string field, "-" when null or absent. */
static const char *
rigctl_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "-";
}

/* An integer field, 0 when null or absent. */
static long long
rigctl_int(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* A peer, as its primary sees it. */
static void
rigctl_print_peer(json_t *peer)
{
	printf("  peer %s: %s, %s, connection %s, %lld versions / %.1f s behind",
		   rigctl_str(peer, "name"), rigctl_str(peer, "mode"), rigctl_str(peer, "state"),
		   rigctl_str(peer, "connection"), rigctl_int(peer, "versions_behind"),
		   json_number_value(json_object_get(peer, "seconds_behind")));
	if (json_is_string(json_object_get(peer, "last_error")))
		printf(", last error: %s", rigctl_str(peer, "last_error"));
	putchar('\n');
}

/* A follower, as its primary sees it. */
static void
rigctl_print_follower(json_t *f)
{
	printf("  follower %s: holds up to %lld, %lld versions behind, last seen %s\n",
		   rigctl_str(f, "name"), rigctl_int(f, "acked_version"),
		   rigctl_int(f, "versions_behind"), rigctl_str(f, "last_seen"));
}

/* A node, then its peers and followers. */
static void
rigctl_print_node(json_t *node)
{
	size_t		i;
	json_t	   *item;

	if (!json_is_true(json_object_get(node, "reachable")))
	{
		printf("%s (%s): unreachable: %s\n", rigctl_str(node, "name"),
			   rigctl_str(node, "conninfo"), rigctl_str(node, "error"));
		return;
	}
	printf("%s: %s", rigctl_str(node, "name"), rigctl_str(node, "role"));
	if (json_is_string(json_object_get(node, "primary_name")))
		printf(" of %s", rigctl_str(node, "primary_name"));
	printf(", epoch %lld, last version %lld, watermark %lld, %lld in flight, worker %s",
		   rigctl_int(node, "epoch"), rigctl_int(node, "last_version"),
		   rigctl_int(node, "watermark"), rigctl_int(node, "in_flight"),
		   rigctl_str(node, "worker_state"));
	if (json_is_string(json_object_get(node, "worker_last_error")))
		printf(" (last error: %s)", rigctl_str(node, "worker_last_error"));
	if (json_is_true(json_object_get(node, "safe_to_promote")))
		printf(", safe to promote");
	putchar('\n');
	json_array_foreach(json_object_get(node, "peers"), i, item)
		rigctl_print_peer(item);
	json_array_foreach(json_object_get(node, "followers"), i, item)
		rigctl_print_follower(item);
}

/* The whole report: nodes first, then the verdict and why. */
void
rigctl_status_print_text(json_t *report)
{
	size_t		i;
	json_t	   *item;

	json_array_foreach(json_object_get(report, "nodes"), i, item)
		rigctl_print_node(item);
	printf("status: %s\n", rigctl_str(report, "status"));
	json_array_foreach(json_object_get(report, "problems"), i, item)
		printf("  %s\n", json_string_value(item));
}
