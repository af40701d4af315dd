#!/usr/bin/env bash
#
# test/bench/barrier.sh: the cost of the barrier between ops and handler or
# schema changes (issue 14): rig_do on one node (rig_do.sql), two builds of
# rig.so side by side, alternating in one run on one cluster.
#
#   bash test/bench/barrier.sh PGROOT A.so B.so      (as root)
#
# PGROOT is a private PostgreSQL 15 copy (e.g. /opt/pgNAME from rigtest.sh)
# with rig installed; each run copies A.so or B.so over its rig.so and
# restarts the cluster.  Knobs: BENCH_T (8 s), BENCH_REPS (3),
# BENCH_CLIENTS ("1 32"), BENCH_PORT (5491).  Prints tps per run and, per
# client count, the median tps of each build and B/A.
set -euo pipefail

root=$1
a=$2
b=$3
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
use "$b"
$as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h $base -p $port -U postgres -d postgres \
	-c "CREATE EXTENSION rig" -f $base/metadata.sql -f $base/schema.sql >/dev/null

echo "# $(date -u '+%F %T') nproc $(nproc) load $(cut -d' ' -f1-3 /proc/loadavg) T=${T}s reps=$REPS"
declare -A tps
for rep in $(seq 1 $REPS); do
	for c in $CLIENTS; do
		for build in A B; do
			[ $build = A ] && use "$a" || use "$b"
			$as_pg $bin/psql -X -q -h $base -p $port -U postgres -d postgres -c CHECKPOINT
			t=$($bin/pgbench -h $base -p $port -U postgres -n -M prepared -T $T -c $c -j $(( c < 2 ? 1 : 2 )) \
				-f "$here/rig_do.sql" postgres 2>/dev/null | awk '/^tps/ {print $3; exit}')
			echo "rep $rep clients $c build $build tps $t"
			tps[$c,$build]="${tps[$c,$build]:-} $t"
		done
	done
done
for c in $CLIENTS; do
	ma=$(echo ${tps[$c,A]} | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	mb=$(echo ${tps[$c,B]} | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	echo "clients $c: median tps A $ma B $mb B/A $(awk -v a=$ma -v b=$mb 'BEGIN {printf "%.3f", b/a}')"
done
