#!/usr/bin/env bash
#
# test/bench/run.sh: rig's benchmarks (issues 2 and 3), side by side in one run.
#
#   bash test/bench/run.sh            (as root, Debian 12, rig installed)
#
# Starts six PostgreSQL 15 clusters as the postgres OS user under
# /tmp/rig-bench (unix sockets only, ports 5461-5466):
#
#   n1  rig, no peer          direct INSERT, rig_do (two scripts), local side of the dblink 2PC
#   n2  rig primary           rig_do with n3 as its sync peer
#   n3  rig replica of n2
#   n4  plain PostgreSQL      direct INSERT, synchronous_commit = remote_apply
#   n5  physical standby of n4 (synchronous_standby_names = 'n5')
#   n6  plain PostgreSQL      the peer of the hand-rolled dblink 2PC
#
# For every repetition and client count, every configuration runs back to
# back (interleaved), so the ratios compare runs made under the same machine
# load.  Each run: CHECKPOINT on the nodes involved, pg_stat_wal snapshot,
# pgbench -n -M prepared -T $BENCH_T, pg_stat_wal snapshot.  Then a short
# profile (perf, strace) and the markdown tables.  Raw results go to
# test/bench/results/<date>/ (gitignored); the clusters are stopped and
# removed at the end (BENCH_KEEP=1 keeps them running).
#
# Knobs (environment): BENCH_T (seconds per run, 8), BENCH_REPS (5),
# BENCH_CLIENTS ("1 8 32"), BENCH_CONFIGS (all seven), BENCH_PROFILE (1),
# BENCH_KEEP (0).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
base=/tmp/rig-bench
sock=$base
as_pg="runuser -u postgres --"

T=${BENCH_T:-8}
REPS=${BENCH_REPS:-5}
CLIENTS=${BENCH_CLIENTS:-"1 8 32"}
# in this (cyclic) order, the configurations compared with each other run next to each other
CONFIGS=${BENCH_CONFIGS:-"direct rig_local rig_inline native_sync rig_sync rig_sync_nowait dblink_2pc"}
PROFILE=${BENCH_PROFILE:-1}
KEEP=${BENCH_KEEP:-0}

declare -A PORT=([n1]=5461 [n2]=5462 [n3]=5463 [n4]=5464 [n5]=5465 [n6]=5466)

# configuration -> node pgbench connects to, script, nodes whose WAL we count, PGOPTIONS
declare -A CFG_NODE=([direct]=n1 [rig_local]=n1 [rig_inline]=n1 [rig_sync]=n2 [rig_sync_nowait]=n2
					 [native_sync]=n4 [dblink_2pc]=n1)
declare -A CFG_SCRIPT=([direct]=direct.sql [rig_local]=rig_do.sql [rig_inline]=rig_do_inline.sql [rig_sync]=rig_do.sql
					   [rig_sync_nowait]=rig_do.sql [native_sync]=direct.sql
					   [dblink_2pc]=dblink_2pc.sql)
declare -A CFG_PEER=([direct]="" [rig_local]="" [rig_inline]="" [rig_sync]=n3 [rig_sync_nowait]=n3
					 [native_sync]=n5 [dblink_2pc]=n6)
declare -A CFG_OPTS=([direct]="" [rig_local]="" [rig_inline]="" [rig_sync]="-c rig.commit_wait=on"
					 [rig_sync_nowait]="-c rig.commit_wait=off" [native_sync]=""
					 [dblink_2pc]="")

if [ "$(id -u)" -ne 0 ]; then
	echo "run this as root (servers are started as the postgres OS user)" >&2
	exit 1
fi
for f in "$pgbin/pgbench" /usr/lib/postgresql/15/lib/dblink.so /usr/lib/postgresql/15/lib/rig.so; do
	[ -e "$f" ] || { echo "missing $f (install postgresql-15 and rig: make && make install)" >&2; exit 1; }
done

stamp=$(date +%Y%m%d-%H%M%S)
out=$here/results/$stamp
mkdir -p "$out/pgbench" "$out/profile"
ln -sfn "$stamp" "$here/results/latest"
log() { echo "[$(date +%T)] $*" | tee -a "$out/run.log" >&2; }

psql_on() {						# node args...
	local n=$1
	shift
	$as_pg "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "${PORT[$n]}" -U postgres -d postgres "$@"
}
pm_pid() { head -1 "$base/$1/postmaster.pid"; }

stop_all() {
	for n in n1 n2 n3 n4 n5 n6; do
		if [ -f "$base/$n/postmaster.pid" ]; then
			$as_pg "$pgbin/pg_ctl" -D "$base/$n" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
}
cleanup() {
	if [ "$KEEP" = 1 ]; then
		log "BENCH_KEEP=1: clusters left running in $base"
	else
		stop_all
		rm -rf "$base"
	fi
}

# ---------------------------------------------------------------- setup
stop_all
rm -rf "$base"
mkdir -p "$base"
chown postgres "$base"
trap cleanup EXIT

common_conf() {					# node
	cat <<CONF
port = ${PORT[$1]}
listen_addresses = ''
unix_socket_directories = '$sock'
max_connections = 100
max_prepared_transactions = 100
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = off
log_min_messages = warning
log_checkpoints = off
CONF
}
rig_conf() {					# node
	cat <<CONF
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$1'
rig.resolver_interval = -1
CONF
}
init_node() {					# node rig|plain
	$as_pg "$pgbin/initdb" -D "$base/$1" -A trust -U postgres --no-sync >/dev/null
	common_conf "$1" >>"$base/$1/postgresql.conf"
	[ "$2" = rig ] && rig_conf "$1" >>"$base/$1/postgresql.conf"
	return 0
}
start_node() {
	$as_pg "$pgbin/pg_ctl" -D "$base/$1" -l "$base/$1.log" -w start >/dev/null
}

log "setting up clusters in $base (results: $out)"
# the rig.so these servers load: kept with the results, and put in perf's
# build-id cache so profiles resolve its symbols even if someone reinstalls
# rig while the benchmark runs
cp /usr/lib/postgresql/15/lib/rig.so "$out/rig.so"
perf buildid-cache -a "$out/rig.so" >/dev/null 2>&1 || true
cp "$here/schema.sql" "$src/examples/metadata.sql" "$base/"
chown postgres "$base"/*.sql
for n in n1 n2 n3; do init_node $n rig; done
for n in n4 n6; do init_node $n plain; done
for n in n1 n2 n3 n4 n6; do start_node $n; done

for n in n1 n2 n3; do
	psql_on $n -c "CREATE EXTENSION rig" -f "$base/metadata.sql" -f "$base/schema.sql" >/dev/null
done
for n in n4 n6; do psql_on $n -f "$base/schema.sql" >/dev/null; done

# n5: physical standby of n4, the synchronous one
$as_pg "$pgbin/pg_basebackup" -h "$sock" -p "${PORT[n4]}" -U postgres -D "$base/n5" -X stream -R >/dev/null
# our primary_conninfo (with application_name) goes in postgresql.conf
: >"$base/n5/postgresql.auto.conf"
sed -i '/^port = /d; /^synchronous_standby_names/d; /^synchronous_commit/d' "$base/n5/postgresql.conf"
cat >>"$base/n5/postgresql.conf" <<CONF
port = ${PORT[n5]}
primary_conninfo = 'host=$sock port=${PORT[n4]} user=postgres application_name=n5'
hot_standby = on
CONF
start_node n5
# only now that n5 exists: a commit on n4 waits for n5 to have applied it
cat >>"$base/n4/postgresql.conf" <<CONF
synchronous_standby_names = 'n5'
synchronous_commit = remote_apply
CONF
$as_pg "$pgbin/pg_ctl" -D "$base/n4" reload >/dev/null
for _ in $(seq 1 30); do
	st=$(psql_on n4 -At -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'n5'")
	[ "$st" = sync ] && break
	sleep 1
done
[ "$st" = sync ] || { echo "n5 is not a sync standby of n4 ($st)" >&2; exit 1; }

# n2 -> n3: rig sync peer
psql_on n2 -c "SELECT rig_add_peer('n3', 'host=$sock port=${PORT[n3]} dbname=postgres user=postgres')" >/dev/null

# n1 -> n6: dblink for the hand-rolled 2PC
psql_on n1 >/dev/null <<SQL
CREATE EXTENSION dblink;
CREATE FUNCTION bench.peer() RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	IF NOT coalesce('bench_peer' = ANY (dblink_get_connections()), false) THEN
		PERFORM dblink_connect('bench_peer', 'host=$sock port=${PORT[n6]} dbname=postgres user=postgres');
	END IF;
	RETURN 'bench_peer';
END
\$\$;
SQL

# smoke test: each script once, and the replicas saw the writes
for c in $CONFIGS; do
	PGOPTIONS="${CFG_OPTS[$c]}" "$pgbin/pgbench" -h "$sock" -p "${PORT[${CFG_NODE[$c]}]}" -U postgres \
		-n -M prepared -t 3 -f "$here/${CFG_SCRIPT[$c]}" postgres >"$out/pgbench/smoke_$c.txt" 2>&1 ||
		{ cat "$out/pgbench/smoke_$c.txt" >&2; echo "smoke test of $c failed" >&2; exit 1; }
done
log "smoke: n3 users $(psql_on n3 -At -c 'SELECT count(*) FROM metadata.users'), n5 users $(psql_on n5 -At -c 'SELECT count(*) FROM bench.users'), n6 users $(psql_on n6 -At -c 'SELECT count(*) FROM bench.users')"

# ---------------------------------------------------------------- machine notes
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
	echo "disk (/tmp): $(df -h /tmp | awk 'NR==2 {print $1, $2, "size,", $4, "free"}')"
	echo "kernel: $(uname -r)"
	echo "postgres: $($pgbin/postgres --version)"
	echo "rig: git $(git -C "$src" rev-parse --short HEAD 2>/dev/null)$(git -C "$src" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes in the tree)'), installed rig.so md5 $(md5sum /usr/lib/postgresql/15/lib/rig.so | cut -c1-12)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "other postgres servers running: $(pgrep -x -u postgres postgres -a | grep -c -- ' -D ' || true) (ours: 6)"
	echo "bench: T=${T}s REPS=$REPS clients=($CLIENTS)"
} >"$out/machine.txt"
$as_pg "$pgbin/pg_test_fsync" -s 1 -f "$base/fsync.tmp" >"$out/pg_test_fsync.txt" 2>&1 || true
rm -f "$base/fsync.tmp"
cat "$out/machine.txt" >&2

# ---------------------------------------------------------------- runs
wal_snap() {					# node -> "sync write records bytes fpi commits"
	psql_on "$1" -At -F' ' -c "SELECT w.wal_sync, w.wal_write, w.wal_records, w.wal_bytes, w.wal_fpi,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres') FROM pg_stat_wal w"
}
# CPU time, context switches and fdatasync/fsync syscalls of a whole cluster (postmaster and
# its children, present and future, counted in the kernel).  The fsync
# count is what pg_stat_wal misses on a physical standby, whose walreceiver
# does not report its fsyncs there.
declare -A PERFPID
fsync_count_start() {			# node outfile
	local pids
	pids=$(pgrep -d, -P "$(pm_pid "$1")")
	perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync \
		-p "$(pm_pid "$1"),$pids" -o "$2" >/dev/null 2>&1 &
	PERFPID[$1]=$!
}
fsync_count_stop() {			# node (not in a subshell: it waits for perf)
	kill -INT "${PERFPID[$1]}" 2>/dev/null || true
	wait "${PERFPID[$1]}" 2>/dev/null || true
}
fsync_count_read() {			# outfile -> "cpu_ms,fsyncs,context_switches"
	awk -F, '/task-clock/ {cpu = $1} /context-switches/ {cs = $1} /syscalls/ {s += $1; n++}
		END {if (n) printf "%.0f,%d,%d", cpu, s, cs; else printf ",,"}' "$1" 2>/dev/null
}
cpu_snap() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

echo "rep,clients,config,tps,lat_ms,xacts,failed,machine_busy_pct,client_cpu_ms,nodeA,A_sync,A_write,A_records,A_bytes,A_fpi,A_commits,A_cpu_ms,A_fsyncs,A_cs,nodeB,B_sync,B_write,B_records,B_bytes,B_fpi,B_commits,B_cpu_ms,B_fsyncs,B_cs,p50_ms,p99_ms" >"$out/runs.csv"

# p50 and p99 latency (ms) of pgbench's per-transaction logs (column 3, in µs)
latency_pcts() {				# log prefix
	cat "$1".* 2>/dev/null | awk '{print $3}' | sort -n |
		awk '{a[NR] = $1} END {
			if (!NR) { printf ","; exit }
			i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
			i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
			printf "%.3f,%.3f", a[i50] / 1000, a[i99] / 1000 }'
}

run_one() {						# rep clients config
	local rep=$1 c=$2 cfg=$3
	local node=${CFG_NODE[$cfg]} peer=${CFG_PEER[$cfg]}
	local nodes="$node $peer" j=$(( c < 2 ? c : 2 ))
	local f="$out/pgbench/${cfg}_c${c}_r${rep}.txt"
	declare -A before after fsyncs
	for n in $nodes; do psql_on $n -c CHECKPOINT; done
	for n in $nodes; do
		before[$n]=$(wal_snap $n)
		fsync_count_start $n "$f.$n.fsync"
	done
	sleep 0.5
	local cpu0 cpu1
	cpu0=$(cpu_snap)
	PGOPTIONS="${CFG_OPTS[$cfg]}" /usr/bin/time -f "pgbench cpu %U %S" -o "$f.time" \
		"$pgbin/pgbench" -h "$sock" -p "${PORT[$node]}" -U postgres \
		-n -M prepared -c "$c" -j "$j" -T "$T" -l --log-prefix="$f.lat" \
		-f "$here/${CFG_SCRIPT[$cfg]}" postgres >"$f" 2>&1 || true
	cpu1=$(cpu_snap)
	sleep 1.5					# let the backends' and walwriter's WAL stats reach pg_stat_wal
	for n in $nodes; do
		after[$n]=$(wal_snap $n)
		fsync_count_stop $n
		fsyncs[$n]=$(fsync_count_read "$f.$n.fsync")
	done
	local tps lat xacts failed
	tps=$(awk '/^tps = / {print $3; exit}' "$f")
	lat=$(awk '/^latency average = / {print $4; exit}' "$f")
	xacts=$(awk '/^number of transactions actually processed/ {print $6; exit}' "$f" | cut -d/ -f1)
	failed=$(awk '/^number of failed transactions/ {print $5; exit}' "$f")
	grep -q "aborted in command\|Run was aborted" "$f" && failed="aborted"
	local busy
	busy=$(echo "$cpu0 $cpu1" | awk '{printf "%.0f", 100 * ($3 - $1) / ($4 - $2)}')
	local ccpu
	ccpu=$(awk '/^pgbench cpu/ {printf "%.0f", 1000 * ($3 + $4)}' "$f.time" 2>/dev/null)
	local row="$rep,$c,$cfg,${tps:-0},${lat:-0},${xacts:-0},${failed:-0},$busy,$ccpu"
	for n in $node ${peer:-none}; do
		if [ "$n" = none ]; then
			row="$row,,,,,,,,,,"
			continue
		fi
		local d
		d=$(paste -d' ' <(echo "${before[$n]}" | tr ' ' '\n') <(echo "${after[$n]}" | tr ' ' '\n') |
			awk '{printf "%s,", $2 - $1}')
		row="$row,$n,${d}${fsyncs[$n]}"
	done
	row="$row,$(latency_pcts "$f.lat")"
	rm -f "$f".lat.*
	echo "$row" >>"$out/runs.csv"
	log "rep $rep  c=$c  $(printf '%-16s' "$cfg") tps ${tps:-?}  lat ${lat:-?} ms${failed:+  failed $failed}"
}

log "runs: $REPS x clients ($CLIENTS) x configs ($CONFIGS), ${T}s each"
for rep in $(seq 1 "$REPS"); do
	order=$CONFIGS
	# rotate the order each repetition so no configuration always runs first
	for _ in $(seq 2 "$rep"); do order="$(echo $order | cut -d' ' -f2-) $(echo $order | cut -d' ' -f1)"; done
	for c in $CLIENTS; do
		for cfg in $order; do run_one "$rep" "$c" "$cfg"; done
	done
done

# ---------------------------------------------------------------- profile
if [ "$PROFILE" = 1 ]; then
	bash "$here/profile.sh" "$out/profile" || log "profile failed (see $out/profile)"
fi

# ---------------------------------------------------------------- report
python3 "$here/report.py" "$out" | tee "$out/summary.md"
log "done: $out"
