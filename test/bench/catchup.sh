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
#      the start until rig.peer_status says in_sync with nothing behind
#      gives the catch-up rate.
# Knobs: CATCHUP_OPS (100000), CATCHUP_CLIENTS (8), CATCHUP_T (10).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
base=/tmp/rig-catchup
as_pg="runuser -u postgres --"
OPS=${CATCHUP_OPS:-100000}
CLIENTS=${CATCHUP_CLIENTS:-8}
T=${CATCHUP_T:-10}
declare -A PORT=([p]=5481 [r]=5482)

psql_on() {						# node args...
	local n=$1
	shift
	$as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base" -p "${PORT[$n]}" -U postgres -d postgres "$@"
}
pgbench_on() {					# node clients seconds
	$as_pg "$pgbin/pgbench" -n -M prepared -h "$base" -p "${PORT[$1]}" -U postgres \
		-c "$2" -j "$(($2 < 2 ? $2 : 2))" -T "$3" -f "$base/rig_do.sql" postgres
}
stop_all() {
	for n in p r; do
		[ -f "$base/$n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$base/$n" -m immediate stop >/dev/null 2>&1 || true
	done
}
now() { date +%s.%N; }

[ "$(id -u)" -eq 0 ] || { echo "run this as root" >&2; exit 1; }
stop_all
rm -rf "$base"
mkdir -p "$base"
cp "$src/examples/metadata.sql" "$here/rig_do.sql" "$base/"
chown -R postgres "$base"
for n in p r; do
	$as_pg "$pgbin/initdb" -D "$base/$n" -A trust -U postgres >/dev/null
	cat >>"$base/$n/postgresql.conf" <<CONF
port = ${PORT[$n]}
listen_addresses = ''
unix_socket_directories = '$base'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$n'
rig.resolver_interval = 100
rig.sync_timeout = 2000
max_prepared_transactions = 100
max_connections = 100
shared_buffers = 256MB
CONF
	$as_pg "$pgbin/pg_ctl" -D "$base/$n" -l "$base/$n.log" -w start >/dev/null
	psql_on $n -c "CREATE EXTENSION rig" -f "$base/metadata.sql" >/dev/null
done
psql_on p -c "SELECT rig_add_peer('r', 'host=$base port=${PORT[r]} dbname=postgres user=postgres', 'semisync')" >/dev/null

echo "== steady state: semisync peer in sync, $CLIENTS clients, ${T}s"
steady=$(pgbench_on p "$CLIENTS" "$T" 2>&1)
steady_tps=$(echo "$steady" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
steady_lat=$(echo "$steady" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')

echo "== replica stopped; writing $OPS ops"
$as_pg "$pgbin/pg_ctl" -D "$base/r" -m immediate stop >/dev/null
per=$(( (OPS + CLIENTS - 1) / CLIENTS ))
$as_pg "$pgbin/pgbench" -n -M prepared -h "$base" -p "${PORT[p]}" -U postgres \
	-c "$CLIENTS" -j 2 -t "$per" -f "$base/rig_do.sql" postgres >/dev/null 2>&1
behind=$(psql_on p -c "SELECT versions_behind FROM rig.peer_status WHERE name = 'r'")
echo "   peer state: $(psql_on p -c "SELECT state FROM rig.peer_status WHERE name = 'r'"), $behind versions behind"

echo "== replica started; catch-up while $CLIENTS clients keep writing for ${T}s"
$as_pg "$pgbin/pg_ctl" -D "$base/r" -l "$base/r.log" -w start >/dev/null
t0=$(now)
pgbench_on p "$CLIENTS" "$T" >"$base/during.txt" 2>&1 &
bench_pid=$!
seen_catching=no
while :; do
	st=$(psql_on p -c "SELECT state || ' ' || versions_behind FROM rig.peer_status WHERE name = 'r'")
	[ "${st%% *}" = catching_up ] && seen_catching=yes
	if [ "${st%% *}" = in_sync ]; then
		t1=$(now)
		break
	fi
	sleep 0.2
done
wait $bench_pid
during=$(cat "$base/during.txt")
during_tps=$(echo "$during" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
during_lat=$(echo "$during" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
secs=$(echo "$t1 - $t0" | bc -l)
rate=$(echo "$behind / $secs" | bc -l)

a=$(psql_on p -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")
b=$(psql_on r -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")

printf '\n| measure | value |\n|---|---|\n'
printf '| backlog shipped | %s ops |\n' "$behind"
printf '| time to in_sync (incl. ops written meanwhile) | %.1f s |\n' "$secs"
printf '| catch-up rate | %.0f ops/s |\n' "$rate"
printf '| write rate, semisync in sync (%s clients) | %s tps, %s ms avg |\n' "$CLIENTS" "$steady_tps" "$steady_lat"
printf '| write rate during catch-up (%s clients) | %s tps, %s ms avg |\n' "$CLIENTS" "$during_tps" "$during_lat"
printf '| catch-up rate / sync write rate | %.1fx |\n' "$(echo "$rate / $steady_tps" | bc -l)"
printf '| catching_up seen in rig.peer_status | %s |\n' "$seen_catching"
printf '| logs identical afterwards | %s |\n' "$([ "$a" = "$b" ] && echo yes || echo "NO ($a vs $b)")"
stop_all
