#!/bin/sh
#
# examples/failover-manager.sh: a minimal failover manager for a rig pair.
#
#   PRIMARY='host=... dbname=...' REPLICA='host=... dbname=...' sh examples/failover-manager.sh
#
# Promotes the replica when the primary has not answered for $WINDOW
# seconds and the replica says it is safe to promote (rig.status).  rig
# elects no leader itself: run one such loop per pair, from a place that
# sees both nodes (a monitor), never one per node.  It prints when it saw
# the primary go and when the promotion returned.
set -u
: "${PRIMARY:?set PRIMARY to the primary's conninfo}"
: "${REPLICA:?set REPLICA to the replica's conninfo}"
WINDOW=${WINDOW:-2}
INTERVAL=${INTERVAL:-0.2}

gone_since=
while sleep "$INTERVAL"; do
	if psql -X -d "$PRIMARY" -c 'SELECT 1' >/dev/null 2>&1; then
		gone_since=
		continue
	fi
	now=$(date +%s.%N)
	[ -n "$gone_since" ] || { gone_since=$now; echo "primary gone at $now"; }
	awk -v a="$now" -v b="$gone_since" -v w="$WINDOW" 'BEGIN { exit !(a - b >= w) }' || continue
	safe=$(psql -XAt -d "$REPLICA" -c 'SELECT safe_to_promote FROM rig.status') || continue
	if [ "$safe" != t ]; then
		psql -XAt -d "$REPLICA" -c 'SELECT safe_to_promote_reason FROM rig.status'
		continue
	fi
	epoch=$(psql -XAt -d "$REPLICA" -c 'SELECT rig_promote()') || continue
	echo "promoted the replica: epoch $epoch at $(date +%s.%N)"
	exit 0
done
