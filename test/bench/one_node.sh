# test/bench/one_node.sh: sourced by the benchmarks that run one rig node
# (rebuild.sh, settings.sh), as root.  Set before sourcing: pgbin, base
# (the directory of the node, removed first), port.  Gives psql_n (psql on
# the node, as postgres) and one_node_start SQL-FILE (initdb, no peer,
# synchronous_commit off, rig created and SQL-FILE run; stopped with -m
# immediate when the script exits, unless ONE_NODE_KEEP is set).

as_pg="runuser -u postgres --"

psql_n() {
	$as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base" -p "$port" -U postgres -d postgres "$@"
}

one_node_stop() {
	[ -f "$base/n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$base/n" -m immediate stop >/dev/null 2>&1 || true
}

one_node_start() {
	local sql=$1
	one_node_stop
	[ -n "${ONE_NODE_KEEP:-}" ] || trap one_node_stop EXIT
	rm -rf "$base"
	mkdir -p "$base"
	cp "$sql" "$base/setup.sql"
	chown -R postgres "$base"
	$as_pg "$pgbin/initdb" -D "$base/n" -A trust -U postgres >/dev/null
	cat >>"$base/n/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$base'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = 'n'
max_prepared_transactions = 10
synchronous_commit = off
CONF
	$as_pg "$pgbin/pg_ctl" -D "$base/n" -l "$base/n.log" -w start >/dev/null
	psql_n -c 'CREATE EXTENSION rig' -f "$base/setup.sql" >/dev/null
}
