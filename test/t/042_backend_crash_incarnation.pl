
# Copyright (c) 2026, rig developers

# Break-it test of issue 11's incarnations (docs/design.md "No flush
# before prepare; incarnations instead"): a crash of one backend, not of
# the server, also loses the WAL that was only in shared memory, since
# the postmaster kills every process and reinitializes shared memory.
# Twice in a row, a committing backend is killed with -9 after its sync
# peer prepared, with the WAL writer stopped (so the transaction's WAL
# stays in memory); the postmaster restarts by itself each time.  Checks:
# each restart records a new incarnation in rig_incarnation; xids up to
# the lost ones are handed out (again) and commit; the resolver rolls both
# branches back; no version is handed out twice; both logs are identical.

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
restart_after_crash = on
bgwriter_lru_maxpages = 0
max_prepared_transactions = 20
rig.sync_timeout = 10000
};
my $notes = 'SELECT * FROM notes ORDER BY id';

my ($a, $b) = rig_notes_pair($conf);
$a->safe_psql('postgres', qq{SELECT rig_do('note', '{"body": "warm $_"}')}) for (1, 2);

my @lost;
for my $round (1, 2)
{
	my $inc = rig_incarnation($a);
	# the lost op must not be the one that logs the version sequence ahead:
	# that record is flushed before a peer prepares (rig_flush_versions),
	# and the flush takes the op's WAL with it.  Which op logs depends on
	# how many versions were drawn before (the install script's too).
	$a->safe_psql('postgres', qq{SELECT rig_do('note', '{"body": "warm round $round"}')})
	  while $a->safe_psql('postgres', 'SELECT log_cnt FROM rig.version_seq') < 2;
	rig_stop_walwriter($a);
	my ($s, $pid) = rig_start_paused($a, 'after_peer_prepare', "lost-$round");
	my $gid = $b->safe_psql('postgres',
		"SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'rig\\_a\\_1\\_$inc\\_%'");
	like($gid, qr/^rig_a_1_${inc}_(\d+)_(\d+)_(\d+)$/, "($round) b holds the branch of incarnation $inc");
	$gid =~ /_(\d+)_(\d+)_(\d+)$/;
	push @lost, { xid => $1, version => $3 };
	is( $a->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()'),
		't', "($round) a's WAL is not flushed to its end");
	kill 'KILL', $pid;
	unlike(rig_client_end($s), qr/version=/, "($round) the client got no version");
	ok($a->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
		"($round) the postmaster restarted a by itself");
	cmp_ok(rig_incarnation($a), '>', $inc, "($round) the restart recorded a new incarnation");
	is($a->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE data->>'body' = 'lost-$round'"),
		'0', "($round) the transaction was lost on a");
}
# the lost xids are used again (when their WAL was lost whole) and commit
my $next = $a->safe_psql('postgres', 'SELECT txid_current()');
$next = $a->safe_psql('postgres', 'SELECT txid_current()') while $next < $lost[1]{xid};
is(rig_prepared_xacts($b) =~ /^2: /, 1, 'b still holds both branches');

rig_set_resolver($a, 100);
ok($b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'nothing is left prepared on b') or diag rig_prepared_xacts($b);
is($b->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE data->>'body' LIKE 'lost-%'}),
	'0', 'both branches were rolled back on b');
ok($a->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}),
	'b is back in sync');
my $v = $a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after"}')});
cmp_ok($v, '>', $lost[1]{version}, 'the next op gets a version above both lost ones');
cmp_ok($lost[1]{version}, '>', $lost[0]{version}, 'the second lost op did not reuse the first one\'s version');
rig_same_ok($a, [$b], 'after resolution', $notes);

done_testing();
