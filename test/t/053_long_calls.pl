
# Copyright (c) 2026, rig developers

# Calls to a peer whose time grows with the data are not cut short by
# rig.sync_timeout (a commit's bound): the state hash that ends a bootstrap,
# a registered table's hashes for rig_verify_peer (and the log's range
# hashes, which take the same path, rig_conn_query_long, but cannot be held
# up by a lock without also holding up the short queries before them).  On a large state each of these takes longer than a commit may
# wait (a 0.9 GB ledger's state hash took 12 s; the bootstrap then failed
# with "could not hear back in time").  Here a lock held on the peer makes
# each call outlast rig.sync_timeout several times over; the call must wait
# and succeed once the lock goes, and a cancel must still stop it.
#
#  1. the end of a bootstrap (rig_bootstrap_finish) waits on a lock on the
#     new node's registered table: rig_add_peer succeeds after it; a cancel
#     stops it and the next rig_add_peer finishes the bootstrap;
#  2. rig_verify_peer hashing the peer's registered table waits on a lock:
#     it finds no difference once the lock goes;
#  3. after these, the peer connection still bounds a commit by
#     rig.sync_timeout (the raised statement_timeout did not outlive the
#     calls).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $notes = q{SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM notes};
my $short = q{SET rig.sync_timeout = '1s'};

# a node with the notes registered as state
sub notes_node
{
	my ($name) = @_;
	my $node = rig_node($name);
	$node->safe_psql('postgres', rig_notes_sql() . q{SELECT rig_register_table('notes');});
	return $node;
}

# Hold $lock on $node until the returned session commits.
sub hold_lock
{
	my ($node, $lock) = @_;
	my $s = rig_session($node);
	$s->query_safe("BEGIN; $lock");
	return $s;
}

# Wait until a backend of $node running $pattern has waited on a lock for
# longer than $secs seconds (several times the bound a commit has).
sub waited_longer_than
{
	my ($node, $pattern, $secs) = @_;
	return $node->poll_query_until('postgres', qq{
SELECT count(*) > 0 FROM pg_stat_activity
 WHERE wait_event_type = 'Lock' AND query LIKE '%$pattern%'
   AND now() - query_start > interval '$secs s' AND pid <> pg_backend_pid()});
}

my $a = notes_node('a');
$a->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 30) i});
$a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after the snapshot"}')});
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');

# --- 1. the end of a bootstrap outlasts rig.sync_timeout
my $b = notes_node('b');
my $add = "SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')";

# load every chunk, then stop before the end (the next call only finishes)
my ($s1, $pid1) = rig_start_paused_sql($a, 'bootstrap_before_finish', $add);
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid1)");
rig_client_end($s1);
is($b->safe_psql('postgres', 'SELECT count(*) FROM notes'), '30', 'the new node loaded the snapshot before the interruption');

my $lock = hold_lock($b, 'LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
my $adder = rig_session($a);
$adder->query_safe($short);
rig_bg_send($adder, $add);
ok(waited_longer_than($b, 'rig_bootstrap_finish', 4),
	'the state hash at the end of the bootstrap waits on the lock, past rig.sync_timeout (1 s) four times over');
$lock->query_safe('COMMIT');
my ($out, $err) = rig_bg_result($adder);
unlike($err, qr/ERROR/, 'rig_add_peer succeeds once the lock is gone') or diag $err;
is($b->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and the new node holds every note');
is(rig_peer_state($a, 'b'), 'in_sync', '... in sync');

# a cancel stops such a wait: bootstrap another node, cancel at the end
my $c = notes_node('c');
my $add_c = "SELECT rig_add_peer('c', \$\$" . $c->connstr('postgres') . "\$\$, 'async')";
my ($s2, $pid2) = rig_start_paused_sql($a, 'bootstrap_before_finish', $add_c);
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid2)");
rig_client_end($s2);
$lock = hold_lock($c, 'LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
my $pid3 = $adder->query_safe('SELECT pg_backend_pid()');
rig_bg_send($adder, $add_c);
ok(rig_waits_on_lock($c, 'rig_bootstrap_finish'), 'the end of the bootstrap of c waits on the lock');
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid3)");
($out, $err) = rig_bg_result($adder);
like($err, qr/57014|canceling statement due to user request/, 'a cancel stops rig_add_peer while it waits') or diag $err;
ok( $c->poll_query_until('postgres', q{
SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE '%rig_bootstrap_finish%' AND pid <> pg_backend_pid()}),
	'... and the new node stops hashing once the primary is gone');
$lock->query_safe('COMMIT');
($out, $err) = rig_bg_query($adder, $add_c);
unlike($err, qr/ERROR/, 'the next rig_add_peer finishes the bootstrap') or diag $err;
is($c->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and c holds every note');

# --- 2. rig_verify_peer: the peer's table hashes outlast rig.sync_timeout
$lock = hold_lock($b, 'LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
my $verifier = rig_session($a);
$verifier->query_safe($short);
rig_bg_send($verifier, q{SELECT count(*) AS differences FROM rig_verify_peer('b')});
ok(waited_longer_than($b, 'rig_table_range_hashes', 4),
	"rig_verify_peer's hash of the peer's table waits on the lock, past rig.sync_timeout four times over");
$lock->query_safe('COMMIT');
($out, $err) = rig_bg_result($verifier);
unlike($err, qr/ERROR/, 'rig_verify_peer succeeds once the lock is gone') or diag $err;
is($out, '0', '... and finds no difference');

# --- 3. a commit on the same connections is still bounded by rig.sync_timeout
$lock = hold_lock($b, 'LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
($out, $err) = rig_bg_query($verifier, q{SELECT rig_do('note', '{"body": "blocked on b"}')});
like($err, qr/peer "b" did not prepare the transaction within rig.sync_timeout/,
	'a commit whose peer cannot prepare still fails after rig.sync_timeout') or diag $err;
$lock->query_safe('COMMIT');
$lock->quit;
$adder->quit;
$verifier->quit;

done_testing();
