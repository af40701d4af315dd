
# Copyright (c) 2026, rig developers

# The tail rig_add_peer (and the worker's catch-up) ships under the
# exclusive commit gate, while every commit waits, is what was written
# during the last ungated pass.  The passes went on while a pass shipped
# 1000 versions or more: a pass of 30 large ops (27 MB, paced at 2 MB/s)
# ended them, and the 20 large ops written meanwhile (18 MB) went under
# the gate.  Now a pass of 16 MB or more is followed by another too, so
# the gate covers only what the last short pass let through; a LOG line
# says how much was shipped while commits waited.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $blobs = q{
CREATE FUNCTION blob_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$ SELECT 1 $$;
SELECT rig_register('blob', 'blob_apply(bigint,jsonb)');
};
my $a = rig_node('a');
my $b = rig_node('b');
$_->safe_psql('postgres', $blobs) for ($a, $b);

# 30 ops of 900 kB each in a's log before the add
my $write = q{SELECT count(rig_do('blob', jsonb_build_object('x', repeat('x', 900000), 'i', i)))
	FROM generate_series(1, %d) i};
$a->safe_psql('postgres', sprintf($write, 30));

my $sess = rig_session($a);
$sess->query_safe(q{SET rig.bootstrap_max_rate = '2MB'});
rig_bg_send($sess,
	"SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");

# the first pass (up to the watermark it took: the 30) has begun
ok($b->poll_query_until('postgres', q{SELECT count(*) > 0 FROM rig.log WHERE method = 'blob'}),
	'the first pass ships to b');
$a->safe_psql('postgres', sprintf($write, 20));
is($b->safe_psql('postgres', q{SELECT count(*) < 30 FROM rig.log WHERE method = 'blob'}), 't',
	'20 more were written on a while the first pass was still under way');

my ($out, $err) = rig_bg_result($sess);
unlike($err, qr/ERROR/, 'rig_add_peer completes') or diag $err;
$sess->quit;
is($b->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE method = 'blob'}), '50',
	'b holds all 50');
is(rig_peer_state($a, 'b', 'state'), 'in_sync', 'b is an in-sync peer');

# what went under the gate: not the 20 written during the first pass
my $tail = slurp_file($a->logfile) =~
  /rig peer "b": shipped the last (\d+) versions \((\d+) bytes\) in \d+ ms while commits waited/
  ? [ $1, $2 ] : undef;
ok(defined $tail, 'a LOG line says what was shipped while commits waited');
cmp_ok($tail->[1], '<', 1000 * 1000, '... less than one of the large ops: they went in ungated passes')
  if defined $tail;

done_testing();
