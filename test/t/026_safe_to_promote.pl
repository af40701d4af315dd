
# Copyright (c) 2026, rig developers

# What an external failover manager reads in rig.status: role, epoch,
# in_sync_peers, last version, and safe_to_promote with its reason.  A
# replica says it is safe to promote only when its primary treated it as
# in sync at their last contact (sync, or semisync in sync); it says why
# not otherwise: no word since its start, async, not a replica.
#
#  1. A sync pair: b is safe (sync), and stays safe after a dies.
#  2. Switched to semisync: still safe, the reason says semisync; switched
#     to async: b is told at once and is not safe.
#  3. Restarted b: no word from its primary yet, not safe, until the
#     primary's worker confirms it.
#  4. The primary itself and a follower are not safe.
#  5. A peer the primary cannot reach: weakening it (rig_set_peer_mode to
#     async) is refused until rig.promote_lease has passed since it last
#     heard from the primary, and by then its own word has expired, so it
#     never says it is safe while the primary commits without it (found
#     by the break-it review).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = "max_prepared_transactions = 20\nrig.resolver_interval = 200\n";
my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');

sub safe
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT safe_to_promote || ' ' || safe_to_promote_reason FROM rig.status});
}

$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "one"}')});

# 1. sync
like(safe($node_b), qr/^true sync replica of "a": no commit is acknowledged without it/,
	'(1) a sync replica is safe to promote, and says why');
is($node_a->safe_psql('postgres', 'SELECT role, in_sync_peers, safe_to_promote FROM rig.status'),
	'primary|1|f', '(1) the primary: one in-sync peer, not safe to promote (it is the primary)');
like(safe($node_a), qr/not a replica \(its role is primary\)/, '(1) the primary says why');

# 2. semisync, then async
$node_a->safe_psql('postgres', q{SELECT rig_set_peer_mode('b', 'semisync')});
ok($node_b->poll_query_until('postgres',
		q{SELECT safe_to_promote_reason LIKE 'semisync replica%' FROM rig.status}),
	'(2) semisync: b learns its mode (the worker confirms it each round)');
like(safe($node_b), qr/^true semisync replica of "a", in sync at its last contact/,
	'(2) an in-sync semisync replica is safe, and says a later degrade would not be seen');
# the worker off: only rig_set_peer_mode itself can tell b
$node_a->safe_psql('postgres', q{ALTER SYSTEM SET rig.resolver_interval = -1; SELECT pg_reload_conf()});
ok($node_a->poll_query_until('postgres',
		q{SELECT worker_state = 'idle (rig.resolver_interval = -1)' FROM rig.status}),
	'(2) a\'s worker is idle');
$node_a->safe_psql('postgres', q{SELECT rig_set_peer_mode('b', 'async')});
like(safe($node_b), qr/^false primary "a" ships to it asynchronously/,
	'(2) switched to async: b is told at once and is not safe');
$node_a->safe_psql('postgres', q{ALTER SYSTEM RESET rig.resolver_interval; SELECT pg_reload_conf()});
$node_a->safe_psql('postgres', q{SELECT rig_set_peer_mode('b', 'sync')});
$node_a->safe_psql('postgres', q{SELECT rig_sync_peer('b')});
like(safe($node_b), qr/^true sync replica/, '(2) back to sync: safe again');

# 3. a restarted replica has no word from its primary yet
$node_a->safe_psql('postgres', q{ALTER SYSTEM SET rig.resolver_interval = -1; SELECT pg_reload_conf()});
$node_b->restart;
like(safe($node_b), qr/^false no word from primary "a" since this server started/,
	'(3) a restarted replica is not safe until its primary speaks');
$node_a->safe_psql('postgres', q{ALTER SYSTEM RESET rig.resolver_interval; SELECT pg_reload_conf()});
ok($node_b->poll_query_until('postgres', q{SELECT safe_to_promote FROM rig.status}),
	'(3) the primary\'s worker confirms it: safe again');

# 1 (end). the primary dies: b still says it is safe (its last contact was sync)
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "two"}')});
crash($node_a);
like(safe($node_b), qr/^true sync replica/, '(1) after the primary died, b is still safe to promote');
is($node_b->safe_psql('postgres', 'SELECT role, epoch, last_version FROM rig.status'),
	'replica|1|2', '(1) rig.status shows b\'s role, epoch and last version');
is($node_b->safe_psql('postgres', 'SELECT rig_promote()'), '2', '(1) the manager promotes it');
like(safe($node_b), qr/^false this node is not a replica \(its role is primary\)/,
	'(1) the new primary is not safe to promote');

# 4. a follower pulls asynchronously: never safe
my $node_f = rig_node('f', conf => $conf);
$node_f->safe_psql('postgres', rig_notes_sql());
$node_f->safe_psql('postgres',
	"SELECT rig_follow('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");
like(safe($node_f), qr/^false no word from primary "b"/, '(4) a follower is not safe to promote');

# 5. a peer the primary cannot tell: weakening it waits for the lease
my $lease = "rig.promote_lease = 2000\n";
my $node_c = rig_node('c', conf => $conf . $lease);
my $node_d = rig_node('d', conf => $conf . $lease);
$_->safe_psql('postgres', rig_notes_sql()) for ($node_c, $node_d);
$node_c->safe_psql('postgres', "SELECT rig_add_peer('d', \$\$" . $node_d->connstr('postgres') . "\$\$, 'sync')");
$node_c->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "c1"}')});
like(safe($node_d), qr/^true sync replica/, '(5) d is a safe sync replica');
# d stops taking c's connections (a partition)
$node_d->safe_psql('postgres', 'CREATE ROLE checker LOGIN SUPERUSER');
my $checker = $node_d->connstr('postgres') . ' user=checker';
my $os_user = $node_d->safe_psql('postgres', 'SELECT current_user');
my $hba = $node_d->data_dir . '/pg_hba.conf';
my $old = slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh "local all $os_user reject\nhost all $os_user 127.0.0.1/32 reject\n$old";
close $fh;
$node_d->reload;
$node_d->safe_psql('postgres', qq{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE usename = '$os_user' AND backend_type = 'client backend' AND pid <> pg_backend_pid()},
	connstr => $checker);
my $err = rig_psql_error($node_c, q{SELECT rig_set_peer_mode('d', 'async')});
is(sqlstate_of($err), '55000', '(5) weakening an unreachable peer within the lease is refused (55000)');
like($err, qr/cannot be told that commits no longer wait for it/, '(5) the error says why');
ok($node_c->poll_query_until('postgres', q{SELECT 1 FROM rig_set_peer_mode('d', 'async')}, '1'),
	'(5) once the lease is over, the mode changes');
like($node_d->safe_psql('postgres', q{SELECT safe_to_promote || ' ' || safe_to_promote_reason FROM rig.status},
		connstr => $checker),
	qr/^false the last word from primary "c" .* is older than rig.promote_lease/,
	'(5) by then d no longer says it is safe to promote');
$node_c->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "acked without d"}')});
crash($node_c);
like($node_d->safe_psql('postgres', q{SELECT safe_to_promote || ' ' || safe_to_promote_reason FROM rig.status},
		connstr => $checker),
	qr/^false/, '(5) the primary acknowledged an op without d and died: d does not claim to be safe');

done_testing();
