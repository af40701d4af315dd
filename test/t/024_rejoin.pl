
# Copyright (c) 2026, rig developers

# Rejoin after a failover: an old primary (or a replica of one) becomes
# the new primary's replica when its history is a prefix of the new
# primary's, and is refused, with the versions only it holds and their
# idempotency keys listed, when it committed ops the new primary never
# got.  The documented rebuild then makes it a replica.
#
#  1. a (primary) and b (sync): a dies, b is promoted, writes go on; a
#     comes back and rig_add_peer('a') on b makes a b's replica: a's
#     rig.node follows b in b's epoch, a records b's epochs, and a
#     converges (rig_verify_peer finds nothing).
#  2. c (primary) and d (async, down): c commits ops d never gets; d is
#     promoted; rig_add_peer('c') on d is refused, naming c's extra
#     versions and keys, and changes nothing on either node; after the
#     rebuild (DROP EXTENSION rig; CREATE EXTENSION rig; the handlers'
#     tables emptied; handlers loaded) the same call makes c a replica.
#  3. A node of a newer epoch cannot be made a replica of an older one, and
#     a replica does not follow a superseded primary.
#  4. The new primary killed -9 in the middle of a rejoin (the old primary
#     follows it, nothing recorded yet): rig_add_peer again converges.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my @notes = ('SELECT * FROM notes ORDER BY id');

# Promote a replica: rig_promote() once it exists; the steps by hand until then.
sub promote
{
	my ($node) = @_;
	my $has = $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_proc WHERE proname = 'rig_promote'});
	return $node->safe_psql('postgres', 'SELECT rig_promote()') if $has;
	my @out = split /\n/, $node->safe_psql('postgres', q{
BEGIN;
SELECT setval('rig.version_seq', greatest(1, (SELECT coalesce(max(version), 0) FROM rig.log)));
INSERT INTO rig.epochs (epoch, first_version)
	SELECT (SELECT epoch + 1 FROM rig.node), (SELECT coalesce(max(version), 0) + 1 FROM rig.log);
UPDATE rig.node SET role = 'primary', primary_name = NULL, epoch = epoch + 1;
COMMIT;
SELECT epoch FROM rig.node;});
	return $out[-1];
}

###########################################################################
# 1. The old primary rejoins
###########################################################################

my $node_a = rig_node('a', conf => 'max_prepared_transactions = 20');
my $node_b = rig_node('b', conf => 'max_prepared_transactions = 20');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
my $connstr_a = $node_a->connstr('postgres');
my $connstr_b = $node_b->connstr('postgres');

$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
$node_a->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'a' || i), 'ka' || i) FROM generate_series(1, 20) i});

crash($node_a);
my $epoch = promote($node_b);
is($epoch, '2', 'failover: b is primary in epoch 2');
$node_b->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'b' || i), 'kb' || i) FROM generate_series(1, 10) i});
$node_a->start;

$node_b->safe_psql('postgres', "SELECT rig_add_peer('a', \$\$$connstr_a\$\$, 'sync')");
is($node_a->safe_psql('postgres', 'SELECT role, primary_name, epoch FROM rig.node'),
	'replica|b|2', 'rejoin: a follows b in epoch 2');
is($node_a->safe_psql('postgres', 'SELECT string_agg(epoch || \':\' || first_version, \',\' ORDER BY epoch) FROM rig.epochs'),
	$node_b->safe_psql('postgres', 'SELECT string_agg(epoch || \':\' || first_version, \',\' ORDER BY epoch) FROM rig.epochs'),
	'rejoin: a records b\'s epochs');
rig_verify_ok($node_b, 'a', 'rejoin: rig_verify_peer finds no difference');
is(rig_log_dump($node_a, @notes), rig_log_dump($node_b, @notes), 'rejoin: a has b\'s log and notes');
$node_b->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after rejoin"}')});
is($node_a->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'after rejoin'}),
	'1', 'rejoin: b\'s next commit reaches a');
my $err = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "on a"}')});
like($err, qr/not allowed on a replica/, 'rejoin: a refuses rig_do as a replica');

###########################################################################
# 2. A diverged old primary is refused, then rebuilt
###########################################################################

my $node_c = rig_node('c', conf => 'max_prepared_transactions = 20');
my $node_d = rig_node('d', conf => 'max_prepared_transactions = 20');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_c, $node_d);
my $connstr_c = $node_c->connstr('postgres');
my $connstr_d = $node_d->connstr('postgres');

$node_c->safe_psql('postgres', "SELECT rig_add_peer('d', \$\$$connstr_d\$\$, 'async')");
$node_c->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'c' || i), 'kc' || i) FROM generate_series(1, 5) i});
$node_c->safe_psql('postgres', q{SELECT rig_sync_peer('d')});
is($node_d->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), '5', 'diverge: d holds the first 5 ops');
$node_d->stop('fast');
# async: these commit on c alone
$node_c->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'lost' || i), 'klost' || i) FROM generate_series(1, 3) i});
crash($node_c);
$node_d->start;
promote($node_d);
$node_d->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "d1"}', 'kd1')});
$node_c->start;

my $log_c = rig_log_dump($node_c, @notes);
my $log_d = rig_log_dump($node_d, @notes);
$err = rig_psql_error($node_d, "SELECT rig_add_peer('c', \$\$$connstr_c\$\$, 'sync')");
is(sqlstate_of($err), '55000', 'diverge: rejoin is refused with 55000');
like($err, qr/holds 3 operation\(s\) this node does not have/, 'diverge: the error counts c\'s extra ops');
like($err, qr/version 6 \(key 'klost1'\), version 7 \(key 'klost2'\), version 8 \(key 'klost3'\)/,
	'diverge: the detail lists each extra version with its idempotency key');
like($err, qr/DROP EXTENSION rig; CREATE EXTENSION rig/, 'diverge: the hint gives the rebuild');
is(rig_log_dump($node_c, @notes), $log_c, 'diverge: c is unchanged');
is(rig_log_dump($node_d, @notes), $log_d, 'diverge: d is unchanged');
is($node_d->safe_psql('postgres', 'SELECT count(*) FROM rig.peers'), '0', 'diverge: no peer recorded on d');
is($node_c->safe_psql('postgres', 'SELECT role FROM rig.node'), 'primary', 'diverge: c still its own role');

# the documented rebuild
$node_c->safe_psql('postgres', q{
DROP EXTENSION rig;
DROP TABLE notes;
DROP FUNCTION note_resources(jsonb);
DROP FUNCTION note_apply(bigint, jsonb);
CREATE EXTENSION rig;
} . rig_notes_sql());
$node_d->safe_psql('postgres', "SELECT rig_add_peer('c', \$\$$connstr_c\$\$, 'sync')");
rig_verify_ok($node_d, 'c', 'rebuild: rig_verify_peer finds no difference');
is(rig_log_dump($node_c, @notes), rig_log_dump($node_d, @notes), 'rebuild: c has d\'s log and notes');
is($node_c->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body LIKE 'lost%'}),
	'0', 'rebuild: the ops only c had are gone from c');

###########################################################################
# 3. Epochs only move forward
###########################################################################

# b (epoch 2) cannot become a replica of a fresh primary e (epoch 1)
my $node_e = rig_node('e', conf => 'max_prepared_transactions = 20');
$node_e->safe_psql('postgres', rig_notes_sql());
$err = rig_psql_error($node_e, "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
like($err, qr/peer "b" is in epoch 2, newer than this node's epoch 1/,
	'epochs: a primary of epoch 1 cannot add a node of epoch 2');
is($node_b->safe_psql('postgres', 'SELECT role, epoch FROM rig.node'), 'primary|2', 'epochs: b unchanged');

# a replica refuses to follow a primary of an older epoch (called as its primary would)
$err = rig_psql_error($node_a, q{SELECT rig_become_replica('e', 1)});
like($err, qr/is in epoch 2 and cannot follow "e" of epoch 1/,
	'epochs: a replica of epoch 2 does not follow a superseded primary');

###########################################################################
# 4. A rejoin killed in the middle
###########################################################################

# a fresh pair g (primary) / h (sync): g dies, h is promoted; g rejoins
# h, and h is killed with -9 after g already follows it
my $node_g = rig_node('g', conf => 'max_prepared_transactions = 20');
my $node_h = rig_node('h', conf => 'max_prepared_transactions = 20');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_g, $node_h);
my $connstr_g = $node_g->connstr('postgres');
$node_g->safe_psql('postgres', "SELECT rig_add_peer('h', \$\$" . $node_h->connstr('postgres') . "\$\$, 'sync')");
$node_g->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'g' || i)) FROM generate_series(1, 10) i});
crash($node_g);
promote($node_h);
$node_h->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'h' || i)) FROM generate_series(1, 5) i});
$node_g->start;
my $s = rig_session($node_h);
$s->query_safe(q{SET rig.fault_point = 'add_peer_after_become_replica'});
$s->{stdin} .= "SELECT rig_add_peer('g', \$\$$connstr_g\$\$, 'sync');\n";
$s->{run}->pump_nb;
ok($node_h->wait_for_log(qr/paused at fault point "add_peer_after_become_replica"/),
	'killed rejoin: h paused after g follows it');
crash($node_h);
$s->{run}->kill_kill;
$node_h->start;
is($node_g->safe_psql('postgres', 'SELECT role, primary_name FROM rig.node'), 'replica|h',
	'killed rejoin: g already follows h');
is($node_h->safe_psql('postgres', 'SELECT count(*) FROM rig.peers'), '0', 'killed rejoin: h recorded no peer');
$node_h->safe_psql('postgres', "SELECT rig_add_peer('g', \$\$$connstr_g\$\$, 'sync')");
rig_verify_ok($node_h, 'g', 'killed rejoin: the retried rig_add_peer converges');
is(rig_log_dump($node_g, @notes), rig_log_dump($node_h, @notes), 'killed rejoin: g has h\'s log and notes');

done_testing();
