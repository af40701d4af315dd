/*-------------------------------------------------------------------------
 *
 * resolve.h
 *	  The resolver of rig's in-doubt prepared transactions on the peers (resolve.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/resolve.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_RESOLVE_H
#define RIG_RESOLVE_H

extern int	rig_resolve_all(int min_age_ms);

#endif							/* RIG_RESOLVE_H */
