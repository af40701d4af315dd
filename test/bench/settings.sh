#!/usr/bin/env bash
#
# test/bench/settings.sh: what the handlers' fixed settings cost a rig_do
# (rig_handler_settings_push: one GUC nest level per op and one
# set_config_option per setting the session does not already have).
#
#   bash test/bench/settings.sh           (as root, Debian 12, rig installed)
#
# One rig node (no peer, synchronous_commit off, so the CPU of the op is
# what is measured) under /tmp/rig-settings (unix socket, port 5473;
# SETTINGS_BASE, SETTINGS_PORT, PGBIN for a private install) with
# examples/metadata.sql, and pgbench -M prepared of test/bench/rig_do.sql
# at 1 client, SETTINGS_T seconds (default 6) per run, SETTINGS_REPS rounds
# (default 4) of four sessions alternated:
#   none    the session has every handler setting already: no switch;
#   path    only search_path differs (what every op paid before session 10);
#   default a default session on this server (initdb's settings; the
#           TimeZone differs unless the machine's zone is UTC);
#   locale  as default, and lc_monetary, lc_numeric, lc_time and
#           default_text_search_config differ too (a server initdb set to
#           an English locale: rig.handler_locale C, simple stemming).
# Prints each run's tps and each session's median.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
base=${SETTINGS_BASE:-/tmp/rig-settings}
port=${SETTINGS_PORT:-5473}
T=${SETTINGS_T:-6}
REPS=${SETTINGS_REPS:-4}
. "$here/one_node.sh"
one_node_start "$src/examples/metadata.sql"
cp "$here/rig_do.sql" "$base/"
chown postgres "$base/rig_do.sql"
echo "server: TimeZone $(psql_n -c 'SHOW TimeZone'), lc_time $(psql_n -c 'SHOW lc_time'), text search $(psql_n -c 'SHOW default_text_search_config')"

# (search_path written exactly as rig.handler_search_path's default, spaces escaped)
match="-c search_path=\"\$user\",\\ public,\\ pg_temp -c TimeZone=UTC -c lc_monetary=C -c lc_numeric=C -c lc_time=C -c default_text_search_config=pg_catalog.simple"
declare -A opts=(
	[none]="$match"
	[path]="-c TimeZone=UTC -c lc_monetary=C -c lc_numeric=C -c lc_time=C -c default_text_search_config=pg_catalog.simple"
	[default]=""
	[locale]="-c lc_monetary=C.UTF-8 -c lc_numeric=C.UTF-8 -c lc_time=C.UTF-8 -c default_text_search_config=pg_catalog.english"
)
sessions="none path default locale"
declare -A runs
for r in $(seq 1 "$REPS"); do
	for s in $sessions; do
		tps=$(cd "$base" && PGOPTIONS="${opts[$s]}" "$pgbin/pgbench" -n -M prepared -h "$base" -p "$port" -U postgres \
			-c 1 -j 1 -T "$T" -f rig_do.sql postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
		runs[$s]="${runs[$s]:-} $tps"
		echo "round $r $s: $tps tps"
	done
done
echo
echo "| session | runs (tps) | median |"
echo "|---|---|---|"
for s in $sessions; do
	med=$(printf '%s\n' ${runs[$s]} | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}')
	echo "| $s |${runs[$s]} | $med |"
done
