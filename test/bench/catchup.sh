#!/usr/bin/env bash
#
# test/bench/catchup.sh: how fast rig's worker catches a peer up, and what
# the primary's writers feel meanwhile (issue 4's benchmark).
#
#   bash test/bench/catchup.sh        (as root, Debian 12, rig installed)
#
# Two clusters as the postgres OS user under /tmp/rig-catchup (unix
# sockets, ports 5481/5482), examples/metadata.sql on both:
#   1. steady state: the replica is a semisync peer, in sync; pgbench of
#      rig_do('user_create') at $CLIENTS clients for $T s (the sync-mode
#      write rate and latency);
#   2. the replica is stopped; $OPS ops are written (it is degraded);
#   3. the replica is started; while the worker ships the backlog, the
#      same pgbench runs again (the latency during catch-up); the time from
#      the start until rig.peer_status says in_sync gives the catch-up rate.
# Steps 2-3 run once per value of rig.catchup_connections in $LANES, in the
# same run, so the columns compare side by side.
# Knobs: CATCHUP_OPS (100000), CATCHUP_CLIENTS (8), CATCHUP_T (10),
# CATCHUP_LANES ("1 4").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
base=/tmp/rig-catchup
as_pg="runuser -u postgres --"
OPS=${CATCHUP_OPS:-100000}
CLIENTS=${CATCHUP_CLIENTS:-8}
T=${CATCHUP_T:-10}
LANES=${CATCHUP_LANES:-"1 4"}
declare -A PORT=([p]=5481 [r]=5482)

pgbench_on() {					# node clients seconds
	$as_pg "$pgbin/pgbench" -n -M prepared -h "$base" -p "${PORT[$1]}" -U postgres \
		-c "$2" -j "$(($2 < 2 ? $2 : 2))" -T "$3" -f "$base/rig_do.sql" postgres
}
. "$here/pair.sh"

[ "$(id -u)" -eq 0 ] || { echo "run this as root" >&2; exit 1; }
pair_start "rig.resolver_interval = 100
shared_buffers = 256MB" "$here/rig_do.sql"
psql_on p -c "SELECT rig_add_peer('r', 'host=$base port=${PORT[r]} dbname=postgres user=postgres', 'semisync')" >/dev/null

echo "== steady state: semisync peer in sync, $CLIENTS clients, ${T}s"
steady=$(pgbench_on p "$CLIENTS" "$T" 2>&1)
steady_tps=$(echo "$steady" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
steady_lat=$(echo "$steady" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')

# One catch-up: stop the replica, write $OPS ops, start it with the primary
# using $1 catch-up connections, measure while the writers keep going.
# Prints "backlog seconds rate during_tps during_lat seen_catching identical".
catch_up_with() {
	local lanes=$1 behind t0 t1 st seen_catching=no during a b
	psql_on p -c "ALTER SYSTEM SET rig.catchup_connections = $lanes" -c "SELECT pg_reload_conf()" >/dev/null
	$as_pg "$pgbin/pg_ctl" -D "$base/r" -m immediate stop >/dev/null
	$as_pg "$pgbin/pgbench" -n -M prepared -h "$base" -p "${PORT[p]}" -U postgres \
		-c "$CLIENTS" -j 2 -t "$(( (OPS + CLIENTS - 1) / CLIENTS ))" -f "$base/rig_do.sql" postgres >/dev/null 2>&1
	psql_on p -c "CHECKPOINT" >/dev/null
	behind=$(psql_on p -c "SELECT versions_behind FROM rig.peer_status WHERE name = 'r'")
	$as_pg "$pgbin/pg_ctl" -D "$base/r" -l "$base/r.log" -w start >/dev/null
	t0=$(now)
	pgbench_on p "$CLIENTS" "$T" >"$base/during.txt" 2>&1 &
	local bench_pid=$!
	while :; do
		st=$(psql_on p -c "SELECT state FROM rig.peer_status WHERE name = 'r'")
		[ "$st" = catching_up ] && seen_catching=yes
		if [ "$st" = in_sync ]; then
			t1=$(now)
			break
		fi
		sleep 0.2
	done
	wait $bench_pid
	during=$(cat "$base/during.txt")
	a=$(psql_on p -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")
	b=$(psql_on r -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")
	echo "$behind $(echo "$t1 - $t0" | bc -l) $(echo "$behind / ($t1 - $t0)" | bc -l)" \
		"$(echo "$during" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')" \
		"$(echo "$during" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')" \
		"$seen_catching $([ "$a" = "$b" ] && echo yes || echo NO)"
}

declare -A R
for lanes in $LANES; do
	echo "== catch-up of $OPS ops over $lanes connection(s) while $CLIENTS clients write for ${T}s"
	R[$lanes]=$(catch_up_with "$lanes")
	echo "   ${R[$lanes]}"
done

row() {							# label field(1-based) printf-format
	local label=$1 field=$2 fmt=$3 lanes vals
	printf '| %s |' "$label"
	for lanes in $LANES; do
		read -r -a vals <<<"${R[$lanes]}"
		printf " $fmt |" "${vals[$((field - 1))]}"
	done
	echo
}
printf '\n| rig.catchup_connections |'
for lanes in $LANES; do printf ' %s |' "$lanes"; done
printf '\n|---|'
for lanes in $LANES; do printf -- '---|'; done
echo
row 'backlog shipped (ops)' 1 '%s'
row 'time to in_sync, incl. ops written meanwhile (s)' 2 '%.1f'
row 'catch-up rate (backlog / time, ops/s)' 3 '%.0f'
row 'write tps during catch-up' 4 '%.0f'
row 'write latency during catch-up (ms)' 5 '%s'
row 'catching_up seen' 6 '%s'
row 'logs identical afterwards' 7 '%s'
printf '| catch-up rate / sync write rate (%s tps, %s ms, %s clients) |' "$steady_tps" "$steady_lat" "$CLIENTS"
for lanes in $LANES; do
	set -- ${R[$lanes]}
	printf ' **%.1fx** |' "$(echo "$3 / $steady_tps" | bc -l)"
done
echo
stop_all
