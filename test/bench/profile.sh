#!/usr/bin/env bash
#
# test/bench/profile.sh OUTDIR: where the time goes, on the clusters that
# test/bench/run.sh started (run.sh calls it; with BENCH_KEEP=1 it can be
# rerun by hand on the running clusters).
#
#   waits.txt      wait events of the backends (pg_stat_activity sampled
#                  every 10 ms) for rig_do with a sync peer, native sync
#                  replication and the dblink 2PC, at 1 and 32 clients
#   strace_*.txt   syscalls per transaction of one backend at 1 client,
#                  split by socket (client / peer): round trips per op
#   perf_*.txt     perf profiles (self and inclusive) of the backends
#
# Runs pgbench in the background and measures during its middle part.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: profile.sh OUTDIR}
pgbin=/usr/lib/postgresql/15/bin
sock=/tmp/rig-bench
as_pg="runuser -u postgres --"
PT=${BENCH_PROFILE_T:-8}		# seconds measured per profile
declare -A PORT=([n1]=5461 [n2]=5462 [n3]=5463 [n4]=5464 [n5]=5465 [n6]=5466)
mkdir -p "$out"

psql_on() {
	local n=$1
	shift
	$as_pg "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "${PORT[$n]}" -U postgres -d postgres "$@"
}
pm_pid() { head -1 "$sock/$1/postmaster.pid"; }
# pids of a node's backends for an application_name
backend_pids() {				# node appname
	psql_on "$1" -At -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND application_name = '$2'"
}
# ops done so far, from the sequence that numbers them: "node:sequence"
ops() {
	psql_on "${1%%:*}" -At -c "SELECT coalesce(last_value, 0) FROM ${1#*:}"
}
# start pgbench in the background for the measurement plus margins
bench_bg() {					# node script clients seconds [PGOPTIONS]
	local j=$(( $3 < 2 ? $3 : 2 ))
	PGOPTIONS="${5:-}" "$pgbin/pgbench" -h "$sock" -p "${PORT[$1]}" -U postgres -n -M prepared \
		-c "$3" -j "$j" -T "$4" -f "$here/$2" postgres >>"$out/pgbench.txt" 2>&1 &
	BENCH_PID=$!
	sleep 2
}

# Wait-event sampling: one row per backend per 10 ms tick.
waits() {						# node appname ticks -> table
	psql_on "$1" -At -F' ' <<SQL
CREATE TEMP TABLE s (w text);
DO \$\$
BEGIN
	FOR i IN 1..$3 LOOP
		PERFORM pg_stat_clear_snapshot();
		INSERT INTO s SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU')
		  FROM pg_stat_activity
		 WHERE backend_type = 'client backend' AND application_name = '$2'
		   AND pid <> pg_backend_pid();
		PERFORM pg_sleep(0.01);
	END LOOP;
END
\$\$;
SELECT lpad(round(100.0 * count(*) / sum(count(*)) OVER (), 1)::text, 5) || '%  ' || w
  FROM s GROUP BY w ORDER BY count(*) DESC;
SQL
}

# syscalls of one process, split by the socket they use; per transaction
strace_one() {					# label node pid node:opsequence
	local label=$1 node=$2 pid=$3 c0 c1 f="$out/strace_$1.raw"
	c0=$(ops "$4")
	timeout -s INT "$PT" strace -qq -yy -p "$pid" -e trace=sendto,recvfrom,write,read,fdatasync,fsync,epoll_wait,poll -o "$f" || true
	c1=$(ops "$4")
	{
		echo "== $label: pid $pid on $node, $((c1 - c0)) ops during the trace (by $4)"
		# classify by the unix socket path (its port): client or peer
		awk -v tx=$((c1 - c0)) '
			{
				call = $1; sub(/\(.*/, "", call)
				where = "other"
				if (match($0, /PGSQL\.[0-9]+/)) where = "incoming socket " substr($0, RSTART, RLENGTH)
				else if ($0 ~ /UNIX:/) where = "outgoing socket"
				else if ($0 ~ /pg_wal/) where = "WAL file"
				if (call == "epoll_wait" || call == "poll") where = "(wait)"
				n[where " " call]++
			}
			END {
				for (k in n) printf "  %-40s %8d  %6.2f per op\n", k, n[k], (tx ? n[k] / tx : 0)
			}' "$f" | sort || true
	} >"$out/strace_$label.txt"
	rm -f "$f"
}

# perf: self and inclusive (children) profiles of a set of pids
perf_pids() {					# label pids functions-to-break-down...
	local label=$1 pids=$2
	shift 2
	perf record -q -F 499 --buildid-mmap --call-graph dwarf,16384 -p "$pids" -o "$out/perf_$label.data" -- sleep "$PT" >/dev/null 2>&1 || true
	{
		echo "== $label: self time (top 40)"
		perf report -i "$out/perf_$label.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -40 || true
		echo
		echo "== $label: inclusive time (top 80 named symbols)"
		perf report -i "$out/perf_$label.data" --children --sort sym --stdio -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | grep -v '\] 0x0000' | head -80 || true
		echo
		echo "== $label: callees of rig's and PostgreSQL's main steps (share of all samples)"
		perf script -i "$out/perf_$label.data" -F comm,ip,sym 2>/dev/null >"$out/perf_$label.script" || true
		python3 "$here/stacks.py" "$out/perf_$label.script" "$@" || true
	} >"$out/perf_$label.txt"
	rm -f "$out/perf_$label.script"
	rm -f "$out/perf_$label.data"
}

ticks=$((PT * 100 / 2))			# sampling loop ~ half the time budget (sleep + query)
: >"$out/waits.txt"
log() { echo "[$(date +%T)] profile: $*" >&2; }

# --- issue 2: rig_do vs direct INSERT on one node, 1 client: perf
for cfg in direct:direct.sql rig_local:rig_do.sql; do
	name=${cfg%%:*}
	log "$name, 1 client, perf"
	bench_bg n1 "${cfg#*:}" 1 $((PT + 4))
	perf_pids "${name}_c1" "$(backend_pids n1 pgbench)" PostgresMain rig_do_op rig_call_apply \
		rig_call_resources fmgr_sql fmgr_security_definer CommitTransactionCommand
	wait "$BENCH_PID" || true
done

# --- issue 3: round trips and syscalls per op at 1 client
log "rig_sync, 1 client, strace"
bench_bg n2 rig_do.sql 1 $((PT + 4)) "-c rig.commit_wait=on"
strace_one rig_sync_primary_backend n2 "$(backend_pids n2 pgbench)" n2:rig.version_seq
wait "$BENCH_PID" || true
log "rig_sync, 1 client, strace of the peer's backend"
bench_bg n2 rig_do.sql 1 $((PT + 4)) "-c rig.commit_wait=on"
strace_one rig_sync_peer_backend n3 "$(backend_pids n3 rig)" n2:rig.version_seq
wait "$BENCH_PID" || true

log "native_sync, 1 client, strace of walsender and walreceiver"
bench_bg n4 direct.sql 1 $((PT + 4))
strace_one native_walsender n4 "$(psql_on n4 -At -c "SELECT pid FROM pg_stat_replication LIMIT 1")" n4:bench.users_id_seq &
strace_one native_walreceiver n5 "$(psql_on n5 -At -c "SELECT pid FROM pg_stat_wal_receiver")" n4:bench.users_id_seq
wait "$BENCH_PID" || true
wait || true

log "dblink_2pc, 1 client, strace"
bench_bg n1 dblink_2pc.sql 1 $((PT + 4))
strace_one dblink_backend n1 "$(backend_pids n1 pgbench)" n1:bench.users_id_seq
wait "$BENCH_PID" || true

# --- wait events, at 1 and 32 clients
for c in 1 32; do
	log "wait events at $c clients"
	bench_bg n2 rig_do.sql "$c" $((PT + 4)) "-c rig.commit_wait=on"
	waits n3 rig "$ticks" >"$out/waits_peer.tmp" &
	wpid=$!
	{ echo "== rig_sync, $c clients: primary backends (n2)"; waits n2 pgbench "$ticks"; } >>"$out/waits.txt"
	wait "$wpid" || true
	{ echo "== rig_sync, $c clients: the peer's backends serving them (n3)"; cat "$out/waits_peer.tmp"; echo; } >>"$out/waits.txt"
	wait "$BENCH_PID" || true
	bench_bg n4 direct.sql "$c" $((PT + 4))
	{ echo "== native_sync, $c clients: primary backends (n4)"; waits n4 pgbench "$ticks"; echo; } >>"$out/waits.txt"
	wait "$BENCH_PID" || true
	bench_bg n1 dblink_2pc.sql "$c" $((PT + 4))
	{ echo "== dblink_2pc, $c clients: local backends (n1)"; waits n1 pgbench "$ticks"; echo; } >>"$out/waits.txt"
	wait "$BENCH_PID" || true
done
rm -f "$out/waits_peer.tmp"

# --- issue 3 at 32 clients: perf on the primary's and the peer's backends
log "rig_sync, 32 clients, perf on n2 and n3"
bench_bg n2 rig_do.sql 32 $((PT + 4)) "-c rig.commit_wait=on"
perf_pids rig_sync_c32_primary "$(backend_pids n2 pgbench)" PostgresMain CommitTransactionCommand \
	rig_replicate_prepare rig_finish_peers rig_conn_wait WaitLatchOrSocket rig_do_op fmgr_sql &
perf_pids rig_sync_c32_peer "$(backend_pids n3 rig)" PostgresMain rig_apply_remote rig_apply_op \
	rig_call_resources rig_call_apply fmgr_security_definer FinishPreparedTransaction fmgr_sql
wait || true
log "done"
