
# Copyright (c) 2026, rig developers

# Break-it tests of issue 11's "no flush before prepare" (docs/design.md
# "No flush before prepare; incarnations instead"): a branch a crash lost
# on the primary must be rolled back on its peer even when the primary's
# rig.log holds no record below the branch's versions.
#
#  (1) the very first op of a new primary is lost after its sync peer
#      prepared it: the log is empty when the primary comes back, and only
#      holds versions above the lost one once it writes again.  The
#      resolver must still roll the branch back (nothing was compacted, so
#      the absent record proves the abort), not warn and leave it prepared.

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
rig.sync_timeout = 10000
};
my $notes = 'SELECT * FROM notes ORDER BY id';

my ($a, $b) = rig_notes_pair($conf);

my ($s) = rig_start_paused($a, 'after_peer_prepare', 'first');
like(rig_prepared_xacts($b), qr/^1: rig_a_1_\d+_\d+_1_1$/,
	'(1) b holds the first op (version 1) prepared');
crash($a, 'all');
unlike(rig_client_end($s), qr/version=/, '(1) the client got no version');
$a->start;
is($a->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), '0',
	'(1) the op is not in the restarted primary\'s log');

my $offset = -s $a->logfile;
rig_set_resolver($a, 100);
ok($b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'(1) the resolver rolled the lost branch back on b')
  or diag rig_prepared_xacts($b);
unlike(slurp_file($a->logfile, $offset), qr/cannot tell the outcome/,
	'(1) the resolver did not give up on it');
my $v = $a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "second"}')});
cmp_ok($v, '>', 1, '(1) the next op gets a version above the lost one');
is(rig_prepared_xacts($b), '0', '(1) nothing is left prepared on b');
rig_same_ok($a, [$b], '(1) after resolution', $notes);

done_testing();
