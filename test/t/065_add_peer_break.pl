
# Copyright (c) 2026, rig developers

# rig_add_peer makes the new node a replica and begins its bootstrap in
# one remote transaction (rig_make_replica, after rig_bootstrap_plan's
# checks on the primary); a helper's break-it pass of that.  The remote
# transaction is held open by a lock on the new node (LOCK rig.snapshots
# IN SHARE MODE: rig_bootstrap_begin's INSERT waits, after
# rig_become_replica updated rig.node).
#  1. pg_cancel_backend of the primary's rig_add_peer while the remote
#     transaction is open: the new node stays a primary, nothing recorded;
#     the next rig_add_peer bootstraps it.
#  2. kill -9 of the new node while the remote transaction is open.
#  3. kill -9 of the primary while the remote transaction is open.
#  4. the same node added from two sessions of the primary at once, the
#     second's rig_become_replica waiting on the first's row lock.
#  5. a node in the middle of a bootstrap (kill -9 of it after the included
#     versions were recorded), with default_transaction_isolation =
#     serializable there; resumed, then (another one) restarted onto a newer
#     snapshot (the half-load is dropped in the remote transaction).
#  6. a node already our replica (complete snapshot) added again after
#     rig_drop_peer.
#  7. idle_in_transaction_session_timeout = 1ms on the new node (rig's
#     connections set it to 0: its remote transaction of several
#     statements is bounded by rig's own deadlines; without that, whether
#     it idles 1 ms between two statements is a matter of timing).
#  8. default_transaction_isolation = serializable on the new node: the
#     log is shipped to it (shipping's pipeline sends BEGIN ISOLATION LEVEL
#     READ COMMITTED before it prepares its statement, which takes a
#     snapshot), and a branch node with that default takes a transaction
#     across nodes (rig's connections set READ COMMITTED).
#  9. a new node whose table refuses a snapshot row (CHECK): the failure
#     comes while chunks load, after it was made a replica (by design: only
#     the checks are made before; docs/design.md): it stays the primary's
#     replica, half-loaded, and resumes once the CHECK is dropped.
# 10. two primaries add the same empty node at once: the second waits for
#     the first's row lock, then is refused (rig_set_replica_of locks
#     rig.node's row and checks what the first left).
# 11. the same with epochs: the node stays in the newer epoch.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf  = q{
rig.sync_timeout = 8000
log_min_messages = log
};
my $notes = q{SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM notes};
my $notes_sql = rig_notes_sql() . q{SELECT rig_register_table('notes');};
my $role = q{SELECT role || '|' || coalesce(primary_name, '') FROM rig.node};

sub notes_node
{
	my ($name) = @_;
	my $node = rig_node($name, conf => $conf);
	$node->safe_psql('postgres', $notes_sql);
	return $node;
}

sub add_sql
{
	my ($n, $mode) = @_;
	$mode //= 'async';
	return "SELECT rig_add_peer('" . $n->name . "', \$\$" . $n->connstr('postgres') . "\$\$, '$mode')";
}

# hold rig.snapshots on $n so that rig_bootstrap_begin's INSERT waits
sub hold_snapshots
{
	my ($n) = @_;
	my $h = rig_session($n);
	$h->query_safe('BEGIN; LOCK TABLE rig.snapshots IN SHARE MODE');
	return $h;
}

# $p adds $n while $n holds rig.snapshots: rig_add_peer's remote
# transaction stays open, its rig_bootstrap_begin waiting on the lock;
# returns the lock's session, the adding session and its backend's pid
sub held_add
{
	my ($p, $n, $label) = @_;
	my $h = hold_snapshots($n);
	my $s = rig_session($p);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	rig_bg_send($s, add_sql($n));
	ok(rig_waits_on_lock($n, 'rig_bootstrap_begin'), "$label: the remote rig_bootstrap_begin waits on the lock");
	return ($h, $s, $pid);
}

# $p1 and $p2 add $n at once: $p1's remote transaction held open (its
# rig_bootstrap_begin waits on a lock), $p2's rig_become_replica waiting
# behind it; returns what each said
sub race_adds
{
	my ($n, $p1, $p2, $label) = @_;
	my ($h, $s1) = held_add($p1, $n, "$label: first");
	my $s2 = rig_session($p2);
	rig_bg_send($s2, add_sql($n));
	ok(rig_waits_on_lock($n, 'rig_become_replica'), "$label: the second's rig_become_replica waits on the first's row lock");
	$h->query_safe('COMMIT');
	$h->quit;
	my (undef, $e1) = rig_bg_result($s1);
	my (undef, $e2) = rig_bg_result($s2);
	$_->quit for ($s1, $s2);
	note "$label: first: $e1\n$label: second: $e2";
	return ($e1, $e2);
}

# another compacted primary with ten notes of its own
sub other_primary
{
	my ($name) = @_;
	my $p = notes_node($name);
	$p->safe_psql('postgres',
		qq{SELECT rig_do('note', jsonb_build_object('body', '$name' || i)) FROM generate_series(1, 10) i});
	$p->safe_psql('postgres', 'SELECT rig_snapshot(10)');
	$p->safe_psql('postgres', 'SELECT rig_compact(1000000)');
	return $p;
}

# no backend of $n runs $pattern any more
sub gone
{
	my ($n, $pattern) = @_;
	return $n->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE '%$pattern%' AND pid <> pg_backend_pid()");
}

my $a = notes_node('a');
$a->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 30) i});
my $s1 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
$a->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'm' || i)) FROM generate_series(1, 5) i});
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
is($a->safe_psql('postgres', 'SELECT compacted_below > 1 FROM rig.node'), 't', 'the primary compacted its log');

# --- 1. cancel while the remote transaction is open
{
	my $n = notes_node('n1');
	my ($h, $s, $pid) = held_add($a, $n, '1');
	is($n->safe_psql('postgres', $role), 'primary|', '1: meanwhile the new node is still a primary (not committed)');
	$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my ($out, $err) = rig_bg_result($s);
	is(sqlstate_of($err), '57014', '1: the cancelled rig_add_peer fails with 57014') or diag $err;
	ok(gone($n, 'rig_bootstrap_begin'), '1: the remote backend ends (before the lock is released)');
	$h->query_safe('COMMIT');
	$h->quit;
	is($n->safe_psql('postgres', $role), 'primary|', '1: the new node stays a primary');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshots'), '0', '1: it recorded no snapshot');
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '1: the next rig_add_peer succeeds') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '1: and the node holds every note');
	rig_verify_ok($a, 'n1', '1: rig_verify_peer finds no difference');
	$s->quit;
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n1')});
	$n->stop;
}

# --- 2. kill -9 of the new node while the remote transaction is open
{
	my $n = notes_node('n2');
	my ($h, $s) = held_add($a, $n, '2');
	crash($n);
	my ($out, $err) = rig_bg_result($s);
	like($err, qr/ERROR/, '2: rig_add_peer fails when the new node dies') or diag $err;
	$s->quit;
	$n->start;
	is($n->safe_psql('postgres', $role), 'primary|', '2: after its restart the new node is a primary');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshots'), '0', '2: with no snapshot');
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '2: the next rig_add_peer succeeds') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '2: and the node holds every note');
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n2')});
	$n->stop;
}

# --- 3. kill -9 of the primary while the remote transaction is open
{
	my $n = notes_node('n3');
	my ($h, $s) = held_add($a, $n, '3');
	crash($a);
	eval { $s->quit };
	ok(gone($n, 'rig_bootstrap_begin'), '3: the remote backend ends (before the lock is released)');
	$h->query_safe('COMMIT');
	$h->quit;
	is($n->safe_psql('postgres', $role), 'primary|', '3: the new node stays a primary');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshots'), '0', '3: with no snapshot');
	$a->start;
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '3: after the primary restarts, rig_add_peer succeeds') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '3: and the node holds every note');
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n3')});
	$n->stop;
}

# --- 4. the same node added from two sessions at once
{
	my $n = notes_node('n4');
	my ($e1, $e2) = race_adds($n, $a, $a, '4');
	ok($e1 !~ /ERROR/ || $e2 !~ /ERROR/, '4: one of them succeeds');
	is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'n4'}), '1', '4: n4 is a peer once');
	is($n->safe_psql('postgres', $role), 'replica|a', '4: n4 follows a');
	is($n->safe_psql('postgres', 'SELECT count(*)::text || count(*) FILTER (WHERE complete) FROM rig.snapshots'), '11',
		'4: n4 holds one complete snapshot');
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '4: and every note once');
	rig_verify_ok($a, 'n4', '4: rig_verify_peer finds no difference');
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n4')});
	$n->stop;
}

# --- 5. a node in the middle of a bootstrap, serializable by default there
{
	my $n = notes_node('n5');
	my ($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_before_finish', add_sql($n));
	crash($n);
	$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	$sess->quit;
	$n->start;
	is($n->safe_psql('postgres', $role), 'replica|a', '5: the interrupted node follows a');
	is($n->safe_psql('postgres', 'SELECT count(*) FILTER (WHERE NOT complete) FROM rig.snapshots'), '1',
		'5: with a half-loaded snapshot');
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '5: rig_add_peer resumes it') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '5: and the node holds every note');
	rig_verify_ok($a, 'n5', '5: rig_verify_peer finds no difference');
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n5')});
	$n->stop;

	my $m = notes_node('n5b');
	($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_before_finish', add_sql($m));
	crash($m);
	$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	$sess->quit;
	$m->start;
	$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after"}')});
	my $s2 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
	$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
	($ret, $o2, $e2) = $a->psql('postgres', add_sql($m));
	is($ret, 0, '5b: rig_add_peer onto a newer snapshot succeeds') or diag $e2;
	like($e2, qr/from snapshot $s2 .*starting at chunk 0/, '5b: starting again from it');
	is($m->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '5b: and the node holds every note');
	rig_verify_ok($a, 'n5b', '5b: rig_verify_peer finds no difference');

	# --- 6. re-added after rig_drop_peer, complete snapshot
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n5b')});
	$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "while dropped"}')});
	($ret, $o2, $e2) = $a->psql('postgres', add_sql($m));
	is($ret, 0, '6: a dropped replica with a complete snapshot is added again') or diag $e2;
	unlike($e2, qr/bootstrapping/, '6: without a new bootstrap');
	is($m->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '6: and the node holds every note');
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n5b')});
	$m->stop;
}

# --- 7. idle_in_transaction_session_timeout = 1ms on the new node
{
	my $n = notes_node('n7');
	$n->safe_psql('postgres', q{ALTER SYSTEM SET idle_in_transaction_session_timeout = 1; SELECT pg_reload_conf()});
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '7: rig_add_peer succeeds with idle_in_transaction_session_timeout = 1ms there') or diag $e2;
	$a->safe_psql('postgres', q{SELECT rig_drop_peer('n7')}) if $ret == 0;
	$n->stop;
}

# --- 9. a new node whose registered table cannot take the snapshot's rows
# (a CHECK that the primary's rows break): refused at the first chunk,
# after the node was made a replica; resumable
{
	my $n = rig_node('n9', conf => $conf);
	my $sql9 = $notes_sql;
	$sql9 =~ s/body text NOT NULL\)/body text NOT NULL CHECK (body <> 'n7'))/ or die 'no notes table';
	$n->safe_psql('postgres', $sql9);
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	isnt($ret, 0, '9: rig_add_peer of a node whose table refuses a row fails');
	like($e2, qr/violates check constraint "notes_body_check"/, '9: ... with the node\'s error') or diag $e2;
	is($n->safe_psql('postgres', $role . '; SELECT count(*) FROM rig.snapshots WHERE NOT complete'),
		"replica|a\n1", '9: the node follows a, its snapshot half-loaded (the load began)');
	is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'n9'}), '0', '9: it is no peer of a');
	$n->safe_psql('postgres', 'SET rig.maintenance = on; ALTER TABLE notes DROP CONSTRAINT notes_body_check');
	($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '9: with the check dropped, rig_add_peer resumes it') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '9: and the node holds every note');
	$n->stop;
}

# --- 10. two primaries (a, and x of another rig) add the same empty node
# at once: x's rig_become_replica waits for a's row lock, then finds the
# node a's replica (before the lock, it checked the row as it was and
# overwrote a's)
{
	my $x = other_primary('x');
	my $n = notes_node('n10');
	my ($ea, $ex) = race_adds($n, $a, $x, '10');
	like($ex, qr/is already a replica of "a"/, '10: x\'s rig_add_peer is refused: the node is a\'s replica');
	unlike($ea, qr/ERROR/, '10: a\'s rig_add_peer succeeds');
	is($n->safe_psql('postgres', $role), 'replica|a', '10: the node follows a');
	$n->stop;
	$x->stop;
}

# --- 11. the same with epochs: y (epoch 2) adds the node first, a (epoch
# 1) at once: a's rig_become_replica waits, then is refused (before the
# lock it took the node back to epoch 1)
{
	my $y = other_primary('y');
	$y->safe_psql('postgres', q{SET rig.maintenance = on; UPDATE rig.node SET epoch = 2;
		INSERT INTO rig.epochs (epoch, first_version, node) VALUES (2, 11, 'y')});
	$y->restart;
	is($y->safe_psql('postgres', 'SELECT epoch FROM rig.node'), '2', '11: y is in epoch 2');
	my $n = notes_node('n11');
	my ($ey, $ea) = race_adds($n, $y, $a, '11');
	like($ea, qr/is in epoch 2 and cannot follow "a" of epoch 1/, '11: a\'s rig_add_peer is refused: stale epoch');
	is($n->safe_psql('postgres', q{SELECT epoch || ' ' || role || '|' || coalesce(primary_name, '') FROM rig.node}),
		'2 replica|y', '11: the node stays in epoch 2, following y');
	$n->stop;
	$y->stop;
}

# --- 8. default_transaction_isolation = serializable on the new node:
# shipping's pipeline begins READ COMMITTED before it prepares its
# statement (which takes a snapshot: the other way round, BEGIN's isolation
# level was refused and the node was never shipped to)
{
	my $n = notes_node('n8');
	$n->safe_psql('postgres', q{ALTER SYSTEM SET default_transaction_isolation = 'serializable'; SELECT pg_reload_conf()});
	my ($ret, $o2, $e2) = $a->psql('postgres', add_sql($n));
	is($ret, 0, '8: rig_add_peer of a node with default_transaction_isolation = serializable') or diag $e2;
	($ret, $o2, $e2) = $a->psql('postgres', q{SELECT rig_do('note', '{"body": "to n8"}'); SELECT rig_sync_peer('n8')});
	is($ret, 0, '8: a later op reaches it') or diag $e2;
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '8: and the node holds every note');
	$n->stop;

	# a branch node serializable by default: the coordinator's calls run
	# READ COMMITTED there (rig_do requires it)
	my $east = rig_node('east', conf => $conf);
	my $west = rig_node('west', conf => $conf);
	rig_xfer_setup($east, { 1 => 1000 });
	rig_xfer_setup($west, { 2 => 1000 });
	$west->safe_psql('postgres', q{ALTER SYSTEM SET default_transaction_isolation = 'serializable'; SELECT pg_reload_conf()});
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	my $t = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 2, 5));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($t, '60s')"), 'committed',
		'8: a transfer to a branch node serializable by default commits');
	is(rig_xfer_money($east, $west), '2000 holds 0', '8: ... the money whole, no hold left');
	is($west->safe_psql('postgres', 'SELECT balance FROM xfer.accounts WHERE id = 2'), '1005', '8: ... and posted there');
	$east->stop;
	$west->stop;
}

done_testing();
