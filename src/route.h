/*-------------------------------------------------------------------------
 *
 * route.h
 *	  Routing clients to the primary: new ordinary sessions on a node that
 *	  is not the primary start read-only (route.c).
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/route.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIG_ROUTE_H
#define RIG_ROUTE_H

extern void rig_route_init(void);
extern void rig_route_refresh(void);

#endif							/* RIG_ROUTE_H */
