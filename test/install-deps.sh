# test/install-deps.sh: sourced by test/run.sh and examples/demo.sh (as root).
# Installs the Debian packages rig needs when any is missing, and keeps the
# server at the same minor version as the headers it is built against.

rig_install_deps() {
	local missing="" p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq $missing >/dev/null
	fi
	apt-get install -y -qq --only-upgrade postgresql-15 >/dev/null 2>&1 || true
}
