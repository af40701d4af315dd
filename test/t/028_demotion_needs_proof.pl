
# Copyright (c) 2026, rig developers

# A primary is demoted only when it is proved superseded (found by the
# break-it review of issue 10).  rig_become_replica is granted to
# rig_replication (rig_add_peer on a new primary calls it on a rejoining
# node), so a primary must not take the caller's word for a newer epoch:
# a login in rig_replication asking the primary to follow a made-up node
# of epoch 99 is refused (42501), and the primary keeps its role, its
# peers and its writes.  (The real rejoin, where the primary asks the
# claimed new primary through its own rig.peers, is TAP 024.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $a = rig_node('a');
my $b = rig_node('b');
rig_bank_setup($_) for ($a, $b);
$a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");
rig_bank_open($a, 4, 1000);
$a->safe_psql('postgres', 'CREATE ROLE peerlogin LOGIN IN ROLE rig_replication');

my ($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_become_replica('mallory', 99, '[]')},
	connstr => $a->connstr('postgres') . ' user=peerlogin');
isnt($ret, 0, 'a rig_replication login cannot make the primary a replica of a made-up node');
is(sqlstate_of(rig_psql_error($a, q{SELECT rig_become_replica('mallory', 99, '[]')}, 'peerlogin')),
	'42501', 'refused with 42501');
like($err, qr/cannot confirm that node is the primary of that epoch/, 'the error says why');
note "rig_become_replica: $err";

is($a->safe_psql('postgres', 'SELECT role, coalesce(primary_name, \'-\'), epoch FROM rig.node'), 'primary|-|1',
	'the primary is still the primary of epoch 1');
is($a->safe_psql('postgres', 'SELECT count(*) FROM rig.peers'), '1', 'its peer list is intact');
($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
is($ret, 0, 'rig_do still works on the primary') or note $err;

done_testing();
