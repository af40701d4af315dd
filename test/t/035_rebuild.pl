
# Copyright (c) 2026, rig developers

# rig_rebuild() (issue 13): the log is the source of truth.  A primary and
# its sync peer run the ledger example (examples/ledger.sql, its tables
# registered); a superuser damages the peer's tables with
# rig.maintenance = on; rig_rebuild() on the peer empties them and applies
# the whole log again through the handlers, and rig_verify_peer then finds
# no difference.  Refusals leave the tables as they were.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $a = rig_node('a');
my $b = rig_node('b');
rig_load_sql($_, "$srcdir/examples/ledger.sql") for ($a, $b);
$a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");

# some history: accounts, transfers, pending ones posted, voided and expired
$a->safe_psql('postgres', q{
SELECT ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1)) FROM generate_series(1, 20) i;
SELECT ledger.transfer(jsonb_build_object('id', i, 'debit_account', 1 + i % 20, 'credit_account', 1 + (i * 7 + 3) % 20,
	'amount', 1 + i % 50, 'ledger', 1)) FROM generate_series(1, 400) i WHERE i % 20 <> (i * 7 + 3) % 20;
SELECT ledger.transfer(jsonb_build_object('id', 1000 + i, 'debit_account', 1, 'credit_account', 2,
	'amount', 10, 'ledger', 1, 'pending', true, 'timeout', 3600)) FROM generate_series(1, 30) i;
SELECT ledger.transfer_post(jsonb_build_object('id', 2000 + i, 'pending_id', 1000 + i)) FROM generate_series(1, 10) i;
SELECT ledger.transfer_void(jsonb_build_object('id', 3000 + i, 'pending_id', 1010 + i)) FROM generate_series(1, 10) i;
});
my $state = q{SELECT * FROM ledger.accounts ORDER BY id; SELECT * FROM ledger.transfers ORDER BY id};
my $ops = $a->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
cmp_ok($ops, '>', 400, "the primary logged $ops operations");
is($b->safe_psql('postgres', $state), $a->safe_psql('postgres', $state), 'the peer holds the same ledger');
rig_verify_ok($a, 'b', 'rig_verify_peer finds no difference to begin with');

# a repair gone wrong on the peer
$b->safe_psql('postgres', q{
SET rig.maintenance = on;
CREATE TEMP TABLE t AS SELECT * FROM ledger.transfers WHERE id = 5;
UPDATE t SET id = 99999, version = 999999;
INSERT INTO ledger.transfers SELECT * FROM t;
UPDATE ledger.accounts SET debits_posted = 0 WHERE id = 17;
UPDATE ledger.accounts SET credits_posted = credits_posted + 1000 WHERE id = 5;
});
my $diff = $a->safe_psql('postgres', q{SELECT count(*) FROM rig_verify_peer('b')});
cmp_ok($diff, '>', 0, 'rig_verify_peer sees the damage');
my $damaged = $b->safe_psql('postgres', $state);

# refusals change nothing
$b->safe_psql('postgres', 'CREATE ROLE ledger_clerk LOGIN; GRANT rig_writer TO ledger_clerk');
my ($ret, $out, $err) = $b->psql('postgres', 'SELECT rig_rebuild()', extra_params => [ '-U', 'ledger_clerk' ]);
like($err, qr/permission denied for function rig_rebuild/, 'a non-superuser may not rebuild');
($ret, $out, $err) = $a->psql('postgres', q{
BEGIN;
SELECT ledger.account_open('{"id": 99, "ledger": 1, "code": 1}');
SELECT rig_rebuild();
});
like($err, qr/rig_rebuild\(\)/, 'rig_rebuild() is refused in a transaction that ran rig_do');
# a handler lost on the peer outside rig (a replica refuses rig_unregister)
my $void_row = $b->safe_psql('postgres',
	q{SELECT format('(%L, %L, %L, %L)', method, apply, validate, resources) FROM rig.handlers WHERE method = 'transfer_void'});
$b->safe_psql('postgres', q{DELETE FROM rig.handlers WHERE method = 'transfer_void'});
($ret, $out, $err) = $b->psql('postgres', 'SELECT rig_rebuild()');
like($err, qr/ERROR:  cannot rebuild: version \d+'s method "transfer_void" has no handler on this node/,
	'a method without a handler stops the rebuild with the version it stopped at');
is($b->safe_psql('postgres', $state), $damaged, '... and the tables stay as they were');
$b->safe_psql('postgres', "INSERT INTO rig.handlers (method, apply, validate, resources) VALUES $void_row");

# the rebuild
($ret, $out, $err) = $b->psql('postgres', 'SELECT rig_rebuild(100)');
is($ret, 0, 'rig_rebuild() on the peer succeeds') or diag $err;
is($out, $ops, 'it applied every operation of the log again');
like($err, qr/NOTICE:  rig_rebuild: 100 operations applied again, up to version \d+ of \d+/,
	'it reports its progress every 100 operations');
is($b->safe_psql('postgres', $state), $a->safe_psql('postgres', $state), 'the peer holds the same ledger again');
rig_verify_ok($a, 'b', 'rig_verify_peer finds no difference after the rebuild');
is($a->safe_psql('postgres', q{SELECT count(*) FROM ledger.check()}), '0', "the ledger's invariants hold");

# a rebuild of the primary gives the same tables, and writes go on
my $before = $a->safe_psql('postgres', $state);
is($a->safe_psql('postgres', 'SELECT rig_rebuild()'), $ops, 'rig_rebuild() on the primary applies every operation');
is($a->safe_psql('postgres', $state), $before, '... and gives the same tables');
$a->safe_psql('postgres', q{SELECT ledger.transfer('{"id": 5000, "debit_account": 3, "credit_account": 4, "amount": 5, "ledger": 1}')});
is($b->safe_psql('postgres', $state), $a->safe_psql('postgres', $state), 'replicated writes go on after it');

# a compacted log cannot be replayed from version 1 (without its peer,
# the primary may compact; with its tables registered only once a
# snapshot holds what goes: unregistered meanwhile, nothing does)
$a->safe_psql('postgres', q{SELECT rig_drop_peer('b')});
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_compact(10)');
like($err, qr/ERROR:  cannot compact rig\.log: there is no snapshot of the state tables/,
	'rig_compact() is refused while the registered tables have no snapshot');
$a->safe_psql('postgres', q{
SELECT rig_unregister_table('ledger.accounts'), rig_unregister_table('ledger.transfers');
SELECT rig_compact(10);
SELECT rig_register_table('ledger.accounts'), rig_register_table('ledger.transfers');
});
cmp_ok($a->safe_psql('postgres', 'SELECT compacted_below FROM rig.node'), '>', 1,
	'the primary compacted its log');
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_rebuild()');
like($err, qr/ERROR:  cannot rebuild: rig\.log was compacted below version \d+\nDETAIL:  Replaying starts at version 1 \(there is no snapshot\)/,
	'a compacted log without a snapshot is refused');

# with a snapshot, the rebuild starts from it (and compaction may go up to it)
my $snap = $a->safe_psql('postgres', 'SELECT rig_snapshot()');
$a->safe_psql('postgres', q{SELECT ledger.transfer('{"id": 5001, "debit_account": 6, "credit_account": 7, "amount": 5, "ledger": 1}')});
$before = $a->safe_psql('postgres', $state);
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_rebuild()');
like($err, qr/NOTICE:  rig_rebuild: starting from snapshot $snap \(every version up to \d+ and 0 later\)/,
	'rig_rebuild() starts from the snapshot and says so');
is($out, '1', '... and applies only the operation after it');
is($a->safe_psql('postgres', $state), $before, '... giving the same tables');

done_testing();
