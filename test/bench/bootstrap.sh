#!/usr/bin/env bash
#
# test/bench/bootstrap.sh: how long rig_add_peer takes to bootstrap an
# empty node from a snapshot (the primary's log compacted), and what the
# primary's write throughput is meanwhile (issue 13's target: writes drop
# by at most 20 % during a bootstrap of a 1 GB state).
#
#   bash test/bench/bootstrap.sh          (as root, rig installed into $PGBIN's PostgreSQL)
#
# Two rig nodes under BOOT_DIR (unix sockets, ports BOOT_PORT and the next)
# with examples/ledger.sql: BOOT_ACCOUNTS accounts (default 20,000) and
# BOOT_TRANSFERS transfers (default 100,000) written with rig_do on the
# primary, rig_snapshot() and rig_compact() timed; then one pgbench run of
# BOOT_CLIENTS clients (default 4) of ledger transfers on the primary:
# BOOT_BEFORE seconds (default 20) without a bootstrap, then rig_add_peer
# of the empty node (sync), then BOOT_AFTER seconds (default 5).  Prints the
# state's size, the snapshot, compaction and bootstrap times, and the
# transfers/s before and during the bootstrap (from pgbench's per-second
# progress) and their ratio.  PGBIN: the PostgreSQL binaries (default the
# private copy /opt/pgsnap); BOOT_KEEP=1 keeps the nodes; BOOT_LIMIT: the
# longest bootstrap pgbench outlasts, in seconds (default 600).  BOOT_SAVE=DIR
# copies the primary's data directory there once it is written, snapshotted
# and compacted; BOOT_STATE=DIR starts from such a copy instead of writing
# (the same state bootstrapped by two builds: give the same BOOT_ACCOUNTS).
# BOOT_MAX_RATE: rig.bootstrap_max_rate for rig_add_peer's session (e.g.
# 2MB; default 0, no limit).  BOOT_DIR (default /tmp/rig-boot) and
# BOOT_PORT (the primary's, default 5481; the new node's is the next one):
# where the nodes live.  The load average is printed before and after.
# BOOT_HOLD=SECONDS: the control, no bootstrap: instead of rig_add_peer, a
# session holds a transaction with an xid that long (what rig_add_peer's
# transaction holds on the primary), and "during" is that time.
# BOOT_PROGRESS=FILE keeps pgbench's per-second progress.
# BOOT_PIN=1: the primary and pgbench on CPU 0, the new node on CPU 1
# (taskset), as if the new node had a machine of its own: the primary's
# writes then lose only what bootstrapping costs the primary, not the CPU
# the new node's loading and applying take on a shared machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=${PGBIN:-/opt/pgsnap/usr/lib/postgresql/15/bin}
base=${BOOT_DIR:-/tmp/rig-boot}
pport=${BOOT_PORT:-5481}
nport=$((pport + 1))
RATE=${BOOT_MAX_RATE:-0}
as_pg="runuser -u postgres --"
ACCOUNTS=${BOOT_ACCOUNTS:-20000}
TRANSFERS=${BOOT_TRANSFERS:-100000}
CLIENTS=${BOOT_CLIENTS:-4}
BEFORE=${BOOT_BEFORE:-20}
AFTER=${BOOT_AFTER:-5}

# the CPUs a node (n: new, p: primary and pgbench) runs on with BOOT_PIN
pin() { [ -n "${BOOT_PIN:-}" ] && echo "taskset -c $([ "$1" = n ] && echo 1 || echo 0)" || true; }

psql_at() {
	local port=$1; shift
	$as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base" -p "$port" -U postgres -d postgres "$@"
}
stop() {
	for n in p n; do
		[ -f "$base/$n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$base/$n" -m immediate stop >/dev/null 2>&1 || true
	done
}
now() { date +%s.%N; }
trap stop EXIT
[ -n "${BOOT_KEEP:-}" ] && trap - EXIT

stop
rm -rf "$base"
mkdir -p "$base"
cp "$src/examples/ledger.sql" "$base/"
chown -R postgres "$base"
for n in p n; do
	port=$([ $n = p ] && echo $pport || echo $nport)
	if [ $n = p ] && [ -n "${BOOT_STATE:-}" ]; then
		cp -a "$BOOT_STATE" "$base/p"
		chown -R postgres "$base/p"
		rm -f "$base/p/postmaster.pid"
		$(pin p) $as_pg "$pgbin/pg_ctl" -D "$base/p" -l "$base/p.log" -w start >/dev/null
		continue
	fi
	$as_pg "$pgbin/initdb" -D "$base/$n" -A trust -U postgres >/dev/null
	cat >>"$base/$n/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$base'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$n'
max_prepared_transactions = 20
max_connections = 50
shared_buffers = 256MB
CONF
	$(pin $n) $as_pg "$pgbin/pg_ctl" -D "$base/$n" -l "$base/$n.log" -w start >/dev/null
	psql_at $port -c 'CREATE EXTENSION rig' -f "$base/ledger.sql" >/dev/null
done

if [ -z "${BOOT_STATE:-}" ]; then
t0=$(now)
echo "[$(date +%T)] writing $ACCOUNTS accounts and $TRANSFERS transfers on the primary"
psql_at $pport >/dev/null <<SQL
SET synchronous_commit = off;
DO \$\$
BEGIN
	FOR b IN 0 .. ($ACCOUNTS - 1) / 1000 LOOP
		PERFORM ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1))
		  FROM generate_series(b * 1000 + 1, least((b + 1) * 1000, $ACCOUNTS)) i;
		COMMIT;
	END LOOP;
	FOR b IN 0 .. ($TRANSFERS - 1) / 1000 LOOP
		PERFORM rig_do('transfer', jsonb_build_object('id', i, 'debit_account', 1 + i % $ACCOUNTS,
				'credit_account', 1 + (i + 1 + i / $ACCOUNTS) % $ACCOUNTS, 'amount', 1 + i % 97, 'ledger', 1))
		  FROM generate_series(b * 1000 + 1, least((b + 1) * 1000, $TRANSFERS)) i
		 WHERE i % $ACCOUNTS <> (i + 1 + i / $ACCOUNTS) % $ACCOUNTS;
		COMMIT;
	END LOOP;
END \$\$;
CREATE SEQUENCE tid START 100000000;
SQL
echo "written in $(echo "$(now) - $t0" | bc) s"
fi
state=$(psql_at $pport -c "SELECT pg_size_pretty(pg_total_relation_size('ledger.accounts') + pg_total_relation_size('ledger.transfers'))")
rows=$(psql_at $pport -c "SELECT (SELECT count(*) FROM ledger.accounts) + (SELECT count(*) FROM ledger.transfers)")
echo "state: $rows rows, $state (tables with indexes)"

if [ -z "${BOOT_STATE:-}" ]; then
t0=$(now)
snap=$(psql_at $pport -c 'SELECT rig_snapshot()')
t1=$(now)
chunks=$(psql_at $pport -c "SELECT chunks || ' chunks, ' || pg_size_pretty(pg_total_relation_size('rig.snapshot_chunks')) FROM rig.snapshots WHERE id = $snap")
echo "rig_snapshot(): $(echo "$t1 - $t0" | bc) s ($chunks)"
# one op after the snapshot: compaction always keeps the newest record
psql_at $pport -c "SELECT ledger.transfer('{\"id\": 99999999, \"debit_account\": 1, \"credit_account\": 2, \"amount\": 1, \"ledger\": 1}')" >/dev/null
t0=$(now)
removed=$(psql_at $pport -c 'SELECT rig_compact(1000000000)' 2>/dev/null)
t1=$(now)
echo "rig_compact(): removed $removed records in $(echo "$t1 - $t0" | bc) s"
if [ -n "${BOOT_SAVE:-}" ]; then
	$as_pg "$pgbin/pg_ctl" -D "$base/p" -m fast -w stop >/dev/null
	rm -rf "$BOOT_SAVE"
	cp -a "$base/p" "$BOOT_SAVE"
	$(pin p) $as_pg "$pgbin/pg_ctl" -D "$base/p" -l "$base/p.log" -w start >/dev/null
fi
else
	echo "state from $BOOT_STATE: $(psql_at $pport -c "SELECT 'snapshot ' || id || ', ' || chunks || ' chunks, ' || pg_size_pretty(pg_total_relation_size('rig.snapshot_chunks')) FROM rig.snapshots ORDER BY id DESC LIMIT 1")"
fi

cat >"$base/transfer.sql" <<'PGB'
\set d random(1, :naccounts)
\set c random(1, :naccounts - 1)
SELECT ledger.transfer(jsonb_build_object('id', nextval('tid'), 'debit_account', :d,
	'credit_account', 1 + (:d + :c - 1) % :naccounts, 'amount', 1, 'ledger', 1));
PGB
chown postgres "$base/transfer.sql"

# one pgbench run: before, during and after the bootstrap
total=$((BEFORE + ${BOOT_LIMIT:-600}))
# (pgbench runs as this user, connecting as postgres: its pid is the one to stop)
$(pin p) "$pgbin/pgbench" -n -h "$base" -p $pport -U postgres -c "$CLIENTS" -j "$CLIENTS" -T "$total" \
	-P 1 --progress-timestamp -D naccounts="$ACCOUNTS" -f "$base/transfer.sql" postgres \
	>"$base/pgbench.out" 2>"$base/pgbench.err" &
bench=$!
sleep "$BEFORE"
echo "[$(date +%T)] rig_add_peer of the empty node, rig.bootstrap_max_rate = $RATE; $(uptime | sed 's/.*load/load/')"
b0=$(now)
if [ -n "${BOOT_HOLD:-}" ]; then
	psql_at $pport -c "BEGIN" -c "SELECT pg_current_xact_id()" -c "SELECT pg_sleep($BOOT_HOLD)" -c "COMMIT" >/dev/null
else
	psql_at $pport -c "SET rig.bootstrap_max_rate = '$RATE'" \
		-c "SELECT rig_add_peer('n', 'host=$base port=$nport dbname=postgres user=postgres', 'sync')" 2>"$base/add.err" >/dev/null
fi
b1=$(now)
sleep "$AFTER"
kill -TERM $bench 2>/dev/null || true
wait $bench 2>/dev/null || true

echo "[$(date +%T)] done; $(uptime | sed 's/.*load/load/')"
if [ -n "${BOOT_HOLD:-}" ]; then
	echo "held a transaction with an xid for $(echo "$b1 - $b0" | bc) s, no bootstrap"
	copied=$b1
else
	verify=$(psql_at $pport -c "SELECT count(*) FROM rig_verify_peer('n')")
	# the end of the snapshot's copy (state hash checked on the new node): then the log after W is shipped
	copied=$(date -d "$(grep 'rig bootstrapped peer' "$base/p.log" | head -1 | cut -d' ' -f1-3)" +%s.%N)
	echo "bootstrap: $(echo "$b1 - $b0" | bc) s, of which copying the snapshot $(echo "$copied - $b0" | bc) s and shipping the log written since $(echo "$b1 - $copied" | bc) s"
	echo "  ($(grep -o 'bootstrapping.*' "$base/add.err" | head -1)); rig_verify_peer: $verify difference(s)"
	# what the copy moved: every chunk's rows (the tables' and the idempotency keys'), as JSON text
	read -r crows cbytes <<<"$(psql_at $pport -F ' ' -c "SELECT sum(nrows), sum(octet_length(rows::text)) FROM rig.snapshot_chunks
		WHERE snapshot_id = (SELECT max(id) FROM rig.snapshots WHERE complete)")"
	echo "copy: $crows rows ($rows of the tables, the rest idempotency keys), $(echo "scale=0; $crows / ($copied - $b0)" | bc) rows/s;" \
		"$(echo "scale=1; $cbytes / 1048576" | bc) MB of JSON at $(echo "scale=2; $cbytes / 1048576 / ($copied - $b0)" | bc) MB/s"
fi
# BOOT_PROGRESS=FILE: keep pgbench's per-second progress there
if [ -n "${BOOT_PROGRESS:-}" ]; then cp "$base/pgbench.err" "$BOOT_PROGRESS"; fi
# pgbench -P with --progress-timestamp prints "progress: <epoch> s, <tps> tps, ..." on stderr
python3 - "$base/pgbench.err" "$b0" "$b1" "$copied" <<'PY'
import re, sys
path, b0, b1, copied = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
before, during, copy = [], [], []
for line in open(path):
    m = re.match(r'progress: ([0-9.]+) s, ([0-9.]+) tps', line)
    if not m:
        continue
    t, tps = float(m.group(1)), float(m.group(2))
    if t <= b0 - 1 and t > b0 - 1 - 1e9:
        before.append(tps)
    elif b0 + 1 <= t <= b1:
        during.append(tps)
        if t <= copied:
            copy.append(tps)
# leave out the first seconds (connections, caches)
before = before[3:]
if not before or not during:
    print("not enough progress lines (before %d, during %d)" % (len(before), len(during)))
    sys.exit(0)
bt = sum(before) / len(before)
dt = sum(during) / len(during)
print("transfers/s before: %.0f (%d s), during the bootstrap: %.0f (%d s), ratio %.2f" % (bt, len(before), dt, len(during), dt / bt))
if copy:
    ct = sum(copy) / len(copy)
    print("  while the snapshot was copied: %.0f (%d s), ratio %.2f" % (ct, len(copy), ct / bt))
PY
