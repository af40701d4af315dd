
# Copyright (c) 2026, rig developers

# Snapshots, compaction and bootstrap (issue 13 item 4), with the ledger
# example (examples/ledger.sql) and notes, all registered:
#  1. rig_snapshot() under concurrent writes, and with a version committed
#     out of order (an open transaction holds a lower one): the snapshot's
#     rows equal a replay of exactly the versions it says it holds (W and
#     the later ones it includes) on a standalone node;
#  2. rig_compact() refused without a snapshot, bounded by the latest
#     snapshot's W;
#  3. snapshot, compact, then rig_add_peer of a fresh empty node: it is
#     bootstrapped from the snapshot, converges, rig_verify_peer finds
#     nothing, and rig_rebuild() there starts from the snapshot;
#  4. the same with kill -9 of the new node, then of the primary, in the
#     middle (fault point bootstrap_between_chunks): each resumes at the
#     chunk after the last one the new node committed; the same rows spelt
#     otherwise than the checksummed text are refused there;
#  5. a running bootstrap keeps its snapshot and the log after it from
#     rig_compact(), even once a newer snapshot exists;
#  6. a corrupted chunk, and rows changed with a matching checksum (the
#     state hash), are refused by the new node; it never becomes a peer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $state = q{SELECT * FROM ledger.accounts ORDER BY id; SELECT * FROM ledger.transfers ORDER BY id;
SELECT * FROM notes ORDER BY id};

# a node with the ledger and the notes, their tables registered
sub ledger_node
{
	my ($name) = @_;
	my $node = rig_node($name);
	rig_load_sql($node, "$srcdir/examples/ledger.sql");
	$node->safe_psql('postgres', rig_notes_sql() . q{SELECT rig_register_table('notes')});
	return $node;
}

# what a user checks on a new peer: the same state, verify clean, invariants
sub converged_ok
{
	my ($primary, $peer, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($peer->safe_psql('postgres', $state), $primary->safe_psql('postgres', $state),
		"$name holds the primary's tables");
	rig_verify_ok($primary, $name, "rig_verify_peer('$name') finds no difference");
	is($peer->safe_psql('postgres', 'SELECT count(*) FROM ledger.check()'), '0',
		"the ledger's invariants hold on $name");
	is(rig_peer_state($primary, $name, 'state'), 'in_sync', "$name is an in-sync peer");
}

my $a = ledger_node('a');
$a->safe_psql('postgres', q{
SELECT ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1)) FROM generate_series(1, 20) i;
SELECT ledger.transfer(jsonb_build_object('id', i, 'debit_account', 1 + i % 20, 'credit_account', 1 + (i * 7 + 3) % 20,
	'amount', 1 + i % 50, 'ledger', 1)) FROM generate_series(1, 300) i WHERE i % 20 <> (i * 7 + 3) % 20;
SELECT ledger.transfer(jsonb_build_object('id', 1000 + i, 'debit_account', 1, 'credit_account', 2,
	'amount', 10, 'ledger', 1, 'pending', true, 'timeout', 3600)) FROM generate_series(1, 20) i;
SELECT ledger.transfer_post(jsonb_build_object('id', 2000 + i, 'pending_id', 1000 + i)) FROM generate_series(1, 10) i;
CREATE SEQUENCE tid START 100000;
});

# --- 2 (first half): no compaction without a snapshot
my ($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_compact(100)');
like($err, qr/ERROR:  cannot compact rig\.log: there is no snapshot of the state tables/,
	'rig_compact() is refused while the state tables have no snapshot');
is($a->safe_psql('postgres', 'SELECT compacted_below FROM rig.node'), '1', '... and removes nothing');

# --- 1. a version committed out of order: an open transaction holds a
# lower version while a later one on another resource commits
my $open = rig_session($a);
$open->query_safe(q{BEGIN; SELECT rig_do('note', '{"body": "held"}')});
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "overtook"}')});
my $s1 = $a->safe_psql('postgres', 'SELECT rig_snapshot(50)');
$open->query_safe('COMMIT');
$open->quit;
my ($held, $overtook) = split /\n/, $a->safe_psql('postgres',
	q{SELECT version FROM rig.log WHERE data->>'body' IN ('held', 'overtook') ORDER BY version});
my ($w1, $inc1) = split /\|/, $a->safe_psql('postgres', "SELECT watermark, included FROM rig.snapshots WHERE id = $s1");
is($w1, $held - 1, 'W stops below the version an open transaction held');
is($inc1, "{$overtook}", 'the later version that committed before the snapshot is listed as included');
is($a->safe_psql('postgres', "SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = $s1 AND rows::text LIKE '%held%'"),
	'0', 'the held version is not in the snapshot');

# the snapshot equals a replay of exactly its versions on a standalone node
my $r = ledger_node('r');
rig_replay_into($a, $r, "version <= $w1 OR version = ANY('$inc1')");
for my $t (['ledger.accounts', 'id'], ['ledger.transfers', 'id'], ['public.notes', 'id'])
{
	is(rig_snapshot_rows($a, $s1, $t->[0]), rig_table_rows($r, @$t),
		"snapshot $s1: $t->[0] equals a replay of W and the included versions");
}

# under concurrent writes (4 clients of transfers between random accounts)
my $bench = $a->basedir . '/transfer.sql';
PostgreSQL::Test::Utils::append_to_file($bench, q{
\set d random(1, 20)
\set c random(1, 19)
SELECT ledger.transfer(jsonb_build_object('id', nextval('tid'), 'debit_account', :d,
	'credit_account', 1 + (:d + :c - 1) % 20, 'amount', 1, 'ledger', 1));
});
my ($bout, $berr) = ('', '');
my $h = rig_pgbench($a, \$bout, \$berr, '-c', '4', '-t', '150', '-f', $bench);
my @snaps;
push @snaps, $a->safe_psql('postgres', 'SELECT rig_snapshot(100)') for 1 .. 4;
ok($h->finish, 'pgbench ran its transfers while the snapshots were taken') or diag $berr;
$r->stop;
for my $id (@snaps)
{
	my ($w, $inc) = split /\|/, $a->safe_psql('postgres', "SELECT watermark, included FROM rig.snapshots WHERE id = $id");
	my $fresh = ledger_node("r$id");
	rig_replay_into($a, $fresh, "version <= $w OR version = ANY('$inc')");
	is( rig_snapshot_rows($a, $id, 'ledger.accounts') . "\n" . rig_snapshot_rows($a, $id, 'ledger.transfers'),
		rig_table_rows($fresh, 'ledger.accounts', 'id') . "\n" . rig_table_rows($fresh, 'ledger.transfers', 'id'),
		"snapshot $id (W $w, included $inc) taken under load equals a replay of its versions");
	$fresh->stop;
}

# --- 2. compaction is bounded by the latest snapshot's W
my $s2 = $a->safe_psql('postgres', 'SELECT rig_snapshot(50)');
my $w2 = $a->safe_psql('postgres', "SELECT watermark FROM rig.snapshots WHERE id = $s2");
$a->safe_psql('postgres', q{SELECT ledger.transfer('{"id": 5001, "debit_account": 3, "credit_account": 4, "amount": 5, "ledger": 1}');
SELECT rig_do('note', '{"body": "after s2"}')});
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_compact(1000000)');
like($err, qr/NOTICE:  rig_compact\(\) keeps the records from version ${\($w2 + 1)} on.*the latest snapshot "$s2" still needs them/s,
	'rig_compact() keeps what is after the latest snapshot, and says why');
is($a->safe_psql('postgres', "SELECT compacted_below, (SELECT min(version) > $w2 FROM rig.log) FROM rig.node"),
	($w2 + 1) . '|t', 'the log now starts right after W');
is($a->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM rig.snapshots"), $s2,
	'older snapshots went with it');

# the primary rebuilds from its snapshot
my $before = $a->safe_psql('postgres', $state);
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_rebuild()');
like($err, qr/NOTICE:  rig_rebuild: starting from snapshot $s2 \(every version up to $w2 and \d+ later\)/,
	'rig_rebuild() on the compacted primary starts from the latest snapshot and says so');
is($a->safe_psql('postgres', $state), $before, '... and gives the same tables');

# --- 3. a fresh empty node is bootstrapped from the snapshot
my $c = ledger_node('c');
($ret, $out, $err) = $a->psql('postgres',
	"SELECT rig_add_peer('c', \$\$" . $c->connstr('postgres') . "\$\$, 'sync')");
is($ret, 0, 'rig_add_peer of an empty node after compaction succeeds') or diag $err;
like($err, qr/NOTICE:  bootstrapping peer "c" from snapshot $s2 .*: starting at chunk 0 of \d+/,
	'it bootstraps the node from the latest snapshot');
converged_ok($a, $c, 'c');
$a->safe_psql('postgres', q{SELECT ledger.transfer('{"id": 5002, "debit_account": 5, "credit_account": 6, "amount": 7, "ledger": 1}');
SELECT rig_do('note', '{"body": "after"}')});
converged_ok($a, $c, 'c');
is($c->safe_psql('postgres', 'SELECT compacted_below FROM rig.node'), $w2 + 1,
	'the new node counts its log below W + 1 as compacted');

# rig_rebuild on the bootstrapped node starts from its copy of the snapshot
$c->safe_psql('postgres', q{SET rig.maintenance = on; UPDATE ledger.accounts SET debits_posted = 0 WHERE id = 7});
($ret, $out, $err) = $c->psql('postgres', 'SELECT rig_rebuild()');
like($err, qr/NOTICE:  rig_rebuild: starting from snapshot $s2 /, 'rig_rebuild() on the new node starts from the snapshot');
converged_ok($a, $c, 'c');
$a->safe_psql('postgres', q{SELECT rig_drop_peer('c')});
$c->stop;

# --- 4a. kill -9 of the new node in the middle of its bootstrap
my $nchunks = $a->safe_psql('postgres', "SELECT chunks FROM rig.snapshots WHERE id = $s2");
cmp_ok($nchunks, '>=', 4, "snapshot $s2 has $nchunks chunks");
my $d = ledger_node('d');
my $add_d = "SELECT rig_add_peer('d', \$\$" . $d->connstr('postgres') . "\$\$, 'sync')";
my ($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_between_chunks', $add_d);
is($d->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshot_chunks'), '1',
	'the new node committed the first chunk');
crash($d);
$d->start;
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$sess->quit;
is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'd'}), '0',
	'the interrupted bootstrap did not make it a peer');
($ret, $out, $err) = $a->psql('postgres', $add_d);
is($ret, 0, 'rig_add_peer again succeeds') or diag $err;
like($err, qr/resuming at chunk 1 of $nchunks/, '... resuming after the chunk the new node had committed');
converged_ok($a, $d, 'd');
$a->safe_psql('postgres', q{SELECT rig_drop_peer('d')});
$d->stop;

# --- 4b. kill -9 of the primary in the middle of a bootstrap
my $e = ledger_node('e');
my $add_e = "SELECT rig_add_peer('e', \$\$" . $e->connstr('postgres') . "\$\$, 'sync')";
($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_between_chunks', $add_e);
crash($a);
rig_client_end($sess);
$a->start;
is($e->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshot_chunks'), '1',
	'the new node kept the chunk it committed before the primary died');
# the checksum is that of the text the primary sends: the same rows spelt
# otherwise (here without the space after each comma) are refused unparsed
my ($sid, $rel, $nrows, $spelt, $sum) = split /\|/, $a->safe_psql('postgres',
	"SELECT snapshot_id, relation, nrows, replace(rows::text, ', ', ','), checksum FROM rig.snapshot_chunks "
	  . "WHERE snapshot_id = $s2 AND chunk = 1");
($ret, $out, $err) = $e->psql('postgres',
	"SELECT rig_bootstrap_chunk($sid, 1, '$rel', $nrows, \$\$$spelt\$\$, '$sum')");
like($err, qr/ERROR:  chunk 1 of snapshot $s2 \(\Q$rel\E\) does not match its checksum/,
	'the new node refuses a chunk whose text is not the one checksummed, even with the same rows');
is($e->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshot_chunks'), '1', '... and loads nothing of it');
($ret, $out, $err) = $a->psql('postgres', $add_e);
is($ret, 0, 'rig_add_peer after the primary restarted succeeds') or diag $err;
like($err, qr/resuming at chunk 1 of $nchunks/, '... resuming where the new node stood');
converged_ok($a, $e, 'e');
$a->safe_psql('postgres', q{SELECT rig_drop_peer('e')});
$e->stop;

# --- 5. a running bootstrap keeps its snapshot and the log after it
my $f = ledger_node('f');
my $add_f = "SELECT rig_add_peer('f', \$\$" . $f->connstr('postgres') . "\$\$, 'sync')";
($sess, $pid) = rig_start_paused_sql($a, 'bootstrap_between_chunks', $add_f);
$a->safe_psql('postgres', q{SELECT ledger.transfer('{"id": 5003, "debit_account": 8, "credit_account": 9, "amount": 3, "ledger": 1}')});
my $s3 = $a->safe_psql('postgres', 'SELECT rig_snapshot(50)');
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after s3"}')});
($ret, $out, $err) = $a->psql('postgres', 'SELECT rig_compact(1000000)');
like($err, qr/keeps the records from version ${\($w2 + 1)} on.*a running bootstrap or rebuild from snapshot "$s2" still needs them/s,
	'rig_compact() keeps what a running bootstrap reads, once a newer snapshot exists');
is($a->safe_psql('postgres', 'SELECT compacted_below FROM rig.node'), $w2 + 1, '... and removes nothing it needs');
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$sess->quit;
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
my $w3 = $a->safe_psql('postgres', "SELECT watermark FROM rig.snapshots WHERE id = $s3");
is($a->safe_psql('postgres', 'SELECT compacted_below FROM rig.node'), $w3 + 1,
	'once the bootstrap ended, compaction goes on to the newer snapshot');
($ret, $out, $err) = $a->psql('postgres', $add_f);
is($ret, 0, 'rig_add_peer of the half-loaded node succeeds') or diag $err;
like($err, qr/bootstrapping peer "f" from snapshot $s3 .*: starting at chunk 0/,
	'... starting again from the newer snapshot');
converged_ok($a, $f, 'f');
$a->safe_psql('postgres', q{SELECT rig_drop_peer('f')});
$f->stop;

# --- 6. a corrupted chunk is refused, and so are rows that no longer hash right
my $g = ledger_node('g');
my $add_g = "SELECT rig_add_peer('g', \$\$" . $g->connstr('postgres') . "\$\$, 'sync')";
my $bad = $a->safe_psql('postgres',
	"SELECT min(chunk) FROM rig.snapshot_chunks WHERE snapshot_id = $s3 AND relation = 'ledger.transfers' AND chunk > 0");
$a->safe_psql('postgres', qq{
CREATE TABLE good AS SELECT * FROM rig.snapshot_chunks WHERE snapshot_id = $s3 AND chunk = $bad;
UPDATE rig.snapshot_chunks SET rows = jsonb_set(rows, '{0,amount}', '99999') WHERE snapshot_id = $s3 AND chunk = $bad});
($ret, $out, $err) = $a->psql('postgres', $add_g);
like($err, qr/ERROR:  chunk $bad of snapshot $s3 \(ledger\.transfers\) does not match its checksum/,
	'the new node refuses a corrupted chunk');
is($g->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshot_chunks'), $bad,
	'... after the chunks before it, and nothing of it');
is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'g'}), '0', '... and it is not a peer');

# the same change with a checksum to match: the state hash catches it
$a->safe_psql('postgres', "UPDATE rig.snapshot_chunks SET checksum = md5(rows::text) WHERE snapshot_id = $s3 AND chunk = $bad");
($ret, $out, $err) = $a->psql('postgres', $add_g);
like($err, qr/ERROR:  the tables and idempotency keys loaded on node "g" do not match the state hash of snapshot $s3/,
	'rows changed with a matching checksum fail the state hash on the new node');
is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'g'}), '0', '... and it is not a peer');

# repaired, the bootstrap completes
$a->safe_psql('postgres', qq{
UPDATE rig.snapshot_chunks c SET rows = g.rows, checksum = g.checksum FROM good g
 WHERE c.snapshot_id = g.snapshot_id AND c.chunk = g.chunk});
my $s4 = $a->safe_psql('postgres', 'SELECT rig_snapshot(50)');
($ret, $out, $err) = $a->psql('postgres', $add_g);
is($ret, 0, 'with a new snapshot the node is bootstrapped') or diag $err;
like($err, qr/from snapshot $s4 .*: starting at chunk 0/, '... from the start of the new snapshot');
converged_ok($a, $g, 'g');

# --- 7. the same for an idempotency key: the state hash covers the keys of
# versions <= W too.  A key chunk whose first key names another version,
# with a checksum to match, is refused by a fresh node at the end.
my $hn = ledger_node('h');
my $add_h = "SELECT rig_add_peer('h', \$\$" . $hn->connstr('postgres') . "\$\$, 'sync')";
my $s5 = $a->safe_psql('postgres', 'SELECT rig_snapshot(50)');
my $kbad = $a->safe_psql('postgres',
	"SELECT min(chunk) FROM rig.snapshot_chunks WHERE snapshot_id = $s5 AND relation = 'rig.idempotency_keys'");
ok($kbad ne '', "snapshot $s5 has a chunk of idempotency keys ($kbad)");
$a->safe_psql('postgres', qq{
UPDATE rig.snapshot_chunks SET rows = jsonb_set(rows, '{0,version}', to_jsonb((rows->0->>'version')::bigint - 1))
 WHERE snapshot_id = $s5 AND chunk = $kbad;
UPDATE rig.snapshot_chunks SET checksum = md5(rows::text) WHERE snapshot_id = $s5 AND chunk = $kbad});
($ret, $out, $err) = $a->psql('postgres', $add_h);
like($err, qr/ERROR:  the tables and idempotency keys loaded on node "h" do not match the state hash of snapshot $s5/,
	'a key changed with a matching checksum fails the state hash on the new node');
is($a->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'h'}), '0', '... and it is not a peer');

done_testing();
