#!/usr/bin/env bash
#
# test/bench/barrier.sh: the cost of the barrier between ops and handler or
# schema changes (issue 14): rig_do on one node (rig_do.sql), builds of
# rig.so side by side, alternating in one run on one cluster.
#
#   bash test/bench/barrier.sh PGROOT BASE.so OTHER.so...      (as root)
#
# PGROOT is a private PostgreSQL 15 copy (e.g. /opt/pgNAME from rigtest.sh)
# with rig installed; each run copies one build over its rig.so and
# restarts the cluster.  The builds run in a rotated order in each
# repetition (the log and the tables grow during the run: no build always
# goes last).  Knobs: BENCH_T (8 s), BENCH_REPS (3),
# BENCH_CLIENTS ("1 32"), BENCH_PORT (5491).  Prints, per run, tps and the
# CPU time the cluster spent per op (all its processes, exited backends
# included: the postmaster's children's time), which other load on a
# shared machine disturbs far less than tps; then, per client count, the
# medians of each build and its ratio to BASE.
set -euo pipefail

root=$1
shift
builds=("$@")
nb=${#builds[@]}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$root/usr/lib/postgresql/15/bin
lib=$root/usr/lib/postgresql/15/lib
T=${BENCH_T:-8}
REPS=${BENCH_REPS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 32"}
port=${BENCH_PORT:-5491}
base=/tmp/rig-barrier-bench
as_pg="runuser -u postgres --"

cpu_ticks() {					# the cluster's CPU time so far, in clock ticks
	local pm
	pm=$(head -1 $base/data/postmaster.pid)
	{
		awk '{print $14 + $15 + $16 + $17}' /proc/$pm/stat
		for c in $(pgrep -P $pm); do awk '{print $14 + $15}' /proc/$c/stat 2>/dev/null || true; done
	} | awk '{s += $1} END {print s}'
}
stop() { [ -f $base/data/postmaster.pid ] && $as_pg $bin/pg_ctl -D $base/data -m fast -w stop >/dev/null || true; }
use() {							# so-file
	stop
	cp "$1" $lib/rig.so
	$as_pg $bin/pg_ctl -D $base/data -l $base/log -w start >/dev/null
}
trap 'stop; cp $base/orig.so $lib/rig.so; rm -rf $base' EXIT

rm -rf $base
mkdir -p $base
chown postgres $base
cp $lib/rig.so $base/orig.so
$as_pg $bin/initdb -D $base/data -A trust -U postgres --no-sync >/dev/null
cat >>$base/data/postgresql.conf <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$base'
max_connections = 100
max_prepared_transactions = 100
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = off
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = 'n1'
rig.resolver_interval = -1
CONF
cp "$here/schema.sql" "$src/examples/metadata.sql" $base/
chown postgres $base/*.sql
use "${builds[$((nb - 1))]}"			# the newest build: its SQL may call symbols BASE lacks
$as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h $base -p $port -U postgres -d postgres \
	-c "CREATE EXTENSION rig" -f $base/metadata.sql -f $base/schema.sql >/dev/null

echo "# $(date -u '+%F %T') nproc $(nproc) load $(cut -d' ' -f1-3 /proc/loadavg) T=${T}s reps=$REPS"
declare -A tps cpu
for rep in $(seq 1 $REPS); do
	for c in $CLIENTS; do
		for k in $(seq 0 $((nb - 1))); do
			i=$(( (k + rep) % nb ))
			build=$(basename "${builds[$i]}" .so)
			use "${builds[$i]}"
			$as_pg $bin/psql -X -q -h $base -p $port -U postgres -d postgres -c CHECKPOINT
			c0=$(cpu_ticks)
			$bin/pgbench -h $base -p $port -U postgres -n -M prepared -T $T -c $c -j $(( c < 2 ? 1 : 2 )) \
				-f "$here/rig_do.sql" postgres >$base/out 2>&1
			sleep 1			# the backends exit and are reaped
			c1=$(cpu_ticks)
			t=$(awk '/^tps/ {print $3; exit}' $base/out)
			n=$(awk '/actually processed/ {print $NF; exit}' $base/out)
			us=$(awk -v d=$((c1 - c0)) -v n=$n -v hz=$(getconf CLK_TCK) 'BEGIN {printf "%.1f", d / hz * 1e6 / n}')
			echo "rep $rep clients $c build $build tps $t cpu_us_per_op $us"
			tps[$c,$build]="${tps[$c,$build]:-} $t"
			cpu[$c,$build]="${cpu[$c,$build]:-} $us"
		done
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for c in $CLIENTS; do
	base_build=$(basename "${builds[0]}" .so)
	t0=$(echo ${tps[$c,$base_build]} | median)
	u0=$(echo ${cpu[$c,$base_build]} | median)
	for b in "${builds[@]}"; do
		b=$(basename "$b" .so)
		t=$(echo ${tps[$c,$b]} | median)
		u=$(echo ${cpu[$c,$b]} | median)
		echo "clients $c $b: median tps $t (x$(awk -v a=$t0 -v b=$t 'BEGIN {printf "%.3f", b/a}'))," \
			"median CPU us/op $u (x$(awk -v a=$u0 -v b=$u 'BEGIN {printf "%.3f", b/a}'))"
	done
done
