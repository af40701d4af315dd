
# Copyright (c) 2026, rig developers

# A session's first rig_do opens its connections to the peers before it
# takes any resource lock (issue 11): a new session whose connection set-up
# is slow must not make the writers of the same resource wait for it.
# Forced: the peer's postmaster is stopped (SIGSTOP), so a new connection
# to it waits, while a session that already holds its connection keeps
# being served by its own peer backend.

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

# s1 wrote already: its connection to b is open
my $s1 = rig_session($a);
like($s1->query_safe(q{SELECT rig_do('note', '{"body": "hot"}')}), qr/^\d+$/,
	's1 writes the hot resource');

# b's postmaster stops: new connections to b wait, running backends serve
my ($pm) = rig_node_pids($b);
kill 'STOP', $pm;
END { kill 'CONT', $pm if $pm; }

# s2, a new session: its first rig_do must connect to b
my $s2 = rig_session($a);
my $pid2 = $s2->query_safe('SELECT pg_backend_pid()');
$s2->query_until(qr/sent/,
	qq{\\echo sent\nSELECT 'version=' || rig_do('note', '{"body": "hot"}');\n});
my $s2_wait = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid2";
ok($a->poll_query_until('postgres', "SELECT ($s2_wait) = 'Extension'"),
	's2 waits for its connection to b');

# s1 writes the same resource meanwhile: s2 holds none of its locks yet
my ($out, $err) = rig_bg_query($s1,
	q{SET statement_timeout = '20s'; SELECT rig_do('note', '{"body": "hot"}')});
like($out, qr/^\d+$/, 's1 writes the hot resource while s2 connects');
is($err, '', 's1 got no error (it did not wait for s2)');
is($a->safe_psql('postgres', $s2_wait), 'Extension',
	's2 was still connecting when s1 committed');

# b's postmaster goes on: s2 connects and commits
kill 'CONT', $pm;
$pm = undef;
ok($a->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM notes WHERE body = 'hot'"),
	's2 committed once b took its connection');
like(rig_client_end($s2), qr/version=\d+/, 's2 got its version');
$s1->quit;
rig_same_ok($a, [$b], 'a and b hold the same notes', $notes);

done_testing();
