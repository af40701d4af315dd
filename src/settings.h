/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  rig's settings, the node's name, the database check, the names rig
 *	  accepts and fault points (settings.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_SETTINGS_H
#define RIG_SETTINGS_H

/*
 * A node refused an operation because its sender's epoch is older than
 * its own: the sender was superseded by a promotion and must stop
 * writing (fencing; replica.c raises it, replicate.c and the worker act
 * on it).
 */
#define ERRCODE_RIG_STALE_EPOCH		MAKE_SQLSTATE('R','G','0','0','1')

/*
 * A write was refused for a passing state of this node (a sync peer not
 * yet checked after a restart or still catching up, a promotion under
 * way): nothing was done, and the same call succeeds once the worker is
 * through, so a client's retry loop retries it (55000 would read as
 * permanent, like a diverged peer).
 */
#define ERRCODE_RIG_NOT_READY		MAKE_SQLSTATE('R','G','0','0','2')

/* Longest method, node or peer name rig accepts */
#define RIG_MAX_NAME_LEN	63

extern char *rig_database;
extern char *rig_node_name_setting;
extern int	rig_sync_timeout;
extern int	rig_catchup_connections;
extern bool rig_commit_wait;
extern int	rig_resolver_interval;
extern int	rig_verify_interval;
extern int	rig_max_payload;
extern char *rig_handler_search_path;
extern char *rig_handler_timezone;
extern char *rig_handler_locale;
extern char *rig_ddl_role;
extern int	rig_ddl_timeout;
extern int	rig_key_retention;
extern int	rig_follower_max_lag;
extern int	rig_promote_lease;
extern int	rig_bootstrap_max_rate;
extern char *rig_fault_point;
extern bool rig_maintenance;

extern void rig_settings_define(void);
extern const char *rig_node_name(void);
extern void rig_check_database(void);
extern bool rig_identifier_ok(const char *name);
extern const char *rig_name_for_message(const char *name);
extern bool rig_search_path_safe(const char *value);
extern void rig_fault(const char *point, bool interruptible);

#endif							/* RIG_SETTINGS_H */
