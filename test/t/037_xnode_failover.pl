
# Copyright (c) 2026, rig developers

# Transactions across nodes survive a coordinator failover (issue 12): the
# coordinator "c" has a sync replica "c2"; the branches run on the shard
# primaries "east" (with a sync peer "east2" of its own) and "west"
# (examples/transfer.sql).  c's worker stops
# after the branches applied their commits but before it recorded them
# (fault point xnode_after_commit); c is killed with -9 and c2 promoted.
# c2's worker resumes the transaction from the replicated state: it sends
# the commits again under the same keys (they name c, the coordinator
# that started it, not c2), the branch nodes apply nothing twice, and the
# transaction ends committed on c2, with the money moved once.
# The branch nodes are added on c only: rig_add_node is an op in c's log,
# so c2 knows them too, without the password of a conninfo (it stays on
# c; rig.log is readable by rig_reader).  rig_transaction_prune on c
# removes the same finished transactions on c2.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
rig.sync_timeout = 2000
};

my $c    = rig_node('c',    conf => $conf);
my $c2   = rig_node('c2',   conf => $conf);
my $east = rig_node('east', conf => $conf);
my $west = rig_node('west', conf => $conf);
my $east2 = rig_node('east2', conf => $conf);
rig_xfer_setup($east, { 1 => 1000, 11 => 1000, 12 => 1000 });
rig_xfer_setup($west, { 2 => 1000, 21 => 1000, 22 => 1000 });
# the shard east has a sync peer of its own: branch ops replicate to it
rig_load_sql($east2, ($ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..") . '/examples/transfer.sql');
$east->safe_psql('postgres',
	"SELECT rig_add_peer('east2', \$\$" . $east2->connstr('postgres') . "\$\$, 'sync')");
$c->safe_psql('postgres',
	"SELECT rig_add_peer('c2', \$\$" . $c2->connstr('postgres') . "\$\$, 'sync')");
# the nodes are added on c only; west's conninfo has a password (trust
# authentication ignores it here)
$c->safe_psql('postgres', "SELECT rig_add_node('east', \$\$" . $east->connstr('postgres') . "\$\$)");
$c->safe_psql('postgres',
	"SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . " password=s3cret-pw\$\$)");
is($c2->safe_psql('postgres', 'SELECT string_agg(name, \',\' ORDER BY name) FROM rig.remote_nodes'),
	'east,west', 'the replica knows the nodes added on its primary (their ops replicate)');
like($c->safe_psql('postgres', "SELECT conninfo FROM rig.remote_nodes WHERE name = 'west'"),
	qr/password=s3cret-pw/, "c keeps west's conninfo with its password");
unlike($c2->safe_psql('postgres', "SELECT conninfo FROM rig.remote_nodes WHERE name = 'west'"),
	qr/s3cret/, '... which the replica does not get');
is($c->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE data::text LIKE '%s3cret%'")
	  . $c2->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE data::text LIKE '%s3cret%'"),
	'00', 'no log holds the password');
is(sqlstate_of(rig_psql_error($c2, "SELECT rig_add_node('north', 'dbname=postgres')")), '25006',
	'rig_add_node on the replica is refused (nodes are added on the primary)');

# one transfer that commits normally, replicated to c2
my $first = rig_xfer_start($c, rig_xfer_branches('east', 1, 'west', 2, 10));
is($c->safe_psql('postgres', "SELECT rig_transaction_wait($first, '60s')"), 'committed',
	'a transfer coordinated by c commits');
ok($c2->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $first"),
	'c2 holds its state too');

# pruning on c removes it on c2 too (one op)
is($c->safe_psql('postgres', "SELECT rig_transaction_prune('0s')"), '1', 'c prunes the finished transaction');
ok($c2->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM rig.transactions WHERE id = $first) "
		. "AND NOT EXISTS (SELECT 1 FROM rig.transaction_events WHERE id = $first)"),
	'... and c2 no longer has it or its events');

# the second stops after the commits reached the branches
$c->append_conf('postgresql.conf', "rig.fault_point = 'xnode_after_commit'");
$c->restart;
my $offset = -s $c->logfile;
my $id = rig_xfer_start($c, rig_xfer_branches('east', 1, 'west', 2, 25), undef, 'failover-1');
ok($c->wait_for_log(qr/rig: paused at fault point "xnode_after_commit"/, $offset),
	"c's worker paused after the commits");
is($east->safe_psql('postgres', "SELECT count(*) FROM xfer.history WHERE transaction = $id")
	  . $west->safe_psql('postgres', "SELECT count(*) FROM xfer.history WHERE transaction = $id"),
	'11', 'both branches committed already');
is($c2->safe_psql('postgres', "SELECT state FROM rig.transactions WHERE id = $id"), 'committing',
	'c2 knows the decision: committing');
crash($c, 'all');

my $epoch = $c2->safe_psql('postgres', 'SELECT rig_promote()');
is($epoch, '2', 'c2 promoted');
is($c2->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
	"c2's worker finishes the transaction: committed");
is($c2->safe_psql('postgres', "SELECT rig_transaction_start(\$b\$"
		. rig_xfer_branches('east', 1, 'west', 2, 25) . "\$b\$, NULL, 'failover-1')"),
	$id, "the client's key names the same transaction on c2");
for my $node ($east, $west)
{
	is($node->safe_psql('postgres',
			"SELECT count(*) || ' ' || count(DISTINCT idempotency_key) FROM rig.log "
			. "WHERE idempotency_key LIKE 'rig:%:$id:%'"),
		'2 2', $node->name . ': its prepare and commit ops, each once');
	is($node->safe_psql('postgres', "SELECT count(*) FROM xfer.history WHERE transaction = $id"),
		'1', $node->name . ': posted once');
}
is($east->safe_psql('postgres', 'SELECT balance FROM xfer.accounts WHERE id = 1') . ' '
	  . $west->safe_psql('postgres', 'SELECT balance FROM xfer.accounts WHERE id = 2'),
	'965 1035', 'the money moved once for each transfer');

# c2 coordinates new transactions too
my $next = rig_xfer_start($c2, rig_xfer_branches('west', 2, 'east', 1, 5));
is($c2->safe_psql('postgres', "SELECT rig_transaction_wait($next, '60s')"), 'committed',
	'the promoted node coordinates a new transfer');
is($east->safe_psql('postgres', 'SELECT count(*) FROM xfer.holds')
	  . $west->safe_psql('postgres', 'SELECT count(*) FROM xfer.holds'),
	'00', 'no hold is left');
like($c2->safe_psql('postgres',
		"SELECT string_agg(event || coalesce(':' || branch, ''), ' ' ORDER BY seq) FROM rig.transaction_events WHERE id = $id"),
	qr/committing committed:\d committed:\d committed$/, "c2's history of it ends with both commits and committed");

# 8 clients through c2, between east (with its sync peer) and west
{
	my ($out, $err) = ('', '');
	my $h = rig_xfer_pgbench($c2, \$out, \$err, 'east', '11, 12', 'west', '21, 22', 700, 8, 10);
	ok($h->finish, '8 clients ran 80 transfers through the promoted coordinator') or diag $err;
	is($c2->safe_psql('postgres',
			"SELECT count(*) FROM rig.transactions WHERE state NOT IN ('committed', 'aborted')"),
		'0', 'all of them final');
	is($c2->safe_psql('postgres', "SELECT count(*) > 0 FROM rig.transactions WHERE state = 'committed' AND id > $id"),
		't', 'some committed');
	is(rig_xfer_money($east, $west), '6000 holds 0', 'the total across the shards is unchanged, no hold left');
}

# east's sync peer holds the same log and accounts
is($east->safe_psql('postgres', "SELECT count(*) FROM rig_verify_peer('east2')"), '0',
	"east's sync peer east2 has the same log (rig_verify_peer)");
my $balances = q{SELECT string_agg(id || ':' || balance, ' ' ORDER BY id) FROM xfer.accounts};
is($east2->safe_psql('postgres', $balances), $east->safe_psql('postgres', $balances),
	'... and the same balances');

done_testing();
