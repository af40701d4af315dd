#!/usr/bin/env bash
#
# test/bench/ledger.sh: ledger transfers per second with a sync peer
# (issue 13's benchmark), spread over 10,000 accounts and between two hot
# accounts, at 1 and 32 clients, side by side in one run.
#
#   bash test/bench/ledger.sh         (as root, Debian 12, rig installed)
#
# Two clusters as the postgres OS user under /tmp/rig-ledger (unix sockets,
# ports 5491/5492): p with r as its sync peer, examples/ledger.sql on both,
# LEDGER_ACCOUNTS accounts opened through rig_do.  For each of LEDGER_REPS
# repetitions, every (script, clients) pair runs LEDGER_T seconds, back to
# back, so the ratios compare runs made under the same load.  Hot transfers
# serialize on their two accounts' locks through the peer's PREPARE, so the
# target is: hot at 32 clients >= hot at 1 client (never worse).
# Ends with the ledger's invariant checked on both nodes and the two logs
# compared.  Knobs: LEDGER_T (8), LEDGER_REPS (3), LEDGER_CLIENTS ("1 32"),
# LEDGER_SCRIPTS ("spread hot"), LEDGER_SQL (another ledger.sql, for an A/B
# run), PGBIN (a private install), LEDGER_BASE and LEDGER_PORT (p's; r is
# the next port).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
base=${LEDGER_BASE:-/tmp/rig-ledger}
as_pg="runuser -u postgres --"
T=${LEDGER_T:-8}
REPS=${LEDGER_REPS:-3}
CLIENTS=${LEDGER_CLIENTS:-"1 32"}
declare -A PORT=([p]=${LEDGER_PORT:-5491} [r]=$(( ${LEDGER_PORT:-5491} + 1 )))
. "$here/pair.sh"

[ "$(id -u)" -eq 0 ] || { echo "run this as root" >&2; exit 1; }
trap stop_all EXIT
[ -n "${LEDGER_KEEP:-}" ] && trap - EXIT
ledger_sql=${LEDGER_SQL:-$src/examples/ledger.sql}
pair_start "rig.resolver_interval = 200
shared_buffers = 256MB" "$ledger_sql" "$here/ledger_spread.sql" "$here/ledger_hot.sql"
for n in p r; do
	psql_on $n -f "$base/$(basename "$ledger_sql")" >/dev/null
done
psql_on p -c "SELECT rig_add_peer('r', 'host=$base port=${PORT[r]} dbname=postgres user=postgres', 'sync')" >/dev/null
psql_on p >/dev/null <<SQL
DO \$\$
BEGIN
	FOR b IN 0 .. 9 LOOP
		PERFORM ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1))
		  FROM generate_series(b * 1000 + 1, (b + 1) * 1000) i;
		COMMIT;
	END LOOP;
END \$\$;
SQL

# Each run prints per-second progress: besides the run's tps (which counts
# the sessions' first transfers: a new session's first op plans its
# handlers, on both nodes, while it holds the hot accounts' locks, and 32
# of them queue there), the steady rate is the median of the per-second
# rates after the first LEDGER_WARMUP seconds (default 3).
WARMUP=${LEDGER_WARMUP:-3}
declare -A tps steady
for rep in $(seq "$REPS"); do
	for script in ${LEDGER_SCRIPTS:-spread hot}; do
		for c in $CLIENTS; do
			psql_on p -c CHECKPOINT >/dev/null
			out=$($as_pg "$pgbin/pgbench" -n -M prepared -h "$base" -p "${PORT[p]}" -U postgres -P 1 \
				-c "$c" -j "$((c < 2 ? c : 2))" -T "$T" -f "$base/ledger_$script.sql" postgres 2>&1) || true
			t=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			st=$(echo "$out" | python3 -c "import re,statistics,sys
r=[float(m.group(2)) for m in (re.match(r'progress: ([0-9.]+) s, ([0-9.]+) tps', l) for l in sys.stdin) if m and float(m.group(1)) > $WARMUP]
print(round(statistics.median(r)) if r else 0)")
			failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
			echo "[$(date +%T)] rep $rep $script c=$c tps ${t:-0} steady $st failed ${failed:-?} load $(cut -d' ' -f1 /proc/loadavg)"
			echo "$out" | grep -m 3 'error' || true
			t=${t:-0}
			tps[$script,$c]="${tps[$script,$c]:-} $t"
			steady[$script,$c]="${steady[$script,$c]:-} $st"
		done
	done
done

median() { python3 -c "import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))" $1; }
echo
echo "| transfers/s (median of $REPS x ${T}s; steady: after ${WARMUP}s) | $(echo $CLIENTS | sed 's/ / clients | /g') clients |"
echo "|---|$(for c in $CLIENTS; do printf -- '---|'; done)"
for script in ${LEDGER_SCRIPTS:-spread hot}; do
	printf '| %s |' "$script"
	for c in $CLIENTS; do printf ' %s |' "$(median "${tps[$script,$c]}")"; done
	echo
	printf '| %s, steady |' "$script"
	for c in $CLIENTS; do printf ' %s |' "$(median "${steady[$script,$c]}")"; done
	echo
done
first=$(echo $CLIENTS | awk '{print $1}')
last=$(echo $CLIENTS | awk '{print $NF}')
case " ${LEDGER_SCRIPTS:-spread hot} " in *" hot "*)
python3 -c "import statistics as s,sys
h1=s.median(map(float,sys.argv[1].split())); hn=s.median(map(float,sys.argv[2].split()))
s1=s.median(map(float,sys.argv[3].split())); sn=s.median(map(float,sys.argv[4].split()))
print('hot: $last clients / $first client = %.2f, steady %.2f (target >= 1.0)' % (hn/h1, sn/max(s1,1)))" \
	"${tps[hot,$first]}" "${tps[hot,$last]}" "${steady[hot,$first]}" "${steady[hot,$last]}" ;;
esac
# the peer commits what it prepared (COMMIT PREPARED may still be on its way)
for i in $(seq 100); do
	[ "$(psql_on p -c 'SELECT count(*) FROM rig.log')" = "$(psql_on r -c 'SELECT count(*) FROM rig.log')" ] && break
	sleep 0.1
done
for n in p r; do
	echo "$n: broken invariants $(psql_on $n -c 'SELECT count(*) FROM ledger.check()'), ops $(psql_on $n -c 'SELECT count(*) FROM rig.log')"
done
