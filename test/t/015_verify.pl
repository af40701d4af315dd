
# Copyright (c) 2026, rig developers

# Anti-entropy: rig_verify_peer, the diverged state and the verified
# horizon where shipping starts.
#
#  1. A failed rig_add_peer (one op refused by the peer in the middle of the
#     backlog: its catch-up connections commit independently) can be
#     retried: the retry ships the holes, not just what follows the peer's
#     last version.
#  2. Catch-up never starts above a version still in flight: a commit that
#     waits at PRE_COMMIT (held by the commit gate) while rig_sync_peer
#     computes its start is shipped with the tail.
#  3. Handler drift (CREATE OR REPLACE of an apply handler on one node)
#     makes the peer diverged, rig_do refuses a diverged sync peer, and the
#     peer returns to sync once the handlers match.
#  4. The worker's periodic verification finds a hole in an in-sync peer and
#     repairs it; a version that differs stays diverged.
#  5. A clean 100,000-record log costs two queries to the peer; differences
#     are found by descending only into differing ranges; rig_reader and
#     pg_monitor may verify, without seeing the conninfo.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my @notes = ('SELECT * FROM notes ORDER BY id');

my $node_a = rig_node('a', conf => "max_prepared_transactions = 20\nrig.verify_interval = 200");
my $node_b = rig_node('b', conf => 'max_prepared_transactions = 20');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');

# rig_peer_state: "in_sync " or "diverged <last_error>"
my @why = qw(state last_error);

###########################################################################
# 1. A failed rig_add_peer, retried
###########################################################################

$node_b->safe_psql('postgres',
	q{ALTER TABLE notes ADD CONSTRAINT no_bad CHECK (body <> 'bad')});
$node_a->safe_psql('postgres', q{
SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 100) i;
SELECT rig_do('note', '{"body": "bad"}');
SELECT rig_do('note', jsonb_build_object('body', 'm' || i)) FROM generate_series(1, 100) i;
});
my ($ret, $out, $err) = $node_a->psql('postgres',
	"SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
isnt($ret, 0, 'add: rig_add_peer fails while b refuses an op of the backlog');
like($err, qr/no_bad/, 'add: the error names the constraint b enforces');
my $held = $node_b->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
note "add: b holds $held of 201 versions after the failed rig_add_peer";
cmp_ok($held, '<', 201, 'add: b does not hold every version after the failure');

$node_b->safe_psql('postgres', 'ALTER TABLE notes DROP CONSTRAINT no_bad');
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
rig_verify_ok($node_a, 'b', 'add: after the retry rig_verify_peer finds no difference');
is(rig_log_dump($node_b, @notes), rig_log_dump($node_a, @notes),
	'add: after the retry b has a\'s rig.log and notes');
is(rig_peer_state($node_a, 'b', @why), 'in_sync ', 'add: b is in_sync');

###########################################################################
# 2. A commit in flight while rig_sync_peer computes its start
###########################################################################

# b semisync and in sync; t10 takes its version and waits; t11 commits on b
$node_a->safe_psql('postgres', q{SELECT rig_set_peer_mode('b', 'semisync')});
my $s1 = $node_a->background_psql('postgres', on_error_stop => 0);
my $v10 = $s1->query_safe(q{BEGIN; SELECT rig_do('note', '{"body": "t10"}')});
my $v11 = $node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "t11"}')});
cmp_ok($v10, '<', $v11, 'flight: t10 has the lower version');
is($node_b->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE version = $v11"),
	'1', 'flight: t11 committed on b');

# b out of sync, then the gate held while t10 commits and b is synced
$node_a->safe_psql('postgres',
	q{SELECT rig_set_peer_mode('b', 'async'); SELECT rig_set_peer_mode('b', 'semisync')});
like(rig_peer_state($node_a, 'b', @why), qr/^catching_up/, 'flight: b is catching up');
my $gate = $node_a->background_psql('postgres');
$gate->query_safe('BEGIN; LOCK TABLE rig.commit_gate IN EXCLUSIVE MODE');
my $gate_waiters = q{SELECT (SELECT count(*) FROM pg_locks WHERE relation = 'rig.commit_gate'::regclass AND NOT granted)};
$s1->query_until(qr/sent/, "\\echo sent\nCOMMIT;\n\\echo committed\n");
$node_a->poll_query_until('postgres', "$gate_waiters = 1")
  or die 'flight: t10 did not wait for the commit gate';
my $s3 = $node_a->background_psql('postgres', on_error_stop => 0);
$s3->query_until(qr/sent/, "\\echo sent\nSELECT rig_sync_peer('b');\n\\echo synced\n");
ok($node_a->poll_query_until('postgres', "$gate_waiters = 2"),
	'flight: rig_sync_peer computed its start and waits for the gate behind t10');
$gate->query_safe('COMMIT');
$gate->quit;
$s1->query_until(qr/committed/, '');
$s1->quit;
$s3->query_until(qr/synced/, '');
$s3->quit;
is($node_b->safe_psql('postgres', "SELECT body FROM notes WHERE id = $v10"),
	't10', 'flight: b has t10, which committed while its start was computed');
rig_verify_ok($node_a, 'b', 'flight: rig_verify_peer finds no difference');
is(rig_peer_state($node_a, 'b', @why), 'in_sync ', 'flight: b is in_sync');

###########################################################################
# 3. Handler drift
###########################################################################

$node_a->safe_psql('postgres', q{SELECT rig_set_peer_mode('b', 'sync')});
rig_set_resolver($node_a, 100);
my $upper = q{CREATE OR REPLACE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.notes VALUES (v, upper(coalesce(d->>'body', ''))) $$};
$node_a->safe_psql('postgres', $upper);
ok( $node_a->poll_query_until(
		'postgres',
		q{SELECT state = 'diverged' AND last_error LIKE '%note (differs)%' FROM rig.peer_status WHERE name = 'b'}),
	'drift: b becomes diverged, naming the method');
is($node_a->safe_psql('postgres', q{SELECT relation, key_range, problem FROM rig_verify_peer('b')}),
	'rig.handlers|note|differs', 'drift: rig_verify_peer names the method');
($ret, $out, $err) = $node_a->psql('postgres', q{SELECT rig_do('note', '{"body": "x"}')});
like($err, qr/sync peer "b" has diverged from this node/, 'drift: rig_do refuses while the sync peer is diverged');
$node_b->safe_psql('postgres', $upper);
ok( $node_a->poll_query_until(
		'postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}),
	'drift: b is in_sync again once the handlers match');
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after"}')});
rig_verify_ok($node_a, 'b', 'drift: rig_verify_peer finds no difference');

###########################################################################
# 4. The worker's periodic verification
###########################################################################

# a hole in an in-sync peer: found, shipped (and applied by today's
# handler), in sync again
$node_b->safe_psql('postgres', qq{
SET session_replication_role = replica;
DELETE FROM rig.log WHERE version = $v10;
DELETE FROM notes WHERE id = $v10;
});
ok( $node_b->poll_query_until(
		'postgres', "SELECT body = 'T10' FROM notes WHERE id = $v10"),
	"periodic: a's worker finds the hole and ships the missing version");
ok( $node_a->poll_query_until(
		'postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}),
	'periodic: b is in_sync again');
rig_verify_ok($node_a, 'b', 'periodic: rig_verify_peer finds no difference after the repair');

# a version that differs: diverged, and it stays so
$node_b->safe_psql('postgres', qq{
SET session_replication_role = replica;
UPDATE rig.log SET data = '{"body": "forged"}' WHERE version = $v11;
});
ok( $node_a->poll_query_until(
		'postgres',
		qq{SELECT state = 'diverged' AND last_error LIKE '%version $v11 differs%' FROM rig.peer_status WHERE name = 'b'}),
	'periodic: a version that differs makes b diverged, naming it');
rig_set_resolver($node_a, -1);
like(rig_peer_state($node_a, 'b', @why), qr/^diverged /, 'periodic: b stays diverged (never repaired)');
($ret, $out, $err) = $node_a->psql('postgres', q{SELECT rig_sync_peer('b')});
like($err, qr/peer "b" has diverged from this node: version $v11 differs/,
	'periodic: rig_sync_peer refuses, naming the version');
like($err, qr/HINT:.*rebuild the peer/i, 'periodic: and says what to do');

###########################################################################
# 5. A large log: few queries, exact ranges, privileges
###########################################################################

my $node_x = rig_node('x');
my $node_y = rig_node('y');
my $fill = q{
SET session_replication_role = replica;
INSERT INTO rig.log
SELECT v, 1, 'note', jsonb_build_object('body', 'n' || v), NULL,
	   timestamptz '2026-01-01 00:00:00+00' + v * interval '1 ms', 'x'
  FROM generate_series(1, 100000) v;
};
# y becomes x's replica while empty, then both get the same log
$_->safe_psql('postgres', rig_notes_sql()) for ($node_x, $node_y);
$node_y->safe_psql('postgres', q{SELECT rig_become_replica('x', 1)});
$_->safe_psql('postgres', $fill) for ($node_x, $node_y);
$node_x->safe_psql('postgres', q{SELECT setval('rig.version_seq', 100000)});
$_->restart for ($node_x, $node_y);
$node_x->safe_psql('postgres',
	"SELECT rig_add_peer('y', \$\$" . $node_y->connstr('postgres') . "\$\$, 'sync')");

sub verify_queries
{
	my ($sql) = @_;
	my ($r, $o, $e) = $node_x->psql('postgres',
		"SET client_min_messages = debug1; $sql");
	die "verify failed: $e" if $r != 0;
	my ($q) = $e =~ /rig verified versions 1 to 100000 with the peer in (\d+) queries/
	  or die "no query count in: $e";
	return ($o, $q);
}

my ($rows, $queries) = verify_queries(q{SELECT * FROM rig_verify_peer('y')});
is($rows, '', 'large: a clean log of 100,000 records has no difference');
cmp_ok($queries, '<=', 2, "large: and costs $queries queries to the peer");

$node_y->safe_psql('postgres', q{
SET session_replication_role = replica;
UPDATE rig.log SET data = '{"body": "forged"}' WHERE version = 54321;
UPDATE rig.log SET op_time = op_time + interval '1 us' WHERE version = 60000;
DELETE FROM rig.log WHERE version BETWEEN 777 AND 779;
});
$node_x->safe_psql('postgres', q{
SET session_replication_role = replica;
DELETE FROM rig.log WHERE version = 90000;
});
($rows, $queries) = verify_queries(
	q{SELECT relation, first_version, last_version, key_range, problem FROM rig_verify_peer('y')});
is( $rows,
	"rig.log|777|779||missing on peer\nrig.log|54321|54321||differs\n"
	  . "rig.log|60000|60000||differs\nrig.log|90000|90000||extra on peer",
	'large: each difference is found, with its kind');
cmp_ok($queries, '<=', 25, "large: four differences cost $queries queries to the peer");
like(rig_peer_state($node_x, 'y', @why), qr/^diverged version 54321 differs|^diverged versions 777 to 779/,
	'large: the peer is diverged, the first bad range in last_error');

# rig_reader and pg_monitor may verify; the conninfo stays hidden
$node_x->safe_psql('postgres', q{
CREATE ROLE watcher LOGIN IN ROLE rig_reader;
CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
CREATE ROLE nobody LOGIN;
});
for my $role ('watcher', 'monitor')
{
	($ret, $out, $err) = $node_x->psql('postgres',
		q{SELECT count(*) FROM rig_verify_peer('y')}, extra_params => [ '-U', $role ]);
	is("$ret $out", '0 4', "privileges: $role may run rig_verify_peer");
}
($ret, $out, $err) = $node_x->psql('postgres',
	q{SELECT count(*) FROM rig_verify_peer('y')}, extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for function rig_verify_peer/, 'privileges: other roles may not');
($ret, $out, $err) = $node_x->psql('postgres',
	q{SELECT * FROM rig_verify_peer('nope')}, extra_params => [ '-U', 'watcher' ]);
like($err, qr/peer "nope" does not exist/, 'privileges: an unknown peer is refused');

done_testing();
