
# Copyright (c) 2026, rig developers

# A committed op releases its resource locks once its COMMIT PREPARED is
# sent, before it waits for the peers' answers (rig.commit_wait = on): the
# next op on the same resources does not wait for that round trip (issue
# 13's hot ledger transfers).  Forced: the first op pauses at fault point
# after_commit_sent (committed here, COMMIT PREPARED sent, answers not
# read); a second op on the same resource must commit meanwhile, and be
# applied on the peer after the first.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 60000
};
my $notes = 'SELECT * FROM notes ORDER BY id';

my ($a, $b) = rig_notes_pair($conf);

# s1 commits a write of the hot resource and pauses before reading b's answer
my ($s1, $pid1) = rig_start_paused($a, 'after_commit_sent', 'hot');
is($a->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'hot'}),
	'1', "s1's op is committed on a");

# s2 writes the same resource meanwhile: s1 holds none of its locks now
my $s2 = rig_session($a);
my ($out, $err) = rig_bg_query($s2,
	q{SET statement_timeout = '5s'; SELECT rig_do('note', '{"body": "hot"}')});
like($out, qr/^\d+$/, "s2 writes the hot resource while s1 waits for b's answer");
is($err, '', 's2 got no error (it did not wait for s1)');
is($a->safe_psql('postgres',
		"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid1"),
	'Extension', 's1 was still paused when s2 committed');

# s1 goes on (a cancel ends the pause), reads b's answer, and is done
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid1)");
$s1->query('SELECT 1');
$s1->quit;
$s2->quit;
ok($b->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM notes WHERE body = 'hot'"),
	'b committed both');
rig_same_ok($a, [$b], 'a and b hold the same notes', $notes);

done_testing();
