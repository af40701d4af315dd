#!/usr/bin/env bash
#
# test/bench/failover.sh: how long writes stop when the primary dies and a
# manager promotes the replica, and during a planned switchover (issue 10).
#
#   bash test/bench/failover.sh        (as root, Debian 12, rig installed)
#
# Two clusters as the postgres OS user under /tmp/rig-failover (unix
# sockets, ports 5491/5492), examples/metadata.sql on both, the replica a
# sync peer.  A writer reconnects for every op with a multi-host
# connection string (target_session_attrs=read-write, so it lands on the
# primary) and logs the time of every op that succeeded.
#   1. failover: kill -9 the primary; examples/failover-manager.sh (2 s
#      detection window, 0.2 s polls) promotes the replica.  Measured: the
#      kill to the first successful rig_do on the promoted node, and the
#      longest gap between two successful ops.
#   2. switchover: rig_switchover() back and forth $SWITCHES times (after
#      each, the old primary is made a sync peer again); measured: the
#      longest gap between two successful ops around each switchover.
# Knobs: FAILOVER_WINDOW (2), SWITCHES (3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
base=/tmp/rig-failover
as_pg="runuser -u postgres --"
WINDOW=${FAILOVER_WINDOW:-2}
SWITCHES=${SWITCHES:-3}
declare -A PORT=([p]=5491 [r]=5492)
conn() { echo "host=$base port=${PORT[$1]} dbname=postgres user=postgres"; }
# an ordinary role: superusers are not routed (they may write anywhere)
multi="host=$base,$base port=${PORT[p]},${PORT[r]} dbname=postgres user=app target_session_attrs=read-write connect_timeout=2"

. "$here/pair.sh"

# the writer: one op per connection; for each success, when it ended and
# when it started (an op started before the kill may end after it)
writer() {
	local i=0 t0
	while [ ! -f "$base/stop" ]; do
		i=$((i + 1))
		t0=$(now)
		if $as_pg "$pgbin/psql" -X -q -At -d "$multi" -c \
			"SELECT rig_do('user_create', metadata.new_user('w$i.$RANDOM@example.com', 'W', 'secret'))" \
			>/dev/null 2>&1; then
			echo "$(now) $t0" >>"$base/ok.log"
		fi
	done
}
# longest gap between two successful ops in [from, to]
max_gap() {
	awk -v a="$1" -v b="$2" 'BEGIN { p = a } $1 >= a && $1 <= b { if ($1 - p > m) m = $1 - p; p = $1 }
		END { if (b - p > m) m = b - p; printf "%.3f", m }' "$base/ok.log"
}

[ "$(id -u)" -eq 0 ] || { echo "run this as root" >&2; exit 1; }
trap 'touch "$base/stop"; stop_all' EXIT
pair_start "rig.resolver_interval = 200"
for n in p r; do
	psql_on $n -c "CREATE ROLE app LOGIN IN ROLE rig_writer" -c "GRANT USAGE ON SCHEMA metadata TO app" >/dev/null
done
psql_on p -c "SELECT rig_add_peer('r', '$(conn r)', 'sync')" >/dev/null
: >"$base/ok.log"
chown postgres "$base/ok.log"

echo "== failover: kill -9 the primary, the manager promotes the replica (window ${WINDOW}s)"
writer &
writer_pid=$!
sleep 3
PRIMARY="$(conn p) connect_timeout=1" REPLICA="$(conn r)" WINDOW=$WINDOW INTERVAL=0.2 \
	$as_pg sh "$src/examples/failover-manager.sh" >"$base/manager.log" 2>&1 &
manager_pid=$!
sleep 1
t_kill=$(now)
kill -9 "$(head -1 "$base/p/postmaster.pid")"
wait $manager_pid || true
until [ "$(awk -v t="$t_kill" '$2 > t' "$base/ok.log" | wc -l)" -gt 0 ]; do sleep 0.05; done
t_first=$(awk -v t="$t_kill" '$2 > t { print $1; exit }' "$base/ok.log")
sleep 2
echo "   manager: $(tr '\n' ' ' <"$base/manager.log")"
printf '   kill -9 -> first successful rig_do on the promoted replica: %.3f s\n' "$(echo "$t_first - $t_kill" | bc -l)"
printf '   longest gap between successful ops: %s s\n' "$(max_gap "$(echo "$t_kill - 5" | bc -l)" "$(now)")"

# the old primary rejoins as a sync peer
rm -f "$base/p/postmaster.pid"
$as_pg "$pgbin/pg_ctl" -D "$base/p" -l "$base/p.log" -w start >/dev/null
psql_on r -c "SELECT rig_add_peer('p', '$(conn p)', 'sync')" >/dev/null
echo "   the old primary rejoined: $(psql_on p -c 'SELECT role, primary_name, epoch FROM rig.node')"

echo "== switchover, $SWITCHES times, while the writer runs"
from=r to=p
for i in $(seq 1 "$SWITCHES"); do
	sleep 2
	t0=$(now)
	epoch=$(psql_on $from -c "SELECT rig_switchover('$to')")
	t1=$(now)
	sleep 2
	psql_on $to -c "SELECT rig_add_peer('$from', '$(conn $from)', 'sync')" >/dev/null
	printf '   %s -> %s (epoch %s): rig_switchover took %.3f s; longest gap between successful ops: %s s\n' \
		"$from" "$to" "$epoch" "$(echo "$t1 - $t0" | bc -l)" "$(max_gap "$(echo "$t0 - 1" | bc -l)" "$(echo "$t1 + 2" | bc -l)")"
	tmp=$from from=$to to=$tmp
done
touch "$base/stop"
wait $writer_pid 2>/dev/null || true
a=$(psql_on p -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")
b=$(psql_on r -c "SELECT md5(string_agg(version::text || method || data::text, ',' ORDER BY version)) FROM rig.log")
echo "   both logs identical at the end: $([ "$a" = "$b" ] && echo yes || echo NO); ops written: $(wc -l <"$base/ok.log")"
