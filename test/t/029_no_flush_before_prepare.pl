
# Copyright (c) 2026, rig developers

# rig does not flush a transaction's WAL before its peers prepare it
# (issue 11, docs/design.md "No flush before prepare").  A crash can then
# lose every trace of a transaction a peer holds prepared.  This test
# forces that loss (the primary's WAL writer is stopped, autovacuum and
# the bgwriter's writes are off, so the transaction's WAL stays in shared
# memory) and checks what a user would check afterwards:
#
#  (1) the lost transaction's xid is handed out again and commits; the
#      resolver still rolls the peer's branch back (the GID names the
#      earlier incarnation, decided by rig.log), so the op is on neither
#      node and the pair takes writes;
#  (2) the lost transaction drew a new block of versions (right after a
#      checkpoint, so its own WAL held the sequence's record) and its
#      semisync peer is down when the primary restarts: the primary writes
#      without it, never reusing the lost version, and when the peer comes
#      back the branch is rolled back and both logs are identical.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
autovacuum = off
bgwriter_lru_maxpages = 0
max_prepared_transactions = 20
rig.sync_timeout = 10000
};
my $notes = 'SELECT * FROM notes ORDER BY id';

# Pause a rig_do at after_peer_prepare and kill the primary; returns the
# peer's GID parts (incarnation, xid, version).  With $unflushed, the op's
# WAL stays only in memory: it must then not be the op that logs the
# version sequence ahead, whose flush before the peers prepare
# (rig_flush_versions) writes out everything inserted so far, the op's own
# WAL with it (PostgreSQL's XLogFlush); without it, that is the case tested.
sub lose_one
{
	my ($p, $peer, $body, $what, $unflushed) = @_;
	if ($unflushed)
	{
		$p->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "sequence"}')})
		  while $p->safe_psql('postgres', 'SELECT log_cnt FROM rig.version_seq') < 2;
	}
	rig_stop_walwriter($p);
	my ($s) = rig_start_paused($p, 'after_peer_prepare', $body);
	my $gid = $peer->safe_psql('postgres', 'SELECT gid FROM pg_prepared_xacts');
	my $pname = $p->name;
	like($gid, qr/^rig_${pname}_1_(\d+)_(\d+)_(\d+)_(\d+)$/,
		"$what: the peer holds the branch, its GID names the primary's incarnation");
	$gid =~ /^rig_${pname}_1_(\d+)_(\d+)_(\d+)_(\d+)$/;
	my ($inc, $xid, $version) = ($1, $2, $4);
	is($inc, rig_incarnation($p), "$what: ... the one in the primary's rig_incarnation file");
	is( $p->safe_psql('postgres',
			'SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()'),
		't', "$what: the primary's WAL is not flushed to its end")
	  if $unflushed;
	crash($p, 'all');
	unlike(rig_client_end($s), qr/version=/, "$what: the client got no version");
	return ($inc, $xid, $version);
}

my $handlers = rig_notes_sql();

###########################################################################
# (1) the lost transaction's xid is reused
###########################################################################

my $a = rig_node('a', conf => $conf);
my $b = rig_node('b', conf => $conf);
$_->safe_psql('postgres', $handlers) for ($a, $b);
$a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");
# two ops: the version sequence's block of values is on disk
$a->safe_psql('postgres', qq{SELECT rig_do('note', '{"body": "warm $_"}')}) for (1, 2);

my ($inc, $xid, $version) = lose_one($a, $b, 'lost-xid', '(1)', 1);
$a->start;
cmp_ok(rig_incarnation($a), '>', $inc, '(1) the restart recorded a new incarnation');
my $next = $a->safe_psql('postgres', 'SELECT txid_current()');
cmp_ok($next, '<=', $xid, "(1) the crash lost the transaction's xid: it is handed out again");
$next = $a->safe_psql('postgres', 'SELECT txid_current()') while $next < $xid;
is($a->safe_psql('postgres', "SELECT txid_status($xid)"), 'committed',
	'(1) another transaction committed with that xid');
is(rig_where_is($b, 'lost-xid'), '0/0', '(1) the branch is still only prepared on b');

rig_set_resolver($a, 100);
ok($b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'(1) nothing is left prepared on b');
is(rig_where_is($b, 'lost-xid'), '0/0', '(1) the branch was rolled back, not committed by the reused xid');
is(rig_where_is($a, 'lost-xid'), '0/0', '(1) the op is not on a');
ok($a->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}),
	'(1) b is back in sync');
my $v = $a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after-1"}')});
cmp_ok($v, '>', $version, '(1) the next op gets a version above the lost one');
is(rig_where_is($b, 'after-1'), '1/1', '(1) the next op reached b');
rig_same_ok($a, [$b], '(1) after resolution', $notes);

###########################################################################
# (2) the lost transaction held the sequence's new block; its semisync
# peer is down when the primary comes back
###########################################################################

my $c = rig_node('c', conf => $conf);
my $d = rig_node('d', conf => $conf);
$_->safe_psql('postgres', $handlers) for ($c, $d);
$c->safe_psql('postgres',
	"SELECT rig_add_peer('d', \$\$" . $d->connstr('postgres') . "\$\$, 'semisync')");
$c->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "warm"}')});
# the next version draws a new block: its record is in the next transaction
$c->safe_psql('postgres', 'CHECKPOINT');
($inc, $xid, $version) = lose_one($c, $d, 'lost-version', '(2)');
crash($d, 'all');
$c->start;
rig_set_resolver($c, 100);
my ($ret, $out, $err) = $c->psql('postgres', q{SELECT rig_do('note', '{"body": "without-d"}')});
is($ret, 0, '(2) the primary writes while its semisync peer is down') or diag $err;
cmp_ok($out, '>', $version, '(2) ... with a version above the lost one: no version is handed out twice');
$d->start;
ok($d->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'(2) the peer came back: nothing is left prepared on it');
ok($c->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'd'}),
	'(2) d is back in sync');
is(rig_where_is($d, 'lost-version'), '0/0', '(2) the lost op is not on d');
is(rig_where_is($d, 'without-d'), '1/1', '(2) the op written without d reached it');
rig_same_ok($c, [$d], '(2) after the peer came back', $notes);

done_testing();
