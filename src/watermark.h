/*-------------------------------------------------------------------------
 *
 * watermark.h
 *	  The watermark and the versions rig's prepared transactions hold
 *	  (watermark.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/watermark.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_WATERMARK_H
#define RIG_WATERMARK_H

extern void rig_ensure_loaded(void);
extern int64 rig_compute_watermark(void);
extern int64 rig_watermark_but_mine(void);
extern int64 rig_last_assigned(void);
extern void rig_note_version_drawn(void);
extern void rig_flush_versions(void);
extern int64 rig_prepared_floor(void);
extern void rig_prepared_versions(int64 *lowest, int64 *highest);

#endif							/* RIG_WATERMARK_H */
