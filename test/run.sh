#!/usr/bin/env bash
#
# test/run.sh: build rig and run its whole test suite.
#
#   bash test/run.sh        (as root on Debian 12: installs what it needs)
#
# pg_regress and the isolation tests run on temporary instances; the TAP
# tests start their own clusters.  Servers never run as root: the tests
# run as the postgres OS user on a copy of the tree that user can enter.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
packages="postgresql-15 postgresql-server-dev-15 libjansson-dev libipc-run-perl make gcc rsync locales"

if [ "$(id -u)" -eq 0 ]; then
	. "$src/test/install-deps.sh"
	rig_install_deps $packages
	# a locale besides C for the handlers' fixed locale (TAP 057)
	locale -a | grep -qx de_DE.utf8 || localedef -i de_DE -f UTF-8 de_DE.UTF-8

	work=$(mktemp -d /tmp/rig-test.XXXXXX)
	rsync -a --exclude .git --exclude tmp_check --exclude 'tmp_check*' --exclude results "$src"/ "$work"/
	chown -R postgres "$work"
	echo "== building in $work"
	make -C "$work" clean >/dev/null
	make -C "$work" -s
	make -C "$work" -s install
	exec runuser -u postgres -- bash "$work/test/run.sh" --as-postgres
fi

# From here on: the postgres OS user, in a tree it owns.
cd "$src"
export PATH="$pgbin:$PATH"
status=0

echo "== layers of src/ (test/check_layers.pl)"
make -s layercheck || status=1

echo "== pg_regress and isolation tests"
if ! make -s installcheck; then
	status=1
	for f in regression.diffs output_iso/regression.diffs; do
		[ -f "$f" ] && { echo "---- $f"; cat "$f"; }
	done
fi

# Three test files at a time (RIG_TAP_JOBS; 1 runs them one by one): each
# waits on its servers most of the time, so on two cores the suite takes
# about 13 minutes instead of 23.  The newest files, the longest ones
# (break-it tests, the random faults), start first, so that none of them
# is left running alone at the end.
jobs=${RIG_TAP_JOBS:-3}
echo "== TAP tests (test/t, $jobs at a time)"
if ! make -s tapcheck PROVE_FLAGS="--timer -j$jobs" PROVE_TESTS="$(cd test && ls -r t/*.pl | tr '\n' ' ')"; then
	status=1
	for f in tmp_check_tap/tmp_check/log/*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 60 lines)"
		tail -n 60 "$f"
	done
fi

exit $status
