
# Copyright (c) 2026, rig developers

# Breaking snapshots, compaction and bootstrap (issue 13):
#  1. catch-up of a compacted log after both nodes restart, the peer
#     behind: it starts where the peer stands, not at 0 (whose records
#     are gone); a peer that truly lacks compacted records is refused
#     with a clear error and never reported in sync;
#  2. a bootstrap interrupted after the new node recorded the snapshot's
#     included versions, resumed after a newer snapshot was taken: it
#     starts again from the newer one (the recorded versions go with the
#     half-loaded snapshot) and converges;
#  3. rig_rebuild() racing a snapshot and a compaction: the rebuild waits
#     for an op in flight while a newer snapshot is taken and a compaction
#     starts: the rebuild starts from the newer one, the compaction waits
#     for it, and the tables are the same;
#  4. rig_add_peer of a node whose registered table has rows of its own
#     (its log empty): refused before any chunk is loaded;
#  5. rig_rebuild() while an op's handler runs (rig_do on the primary, a
#     peer applying the primary's op): neither is aborted as a deadlock,
#     and the rebuild gives the same notes;
#  6. kill -9 of the new node, then of the primary, after the included
#     versions were recorded (fault point bootstrap_before_finish): the
#     next rig_add_peer finishes the bootstrap;
#  7. on a node in the middle of its bootstrap, rig_rebuild() and
#     rig_snapshot() are refused (they would empty or store its partial
#     tables); the bootstrap then finishes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $notes = q{SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM notes};

# the notes registered as state, and a method "slow_note" whose handler
# sleeps {"sleep"} seconds before it writes a note
my $notes_sql = rig_notes_sql() . q{SELECT rig_register_table('notes');
CREATE FUNCTION slow_note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ SELECT pg_sleep((d->>'sleep')::float8); INSERT INTO public.notes VALUES (v, d->>'body') $$;
SELECT rig_register('slow_note', 'slow_note_apply(bigint,jsonb)');};

# a node with them
sub notes_node
{
	my ($name) = @_;
	my $node = rig_node($name);
	$node->safe_psql('postgres', $notes_sql);
	return $node;
}

# --- 1. both nodes restart after compaction, the peer behind
my $a = notes_node('a');
my $b = notes_node('b');
$a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'async')");
$a->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 40) i;
SELECT rig_sync_peer('b')});
my $s1 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
my $w1 = $a->safe_psql('postgres', "SELECT watermark FROM rig.snapshots WHERE id = $s1");
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
is($a->safe_psql('postgres', "SELECT compacted_below > 1 FROM rig.node"), 't', 'the primary compacted its log');
crash($b);
$a->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'behind' || i)) FROM generate_series(1, 5) i});
# a newer snapshot does not let compaction take what the peer that is down lacks
$a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
my ($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_compact(1000000)');
like($err, qr/peer "b" still needs them/, 'with the peer down, compaction keeps what it lacks, past a newer snapshot too');
cmp_ok($a->safe_psql('postgres', q{SELECT min(version) FROM rig.log WHERE data->>'body' LIKE 'behind%'}), '>', 0,
	'... its records are there');
crash($a);
$a->start;
$b->start;
($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_sync_peer('b')});
is($ret, 0, 'after both restart, catch-up of the peer that is behind succeeds') or diag $err;
is($b->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and it holds every note');
rig_verify_ok($a, 'b', 'rig_verify_peer finds no difference');
is(rig_peer_state($a, 'b'), 'in_sync', 'the peer is in sync');

# a peer that lost the compacted records (emptied and made a replica again
# behind the primary's back, which then restarts): refused, clearly
my $epoch = $a->safe_psql('postgres', 'SELECT epoch FROM rig.node');
$b->safe_psql('postgres', 'DROP EXTENSION rig; DROP TABLE notes; DROP FUNCTION note_apply, note_resources, slow_note_apply; '
	. "CREATE EXTENSION rig; $notes_sql SELECT rig_become_replica('a', $epoch)");
$a->restart;
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after the reset"}')});
$err = rig_psql_error($a, q{SELECT rig_sync_peer('b')});
is(sqlstate_of($err), '55000', 'catch-up of a peer that lacks compacted records fails with 55000');
like(message_of($err), qr/^peer "b" lacks versions up to \d+ that node "a" compacted/, '... saying so') or diag $err;
like($err, qr/HINT:  Bootstrap it again from the latest snapshot/, '... and how to repair it');
like(rig_peer_state($a, 'b', 'state', 'last_error'), qr/^catching_up .*lacks versions 1 to \d+, which this node compacted/,
	'rig.peer_status says why it is not in sync');
is($b->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), '0', '... and nothing was shipped to it');

$a->safe_psql('postgres', q{SELECT rig_drop_peer('b')});
$b->stop;

# --- 2. interrupted after the included versions were recorded, resumed
# onto a newer snapshot
my $open = rig_session($a);
$open->query_safe(q{BEGIN; SELECT rig_do('note', '{"body": "held"}')});
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "overtook"}')});
my $s2 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
$open->query_safe('COMMIT');
$open->quit;
isnt($a->safe_psql('postgres', "SELECT included FROM rig.snapshots WHERE id = $s2"), '{}',
	"snapshot $s2 includes a version above its W");
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
my $c = notes_node('c');
my $add_c = "SELECT rig_add_peer('c', \$\$" . $c->connstr('postgres') . "\$\$, 'sync')";
my ($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_before_finish', $add_c);
is($c->safe_psql('postgres', "SELECT count(*) > 0 FROM rig.log"), 't',
	'the new node recorded the included versions before the bootstrap was interrupted');
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$sess->quit;
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after s2"}')});
my $s3 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
($ret, $out, $err) = $a->psql('postgres', $add_c);
is($ret, 0, 'rig_add_peer onto the newer snapshot succeeds') or diag $err;
like($err, qr/bootstrapping peer "c" from snapshot $s3 .*: starting at chunk 0/, '... starting again from it');
is($c->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and the new node holds every note');
rig_verify_ok($a, 'c', 'rig_verify_peer finds no difference');
is($c->safe_psql('postgres', "SELECT count(*) FROM rig.snapshots"), '1', 'only the newer snapshot is kept there');
$a->safe_psql('postgres', q{SELECT rig_drop_peer('c')});
$c->stop;

# --- 3. rig_rebuild() racing rig_snapshot() and rig_compact(): an op in
# flight (an open transaction) holds the rebuild back while a newer snapshot
# is taken and a compaction starts
my $s4 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
$a->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'r' || i)) FROM generate_series(1, 5) i});
my $inflight = rig_session($a);
$inflight->query_safe(q{BEGIN; SELECT rig_do('note', '{"body": "in flight"}')});
my $rebuild = rig_session($a);
my $rpid = $rebuild->query_safe('SELECT pg_backend_pid()');
$rebuild->query_until(qr/sent/, "\\echo sent\nSELECT rig_rebuild();\n");
ok($a->poll_query_until('postgres', "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $rpid"),
	'rig_rebuild() waits for the op in flight');
my $s5 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
my $compact = rig_session($a);
my $cpid = $compact->query_safe('SELECT pg_backend_pid()');
$compact->query_until(qr/sent/, "\\echo sent\nSELECT rig_compact(1000000);\n");
ok($a->poll_query_until('postgres', "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $cpid"),
	'rig_compact() waits for the rebuild');
$inflight->query_safe('COMMIT');
$inflight->quit;
my ($rout, $rret) = $rebuild->query('SELECT 1');
unlike($rebuild->{stderr}, qr/ERROR/, 'the rebuild succeeds') or diag $rebuild->{stderr};
like($rebuild->{stderr}, qr/starting from snapshot $s5 /, '... from the newer snapshot, the latest once it holds the barrier');
$rebuild->quit;
my ($cout, $cret) = $compact->query('SELECT 1');
unlike($compact->{stderr}, qr/ERROR/, 'the compaction then succeeds') or diag $compact->{stderr};
$compact->quit;
is($a->safe_psql('postgres', "SELECT string_agg(id::text, ',') FROM rig.snapshots"), $s5,
	'... and keeps the newer snapshot only');
my $before = $a->safe_psql('postgres', $notes);
like($before, qr/in flight/, 'the op that was in flight is there');
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_rebuild()');
is($ret, 0, 'a rebuild of the compacted log succeeds') or diag $err;
is($a->safe_psql('postgres', $notes), $before, '... and gives the same notes');

# --- 4. a node with rows of its own is not bootstrapped
my $d = notes_node('d');
$d->safe_psql('postgres', q{SET rig.maintenance = on; INSERT INTO notes VALUES (1000000, 'mine')});
my $add_d = "SELECT rig_add_peer('d', \$\$" . $d->connstr('postgres') . "\$\$, 'sync')";
$err = rig_psql_error($a, $add_d);
like(message_of($err), qr/^table public\.notes is not empty on node "d": a node is bootstrapped only into empty tables/,
	'rig_add_peer of a node with rows of its own is refused') or diag $err;
is($d->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshot_chunks'), '0', '... before any chunk was loaded');
is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'd'}), '0', '... and it is not a peer');
is($d->safe_psql('postgres', q{SELECT role || '|' || coalesce(primary_name, '') FROM rig.node}), 'primary|',
	'... nor a replica: it follows nobody');
$d->safe_psql('postgres', q{SET rig.maintenance = on; DELETE FROM notes});
($ret, $out, $err) = $a->psql('postgres', $add_d);
is($ret, 0, 'emptied, it is bootstrapped') or diag $err;
is($d->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and holds every note');

# --- 5. rig_rebuild() while a handler runs: on the primary (rig_do), then
# on the peer (applying the primary's op); the handler sleeps before it
# writes, holding the barrier, while the rebuild asks for its locks
for my $case ([$a, 'the primary (rig_do)'], [$d, 'the peer (applying)'])
{
	my ($node, $where) = @$case;
	my $writer = rig_session($a);
	$writer->query_until(qr/sent/, qq{\\echo sent\nSELECT rig_do('slow_note', '{"body": "slow", "sleep": 3}') > 0 AS done;\n});
	ok($node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'"),
		"on $where, the handler sleeps before it writes");
	my ($rret, $rout, $rerr) = $node->psql('postgres', 'SET deadlock_timeout = 200; SELECT rig_rebuild()');
	is($rret, 0, "rig_rebuild() on $where succeeds while the handler runs") or diag $rerr;
	my ($wout, $wret) = $writer->query('SELECT 1');
	like($wout, qr/^t\b/m, "... and the op commits: neither is a deadlock victim") or diag $writer->{stderr};
	$writer->quit;
	is($d->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and both nodes hold the same notes');
}

# --- 6. kill -9 of either side after the included versions were recorded
$open = rig_session($a);
$open->query_safe(q{BEGIN; SELECT rig_do('note', '{"body": "held again"}')});
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "overtook again"}')});
my $s6 = $a->safe_psql('postgres', 'SELECT rig_snapshot(10)');
$open->query_safe('COMMIT');
$open->quit;
isnt($a->safe_psql('postgres', "SELECT included FROM rig.snapshots WHERE id = $s6"), '{}',
	"snapshot $s6 includes a version above its W");
$a->safe_psql('postgres', q{SELECT rig_drop_peer('d')});
$d->stop;
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
for my $case (['e', 'new node'], ['f', 'primary'])
{
	my ($name, $victim) = @$case;
	my $n = notes_node($name);
	my $add = "SELECT rig_add_peer('$name', \$\$" . $n->connstr('postgres') . "\$\$, 'sync')";
	my ($sess6, $pid6) = rig_start_paused_sql($a, 'bootstrap_before_finish', $add);
	if ($victim eq 'primary')
	{
		crash($a);
		rig_client_end($sess6);
		$a->start;
	}
	else
	{
		crash($n);
		$n->start;
		$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid6)");
		$sess6->quit;
	}
	($ret, $out, $err) = $a->psql('postgres', $add);
	is($ret, 0, "after a kill -9 of the $victim before the bootstrap finished, rig_add_peer succeeds") or diag $err;
	like($err, qr/resuming at chunk (\d+) of \1/, '... with every chunk loaded already');
	is($n->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), "... and $name holds every note");
	rig_verify_ok($a, $name, "rig_verify_peer('$name') finds no difference");
	$a->safe_psql('postgres', "SELECT rig_drop_peer('$name')");
	$n->stop;
}

# --- 7. a node in the middle of its bootstrap: no rebuild, no snapshot
my $g = notes_node('g');
my $add_g = "SELECT rig_add_peer('g', \$\$" . $g->connstr('postgres') . "\$\$, 'sync')";
my ($sess7, $pid7) = rig_start_paused_sql($a, 'bootstrap_between_chunks', $add_g);
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid7)");
$sess7->quit;
my $partial = $g->safe_psql('postgres', $notes);
for my $call ('rig_rebuild()', 'rig_snapshot()')
{
	$err = rig_psql_error($g, "SELECT $call");
	is(sqlstate_of($err), '55000', "$call on a node in the middle of its bootstrap fails with 55000");
	like(message_of($err), qr/^\Q$call\E cannot run while node "g" is being bootstrapped from snapshot \d+/, '... saying why');
}
is($g->safe_psql('postgres', $notes), $partial, 'the loaded chunks are untouched');
($ret, $out, $err) = $a->psql('postgres', $add_g);
is($ret, 0, 'the bootstrap then finishes') or diag $err;
is($g->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), '... and g holds every note');

done_testing();
