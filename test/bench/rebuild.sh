#!/usr/bin/env bash
#
# test/bench/rebuild.sh: how fast rig_rebuild() applies the log again
# (issue 13's target: >= 20,000 ops/s for the ledger example).
#
#   bash test/bench/rebuild.sh            (as root, Debian 12, rig installed)
#
# One rig node (no peer) under /tmp/rig-rebuild (unix socket, port 5471;
# REBUILD_BASE, REBUILD_PORT, PGBIN for a private install) with
# examples/ledger.sql (REBUILD_LEDGER: another copy of it, for an A/B run).
# The workload issue 13's target is measured on, written with rig_do:
# REBUILD_OPS ledger operations (default 50,000) over REBUILD_ACCOUNTS
# accounts (default 10,000): the accounts opened, then transfers between
# neighbouring accounts (amounts 1-97), then REBUILD_OPS / 10 pending
# transfers (timeout one day) and as many resolutions of them, half posted
# and half voided -- about 8 updates per account, none of them hot.  Then
# rig_rebuild() timed REBUILD_REPS times (default 3): wall clock ops/s and
# ops per CPU second of the rebuilding backend (what other agents' load on
# the machine moves least).  Few accounts make long update chains in the
# one transaction of the rebuild (see BENCHMARKS.md).  Prints the rates per
# run and their medians; the node is removed at the end (REBUILD_KEEP=1
# keeps it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
base=${REBUILD_BASE:-/tmp/rig-rebuild}
port=${REBUILD_PORT:-5471}
OPS=${REBUILD_OPS:-50000}
REPS=${REBUILD_REPS:-3}
. "$here/one_node.sh"
ONE_NODE_KEEP=${REBUILD_KEEP:-}
one_node_start "${REBUILD_LEDGER:-$src/examples/ledger.sql}"

# the history: the accounts, then transfers, in transactions of 1,000 ops;
# then the pending transfers and their resolutions
accounts=${REBUILD_ACCOUNTS:-10000}
pending=$((OPS / 10))
transfers=$((OPS - accounts - 2 * pending))
[ "$transfers" -gt 0 ] || { echo "REBUILD_OPS must exceed the accounts plus 20 %" >&2; exit 1; }
echo "[$(date +%T)] writing $OPS ledger operations"
psql_n >/dev/null <<SQL
DO \$\$
BEGIN
	FOR b IN 0 .. ($accounts - 1) / 1000 LOOP
		PERFORM ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1))
		  FROM generate_series(b * 1000 + 1, least((b + 1) * 1000, $accounts)) i;
		COMMIT;
	END LOOP;
	FOR b IN 0 .. ($transfers - 1) / 1000 LOOP
		PERFORM rig_do('transfer', jsonb_build_object('id', i, 'debit_account', 1 + i % $accounts,
				'credit_account', 1 + (i + 1 + i / $accounts) % $accounts, 'amount', 1 + i % 97, 'ledger', 1))
		  FROM generate_series(b * 1000 + 1, least((b + 1) * 1000, $transfers)) i
		 WHERE i % $accounts <> (i + 1 + i / $accounts) % $accounts;
		COMMIT;
	END LOOP;
	FOR i IN 1 .. $pending LOOP
		PERFORM rig_do('transfer', jsonb_build_object('id', 10000000 + i, 'debit_account', 1 + i % $accounts,
				'credit_account', 1 + (i + 1) % $accounts, 'amount', 1, 'ledger', 1, 'pending', true, 'timeout', 86400));
	END LOOP;
	COMMIT;
	FOR i IN 1 .. $pending LOOP
		PERFORM rig_do(CASE WHEN i % 2 = 0 THEN 'transfer_post' ELSE 'transfer_void' END,
			jsonb_build_object('id', 20000000 + i, 'pending_id', 10000000 + i,
							   'debit_account', 1 + i % $accounts, 'credit_account', 1 + (i + 1) % $accounts));
	END LOOP;
END \$\$;
SQL
n=$(psql_n -c 'SELECT count(*) FROM rig.log')
echo "[$(date +%T)] $n operations in rig.log; rebuilding $REPS times"
psql_n -c 'CHECKPOINT' >/dev/null
rates=()
cpurates=()
for r in $(seq "$REPS"); do
	# wall clock, and the backend's CPU time (utime + stime, in ticks of
	# 1/100 s): the CPU rate is what the machine's load does not move
	t0=$(date +%s.%N)
	got=$(psql_n <<SQL
SELECT pg_backend_pid() AS pid \\gset
\\setenv RIG_PID :pid
\\! awk '{print \$14 + \$15}' /proc/\$RIG_PID/stat >$base/cpu0
SELECT rig_rebuild();
\\! awk '{print \$14 + \$15}' /proc/\$RIG_PID/stat >$base/cpu1
SQL
)
	t1=$(date +%s.%N)
	cpu=$(python3 -c "print(($(cat $base/cpu1) - $(cat $base/cpu0)) / 100)")
	rate=$(python3 -c "print(round($got / ($t1 - $t0)))")
	cpurate=$(python3 -c "print(round($got / max($cpu, 0.01)))")
	echo "run $r: $got operations in $(python3 -c "print(round($t1 - $t0, 2))") s: $rate ops/s; backend CPU $cpu s: $cpurate ops per CPU second"
	rates+=("$rate")
	cpurates+=("$cpurate")
done
python3 -c "import statistics,sys; print('median CPU:', statistics.median(map(int, sys.argv[1:])), 'ops per CPU second')" "${cpurates[@]}"
python3 -c "import statistics,sys; print('median:', statistics.median(map(int, sys.argv[1:])), 'ops/s')" "${rates[@]}"
psql_n -c 'SELECT count(*) AS broken_invariants FROM ledger.check()'
