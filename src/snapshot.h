/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *	  Stored snapshots of the state tables (snapshot.c; taken by snaptake.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/snapshot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_SNAPSHOT_H
#define RIG_SNAPSHOT_H

#include "nodes/pg_list.h"

/* The name of the idempotency keys' chunks (they are not a state table) */
#define RIG_SNAPSHOT_KEYS	"rig.idempotency_keys"

/*
 * rig's own tables a snapshot carries after the keys (listed in its tables
 * after the registered ones): what rig's own ops wrote, as a peer holds it
 */
#define RIG_SNAPSHOT_TRANSACTIONS	"rig.transactions"
#define RIG_SNAPSHOT_EVENTS			"rig.transaction_events"
#define RIG_SNAPSHOT_NODES			"rig.remote_nodes"

/* One row of rig.snapshots */
typedef struct RigSnapshotInfo
{
	int64		id;
	int64		watermark;		/* W: every version <= W is in it */
	int64	   *included;		/* the versions > W it holds, ascending */
	int			nincluded;
	char	   *state_hash;
	char	   *fingerprint;	/* of the handlers when it was taken */
	List	   *relations;		/* char *, the registered tables in chunk order */
	bool		rig_state;		/* it carries rig's own tables too */
	int			chunks;
	bool		complete;
	char	   *json;			/* the row as JSON (for a new node) */
} RigSnapshotInfo;

extern int	rig_snapshot_pin_formats(void);
extern bool rig_snapshots_installed(void);
extern Datum rig_snapshot_text_array(List *names);
extern bool rig_snapshot_latest(RigSnapshotInfo *info, bool lock);
extern bool rig_snapshot_loading(RigSnapshotInfo *info);
extern bool rig_snapshot_get(int64 id, RigSnapshotInfo *info);
extern bool rig_snapshot_includes(RigSnapshotInfo *info, int64 version);
extern bool rig_snapshot_is_rig_state(const char *relation);
extern List *rig_snapshot_table_names(void);
extern char *rig_snapshot_state_hash(List *relations);
extern char *rig_snapshot_full_hash(List *relations, int64 watermark);
extern bool rig_snapshot_hash_matches(const char *recorded, const char *computed);
extern char *rig_snapshot_fingerprint(void);
extern void rig_snapshot_load_rows(const char *relation, Datum rows,
								   int64 version);
extern void rig_snapshot_restore(RigSnapshotInfo *info);
extern void rig_snapshot_refuse_loading(const char *what);

#endif							/* RIG_SNAPSHOT_H */
