# rig: a versioned, replicated operation log for PostgreSQL

EXTENSION = rig
MODULE_big = rig
# bottom to top, by layer (docs/design.md)
OBJS = \
	src/settings.o \
	src/shmem.o \
	src/peerstate.o \
	src/incarnation.o \
	src/pace.o \
	src/catalog.o \
	src/gid.o \
	src/node.o \
	src/oplog.o \
	src/keys.o \
	src/peerlist.o \
	src/watermark.o \
	src/compact.o \
	src/status.o \
	src/route.o \
	src/handlers.o \
	src/locks.o \
	src/apply.o \
	src/tables.o \
	src/tableguard.o \
	src/tablehash.o \
	src/sysrec.o \
	src/conn.o \
	src/wire.o \
	src/replicate.o \
	src/xact.o \
	src/write.o \
	src/replica.o \
	src/import.o \
	src/ddl.o \
	src/snapshot.o \
	src/snaptake.o \
	src/compare.o \
	src/ship.o \
	src/tablediff.o \
	src/rebuild.o \
	src/bootload.o \
	src/bootstrap.o \
	src/verify.o \
	src/catchup.o \
	src/resolve.o \
	src/peer.o \
	src/switchover.o \
	src/follow.o \
	src/promote.o \
	src/remotenode.o \
	src/branches.o \
	src/xnode.o \
	src/phase.o \
	src/decide.o \
	src/coord.o \
	src/worker.o \
	src/rig.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)
PGFILEDESC = "rig - versioned, replicated operation log"

PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter
SHLIB_LINK_INTERNAL = $(libpq)

# pg_regress on a temporary instance configured by test/regress.conf
REGRESS = setup handlers rig_do idempotency savepoints log errors privileges tables example ledger xnode memory ddl snapshot determinism
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check \
	--dbname=contrib_regression

# isolation tests (races between sessions)
ISOLATION = idempotency_race lock_order ledger_duplicate_id ledger_expire_deadlock
ISOLATION_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check_iso \
	--dbname=contrib_regression

EXTRA_CLEAN = tmp_check_tap

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Debian's PGXS does not track header dependencies: every object depends on
# every header of src/
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# rigctl, the command-line client (src/rigctl/, a program of its own: PGXS
# builds one module), built and installed into PostgreSQL's bindir with
# the same pg_config
.PHONY: rigctl install-rigctl clean-rigctl
all: rigctl
rigctl:
	$(MAKE) -C $(srcdir)/src/rigctl PG_CONFIG='$(PG_CONFIG)'
install: install-rigctl
install-rigctl: rigctl
	$(MAKE) -C $(srcdir)/src/rigctl PG_CONFIG='$(PG_CONFIG)' install
clean: clean-rigctl
clean-rigctl:
	$(MAKE) -C $(srcdir)/src/rigctl PG_CONFIG='$(PG_CONFIG)' clean

# PGXS names the isolation database itself; rig.database must match it
ISOLATION_TESTDB = contrib_regression

# Multi-node TAP tests (test/t/*.pl), against the installed extension.
# TAP_DIR holds their clusters and logs (set it to run two suites at once).
TAP_DIR ?= $(CURDIR)/tmp_check_tap
.PHONY: tapcheck
tapcheck:
	rm -rf '$(TAP_DIR)'
	mkdir -p '$(TAP_DIR)'
	cd $(srcdir)/test && TESTDIR='$(TAP_DIR)' PATH="$(bindir):$$PATH" \
		PG_REGRESS='$(top_builddir)/src/test/regress/pg_regress' \
		RIG_SRCDIR='$(abspath $(srcdir))' \
		$(PROVE) -I $(top_srcdir)/src/test/perl/ -I . $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),t/*.pl)

# src/ is layered (docs/design.md's map): no include up a layer, no cycle,
# no include a file does not use
.PHONY: layercheck
layercheck:
	cd $(srcdir) && perl test/check_layers.pl

# rigctl's TAP test with every rigctl run under valgrind: a memory error or
# a definite leak fails it (exit code 97; reports in the test's
# tmp_check/valgrind-*.log).  Needs valgrind (apt-get install valgrind).
.PHONY: valgrind-rigctl
valgrind-rigctl:
	RIGCTL_VALGRIND=1 $(MAKE) tapcheck PROVE_TESTS=t/030_rigctl.pl PROVE_FLAGS=-v

# The PGXN archive (META.json's version): make dist, from a git checkout
DIST_VERSION = $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' $(srcdir)/META.json | head -1)
.PHONY: dist
dist:
	git -C $(srcdir) archive --format zip --prefix=rig-$(DIST_VERSION)/ \
		-o $(CURDIR)/rig-$(DIST_VERSION).zip HEAD
	@echo "rig-$(DIST_VERSION).zip"

# The randomized fault test for long: 10 minutes and a random seed (CI runs
# it for 60 s with a fixed seed, as part of tapcheck).  Replay a failure
# with RIG_FAULT_SEED=<the seed it printed>.
RIG_FAULT_SECONDS ?= 600
.PHONY: faultcheck
faultcheck:
	RIG_FAULT_SECONDS=$(RIG_FAULT_SECONDS) \
	RIG_FAULT_SEED=$${RIG_FAULT_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} \
		$(MAKE) tapcheck PROVE_TESTS=t/090_random_faults.pl PROVE_FLAGS=-v
