#!/usr/bin/env bash
#
# examples/demo.sh: build rig, start a primary and a replica on this
# machine, load the metadata service, write through rig_do() and show that
# both nodes agree.
#
#   bash examples/demo.sh           (as root on Debian 12)
#   bash examples/demo.sh stop      (stop and remove the two nodes)
#
# The nodes listen on unix sockets in /tmp/rig-demo only (ports 5441 and
# 5442); connect with  psql -h /tmp/rig-demo -p 5441 -U postgres postgres
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
demo=/tmp/rig-demo
pgbin=/usr/lib/postgresql/15/bin
as_pg="runuser -u postgres --"

stop_nodes() {
	for n in primary replica; do
		[ -f "$demo/$n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$demo/$n" -m fast stop >/dev/null || true
	done
	rm -rf "$demo"
}

if [ "$(id -u)" -ne 0 ]; then
	echo "run this as root (it installs packages and starts servers as postgres)" >&2
	exit 1
fi
if [ "${1:-}" = "stop" ]; then
	stop_nodes
	echo "stopped"
	exit 0
fi

. "$src/test/install-deps.sh"
rig_install_deps postgresql-15 postgresql-server-dev-15 libjansson-dev make gcc

echo "== building and installing rig"
make -C "$src" -s
make -C "$src" -s install

stop_nodes
mkdir -p "$demo"
cp "$src/examples/metadata.sql" "$demo/"
chown -R postgres "$demo"

start_node() {					# name port
	$as_pg "$pgbin/initdb" -D "$demo/$1" -A trust -U postgres >/dev/null
	cat >>"$demo/$1/postgresql.conf" <<CONF
port = $2
listen_addresses = ''
unix_socket_directories = '$demo'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$1'
max_prepared_transactions = 100
CONF
	$as_pg "$pgbin/pg_ctl" -D "$demo/$1" -l "$demo/$1.log" -w start >/dev/null
	psql_on "$2" -c "CREATE EXTENSION rig" -f "$demo/metadata.sql" >/dev/null
}
psql_on() {						# port args...
	local port=$1
	shift
	$as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$demo" -p "$port" -U postgres -d postgres "$@"
}

echo "== starting primary (port 5441) and replica (port 5442) in $demo"
start_node primary 5441
start_node replica 5442

echo "== the primary makes the replica its sync peer"
psql_on 5441 -c "SELECT rig_add_peer('replica', 'host=$demo port=5442 dbname=postgres user=postgres')"

echo "== writes through rig_do() on the primary"
psql_on 5441 <<'SQL'
\pset footer off
SELECT rig_do('user_create', metadata.new_user('ada@example.com', 'Ada', 'analytical')) AS ada \gset
SELECT rig_do('user_create', metadata.new_user('grace@example.com', 'Grace', 'cobol')) AS grace \gset
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'name', 'Ada Lovelace'), 'rename-ada-1');
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'name', 'Ada Lovelace'), 'rename-ada-1') AS "same key again: same version";
SELECT rig_do('user_delete', jsonb_build_object('id', :grace));
SQL

for n in "primary 5441" "replica 5442"; do
	set -- $n
	echo "== $1: rig.log and metadata.users"
	psql_on "$2" -c "SELECT version, method, data - 'password_salt' - 'password_hash' AS data, idempotency_key, origin FROM rig.log ORDER BY version" \
		-c "SELECT id, email, name, version FROM metadata.users ORDER BY id"
done

echo "== the replica refuses writes"
psql_on 5442 -c "SELECT rig_do('user_delete', '{\"id\": 1}')" 2>&1 | sed 's/^/   /' || true

a=$(psql_on 5441 -At -c "SELECT md5(string_agg(l::text, ',' ORDER BY version)) FROM rig.log l")
b=$(psql_on 5442 -At -c "SELECT md5(string_agg(l::text, ',' ORDER BY version)) FROM rig.log l")
if [ "$a" = "$b" ]; then
	echo "== both nodes hold the identical log ($a)"
else
	echo "== the logs differ: $a vs $b" >&2
	exit 1
fi
echo "The nodes keep running: psql -h $demo -p 5441 -U postgres postgres  (stop: bash examples/demo.sh stop)"
