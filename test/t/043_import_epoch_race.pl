
# Copyright (c) 2026, rig developers

# Break-it test of rig_import (issue 14) against a concurrent rig_do on
# the same standalone node: an import that moves the node into a newer
# epoch must not let a rig_do that runs meanwhile commit a later version
# in the older epoch ("epochs never go back along the log").  The rig_do
# drew its version and epoch while the import was open; it waits for the
# import at its commit and then fails with a serialization failure
# (40001); retried, it writes in the new epoch.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $d = rig_node('d');
$d->safe_psql('postgres', rig_notes_sql());

my $imp = rig_session($d);
$imp->query_safe(q{BEGIN; SELECT rig_import(1, 2, 'note', '{"body": "imported"}', NULL, now(), 'x');});
my $do = rig_session($d);
my $pid = $do->query_safe('SELECT pg_backend_pid()');
$do->query_until(qr/sent/, qq{\\echo sent\nSELECT 'version=' || rig_do('note', '{"body": "mine"}');\n});
ok( $d->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
	'the rig_do waits for the import at its commit');
$imp->query_safe('COMMIT');
$imp->quit;
my ($out, $err) = rig_bg_query($do, 'SELECT 1');
is(sqlstate_of($err), '40001', 'the rig_do fails with a serialization failure') or diag "$out\n$err";
like($err, qr/moved to epoch 2 while this transaction ran/, '... saying the node moved to epoch 2');
unlike($out, qr/version=/, '... and returns no version');
($out) = rig_bg_query($do, q{SELECT rig_do('note', '{"body": "mine"}')});
cmp_ok($out, '>', 1, 'retried, the rig_do commits a version after the imported one');
$do->quit;
is($d->safe_psql('postgres', 'SELECT version, epoch FROM rig.log ORDER BY version'),
	"1|2\n$out|2", 'rig.log: both versions in epoch 2');
is( $d->safe_psql('postgres', q{
SELECT count(*) FROM rig.log l JOIN rig.log m ON m.version > l.version AND m.epoch < l.epoch}),
	'0', 'no version of an older epoch follows one of a newer epoch in rig.log');

done_testing();
