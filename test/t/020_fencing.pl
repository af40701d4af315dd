
# Copyright (c) 2026, rig developers

# Fencing by epoch (issue 10, item 2).  A promotion is simulated by hand on
# the replica (rig_promote is built elsewhere): role primary, epoch + 1.
# Then the old primary's commit is refused with RG001 by a sync or
# semisync peer (never degraded around), its worker fences it when an
# async peer is in a newer epoch, every later rig_do is refused naming the
# new primary, and the fence survives kill -9 (rig.node.role 'fenced').

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = qq{max_prepared_transactions = 20\nrig.sync_timeout = 3000\n};

sub promote_by_hand
{
	my ($node) = @_;
	$node->safe_psql('postgres',
		q{UPDATE rig.node SET role = 'primary', epoch = epoch + 1, primary_name = NULL});
}

for my $mode (qw(sync semisync async))
{
	my $old = rig_node("old_$mode", conf => $conf);
	my $new = rig_node("new_$mode", conf => $conf);
	$_->safe_psql('postgres', rig_notes_sql()) for ($old, $new);
	$old->safe_psql('postgres',
		"SELECT rig_add_peer('new_$mode', \$\$" . $new->connstr('postgres') . "\$\$, '$mode')");
	$old->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "before"}')});
	$old->safe_psql('postgres', 'SELECT rig_sync_peer(' . "'new_$mode')") if $mode eq 'async';
	is($new->safe_psql('postgres', q{SELECT count(*) FROM notes}), '1', "$mode: the peer has the first op");

	promote_by_hand($new);
	my $log_new = $new->safe_psql('postgres', 'SELECT count(*) FROM rig.log');

	if ($mode ne 'async')
	{
		my $err = rig_psql_error($old, q{SELECT rig_do('note', '{"body": "stale"}')});
		note "$mode: commit on the old primary: $err";
		is(sqlstate_of($err), 'RG001', "$mode: the commit on the old primary fails with RG001");
		like($err, qr/whose primary is "new_$mode"/, "$mode: the refusal names the new primary");
		is($old->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'stale'}), '0',
			"$mode: nothing committed on the old primary (no degrade)");
	}
	else
	{
		# the worker's round reaches the async peer and finds a newer epoch
		rig_set_resolver($old, 100);
		ok($old->poll_query_until('postgres', q{SELECT role = 'fenced' FROM rig.status}),
			'async: the worker fenced the old primary');
	}
	is($new->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), $log_new,
		"$mode: the new primary's log is unchanged");

	my $err = rig_psql_error($old, q{SELECT rig_do('note', '{"body": "after"}')});
	is(sqlstate_of($err), '25006', "$mode: a later rig_do on the old primary: 25006");
	like($err, qr/is fenced/, "$mode: the error says the node is fenced");

	# the worker makes it durable; kill -9 and restart keep it
	rig_set_resolver($old, 100) unless $mode eq 'async';
	ok($old->poll_query_until('postgres',
			qq{SELECT role = 'fenced' AND primary_name = 'new_$mode' FROM rig.node}),
		"$mode: rig.node says fenced, following new_$mode");
	crash($old);
	$old->start;
	$err = rig_psql_error($old, q{SELECT rig_do('note', '{"body": "after restart"}')});
	is(sqlstate_of($err), '25006', "$mode: after kill -9 and restart rig_do is still refused");
	like($err, qr/The new primary is "new_$mode"/, "$mode: the error names the new primary");
	is($old->safe_psql('postgres', 'SELECT role FROM rig.status'), 'fenced', "$mode: rig.status shows fenced");
	$old->stop('immediate');
	$new->stop('immediate');
}

# An op from an older epoch sent to a replica by hand: RG001, nothing changes
my $p = rig_node('p', conf => $conf);
my $r = rig_node('r', conf => $conf);
$_->safe_psql('postgres', rig_notes_sql()) for ($p, $r);
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$" . $r->connstr('postgres') . "\$\$)");
$r->safe_psql('postgres', 'UPDATE rig.node SET epoch = 2');
my $before = $r->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
my $err = rig_psql_error($r,
	q{SELECT rig_apply_remote('p', 1, 1000, 1, 'note', '{"body": "old"}', NULL, now(), 'p')});
is(sqlstate_of($err), 'RG001', 'an op from an older epoch: RG001');
like($err, qr/node "r" is in epoch 2 whose primary is "p"/, 'RG001 names the primary of the epoch');
is($r->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), $before, 'the replica log is unchanged');

done_testing();
