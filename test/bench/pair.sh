# test/bench/pair.sh: two rig nodes, p and r, as the postgres OS user under
# $base (unix sockets only, ports ${PORT[p]} and ${PORT[r]}), with
# examples/metadata.sql loaded.  Sourced by catchup.sh and failover.sh,
# which set base, src, pgbin, as_pg and PORT first.

now() { date +%s.%N; }

psql_on() {						# node args...
	local n=$1
	shift
	$as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base" -p "${PORT[$n]}" -U postgres -d postgres "$@"
}

stop_all() {
	for n in p r; do
		[ -f "$base/$n/postmaster.pid" ] && $as_pg "$pgbin/pg_ctl" -D "$base/$n" -m immediate stop >/dev/null 2>&1 || true
	done
}

# Start p and r afresh with rig and metadata.sql; $1: extra postgresql.conf
# lines, the rest: more files to copy into $base.
pair_start() {
	local extra=$1
	shift
	stop_all
	rm -rf "$base"
	mkdir -p "$base"
	cp "$src/examples/metadata.sql" "$@" "$base/"
	chown -R postgres "$base"
	for n in p r; do
		$as_pg "$pgbin/initdb" -D "$base/$n" -A trust -U postgres >/dev/null
		cat >>"$base/$n/postgresql.conf" <<CONF
port = ${PORT[$n]}
listen_addresses = ''
unix_socket_directories = '$base'
shared_preload_libraries = 'rig'
rig.database = 'postgres'
rig.node_name = '$n'
rig.sync_timeout = 2000
max_prepared_transactions = 100
max_connections = 100
$extra
CONF
		$as_pg "$pgbin/pg_ctl" -D "$base/$n" -l "$base/$n.log" -w start >/dev/null
		psql_on $n -c "CREATE EXTENSION rig" -f "$base/metadata.sql" >/dev/null
	done
}
