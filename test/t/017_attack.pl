
# Copyright (c) 2026, rig developers

# Attacks on issue 8's promises (two nodes).
#
#  1. A replica rebuilt the documented way (DROP EXTENSION rig; CREATE
#     EXTENSION rig; add it again) starts over: what its old primary
#     confirmed before the rebuild no longer counts, so a failed catch-up
#     that leaves holes does not leave its watermark above them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $node_a = rig_node('a', conf => 'max_prepared_transactions = 20');
my $node_b = rig_node('b', conf => 'max_prepared_transactions = 20');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');

# every version at or below b's watermark is in b's log (none compacted)
my $true_watermark = q{SELECT w.w AS watermark, count(l.version) = w.w AS holds_all
  FROM (SELECT rig_watermark() AS w) w LEFT JOIN rig.log l ON l.version <= w.w
 GROUP BY w.w};

###########################################################################
# 1. A rebuilt replica forgets what its primary confirmed before
###########################################################################

$node_a->safe_psql('postgres', q{
SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 100) i;
SELECT rig_do('note', '{"body": "bad"}');
SELECT rig_do('note', jsonb_build_object('body', 'm' || i)) FROM generate_series(1, 100) i;
});
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), '201',
	'rebuild: b is confirmed up to a\'s last version');

# rebuild b as the hint of a compacted log says, with a constraint that
# refuses one op in the middle of the backlog
$node_a->safe_psql('postgres', "SELECT rig_drop_peer('b')");
$node_b->safe_psql('postgres', q{
DROP EXTENSION rig CASCADE;
TRUNCATE notes;
CREATE EXTENSION rig;
SELECT rig_register('note', 'note_apply(bigint,jsonb)', NULL, 'note_resources(jsonb)');
ALTER TABLE notes ADD CONSTRAINT no_bad CHECK (body <> 'bad');
});
my ($ret, $out, $err) = $node_a->psql('postgres',
	"SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
isnt($ret, 0, 'rebuild: adding b again fails on the op it refuses');
my $held = $node_b->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
note "rebuild: b holds $held of 201 versions";
cmp_ok($held, '<', 201, 'rebuild: b lacks some versions');
like($node_b->safe_psql('postgres', $true_watermark), qr/\|t$/,
	'rebuild: b\'s watermark is not above a version it lacks');

done_testing();
