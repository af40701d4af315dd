#!/usr/bin/env bash
# test/bench/xnode.sh: transactions across nodes (issue 12).  Two rig
# primaries, east and west (unix sockets under $base, no replicas), with
# examples/transfer.sql; east coordinates.  Measures, with pgbench -T $secs
# at 1 and 16 clients:
#   single: one rig_do moving money between two accounts of east
#   xnode:  a 2-branch transfer east -> west: rig_transaction_start, then
#           rig_transaction_wait until committed (prepare + commit on both)
# Usage (as root or postgres): bash test/bench/xnode.sh [secs]
# Environment: PGBIN (default: /usr/lib/postgresql/15/bin), BASE (/tmp/rig-xnode-bench),
# TESTS (default: "single xnode"), CLIENTS (default: "1 16").
set -euo pipefail
secs=${1:-10}
src=$(cd "$(dirname "$0")/../.." && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
base=${BASE:-/tmp/rig-xnode-bench}
as_pg=""; [ "$(id -un)" = postgres ] || as_pg="runuser -u postgres --"
declare -A PORT=([east]=5481 [west]=5482)

psql_on() { local n=$1; shift; $as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base" -p "${PORT[$n]}" -d postgres "$@"; }
stop_all() { for n in east west; do [ -f "$base/$n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$base/$n" -m immediate stop >/dev/null 2>&1 || true; done; }
[ -n "${KEEP:-}" ] || trap stop_all EXIT

stop_all; rm -rf "$base"; mkdir -p "$base"; chown postgres "$base"
for n in east west; do
	$as_pg "$pgbin/initdb" -D "$base/$n" -A trust >/dev/null
	cat >>"$base/$n/postgresql.conf" <<CONF
port = ${PORT[$n]}
listen_addresses = ''
unix_socket_directories = '$base'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$n'
max_prepared_transactions = 100
max_connections = 100
CONF
	$as_pg "$pgbin/pg_ctl" -D "$base/$n" -l "$base/$n.log" -w start >/dev/null
	psql_on $n -c 'CREATE EXTENSION rig' -f "$src/examples/transfer.sql" >/dev/null
	psql_on $n -c "SELECT count(rig_do('xfer.open', jsonb_build_object('account', i, 'balance', 1000000000))) FROM generate_series(1, 100) i" >/dev/null
done
# the single-node comparison: one op moving money between two accounts of east
psql_on east >/dev/null <<'SQL'
CREATE FUNCTION xfer.move_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	SET search_path = pg_catalog, pg_temp AS $$
	UPDATE xfer.accounts SET balance = balance - (d->>'amount')::bigint WHERE id = (d->>'from')::int;
	UPDATE xfer.accounts SET balance = balance + (d->>'amount')::bigint WHERE id = (d->>'to')::int $$;
CREATE FUNCTION xfer.move_resources(d jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT ARRAY['xfer.account:' || (d->>'from'), 'xfer.account:' || (d->>'to')] $$;
SELECT rig_register('xfer.move', 'xfer.move_apply(bigint,jsonb)', NULL, 'xfer.move_resources(jsonb)');
SQL
psql_on east -c "SELECT rig_add_node('west', 'host=$base port=${PORT[west]} dbname=postgres')" >/dev/null

cat >"$base/single.sql" <<'SQL'
\set a random(1, 100)
\set b random(1, 100)
SELECT rig_do('xfer.move', jsonb_build_object('from', :a, 'to', :b, 'amount', 1));
SQL
cat >"$base/xnode.sql" <<'SQL'
\set a random(1, 100)
\set b random(1, 100)
SELECT rig_transaction_start(jsonb_build_array(
  jsonb_build_object('node', 'east', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', :a, 'amount', -1)),
  jsonb_build_object('node', 'west', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', :b, 'amount', 1)))) AS id \gset
SELECT rig_transaction_wait(:id);
SQL
chown postgres "$base"/*.sql

# the median time of each durable step of the transactions of one run, in
# ms after their start op: the votes (the later one), the decision, the
# commits (the later one), the final state (op times, before each commit)
steps() {
	psql_on east -c "SELECT 'votes ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric, 2)
	    || ' decision ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 2)
	    || ' commits ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY c)::numeric, 2)
	    || ' final ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY f)::numeric, 2)
	  FROM (SELECT t.id,
	          max(extract(epoch FROM e.at - t.created) * 1000) FILTER (WHERE e.event = 'prepared') v,
	          max(extract(epoch FROM e.at - t.created) * 1000) FILTER (WHERE e.event = 'committing') d,
	          max(extract(epoch FROM e.at - t.created) * 1000) FILTER (WHERE e.event = 'committed' AND e.branch IS NOT NULL) c,
	          max(extract(epoch FROM e.at - t.created) * 1000) FILTER (WHERE e.event = 'committed' AND e.branch IS NULL) f
	        FROM rig.transactions t JOIN rig.transaction_events e USING (id)
	        WHERE t.id > $1 AND t.state = 'committed' GROUP BY t.id) s"
}

printf '%-7s %7s %10s %12s  %s\n' test clients tps latency_ms "median steps (ms after the start op)"
for t in ${TESTS:-single xnode}; do
	for c in ${CLIENTS:-1 16}; do
		mark=$(psql_on east -c "SELECT coalesce(max(id), 0) FROM rig.transactions")
		out=$($as_pg "$pgbin/pgbench" -n -h "$base" -p "${PORT[east]}" -c $c -j $((c < 2 ? 1 : 2)) -T "$secs" -f "$base/$t.sql" postgres 2>&1)
		tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
		lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
		printf '%-7s %7s %10s %12s  %s\n' $t $c "$tps" "$lat" "$([ $t = xnode ] && steps $mark)"
	done
done
echo "states: $(psql_on east -c "SELECT string_agg(state || '=' || n, ' ') FROM (SELECT state, count(*) n FROM rig.transactions GROUP BY 1) s")"
