
# Copyright (c) 2026, rig developers

# Trying to break issue 12's lean coordinator (062):
#
#  (1) The final step without a flush on the abort path: east coordinates
#      a transfer whose two branches are both on west; west's first branch
#      votes no, so east decides to abort (flushed) and then records west's
#      "released" (a claim of the refused prepare's key) and "compensated"
#      answers and the final "aborted" without a flush.  A kill -9 with
#      east's WAL writer stopped loses that step; after the restart the
#      abort calls are sent again and the transaction ends aborted again,
#      reason branch 0: each phase key once in west's log, no hold left.
#  (2) West dropped and re-added with another conninfo, at another server
#      named west that lacks xfer.post: a session that confirmed the old
#      west's methods a moment ago is asked again (42883 at once).
#  (3) A session's memory of west's methods, and a COMMIT method
#      unregistered there after the check: the session that remembers
#      starts the transfer; its prepare holds on west (the prepare method
#      is still there) and its commit then raises on west.  The claim
#      (design.md) is that a stale "yes" only makes the branch's prepare
#      fail: aborted, reason branch, nothing moved, no hold.
#  (4) The same with the ABORT method: east's branch votes no, west's
#      prepare holds, and west's release method is gone: claimed to end
#      aborted, reason branch, no hold left.
#  After (4): no transaction failed.
#  (5) Waiters (change 2: woken only by final states and outcomes): seven
#      sessions wait ('20s') on six transactions, committed, aborted by
#      timeout, by a client, by a no vote, and failed (a commit method that
#      raises): each returns the state the table keeps, within moments of
#      the last final state.
#  (6) West's rig dropped and created again (same conninfo), so it has no
#      methods: a session that remembers them starts a transfer that aborts,
#      reason branch, nothing moved; a new session is refused (42883).
#  (7) A coordinator c with a sync peer c2: its final step without a flush,
#      c's WAL writer stopped, kill -9 once c2 shows the final state: c
#      must not come back without it (rig flushes before it commits a peer).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;
use RigTestLib;

my ($east, $west) = rig_xfer_pair(q{
rig.sync_timeout = 2000
log_min_messages = log
autovacuum = off
bgwriter_lru_maxpages = 0
});

sub balance
{
	my ($node, $acct) = @_;
	return $node->safe_psql('postgres', "SELECT balance FROM xfer.accounts WHERE id = $acct");
}

sub keys_once
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT idempotency_key, count(*) n FROM rig.log "
		  . "WHERE idempotency_key LIKE 'rig:%:$id:%' GROUP BY 1) k");
}

my $branch = '{"node": "%s", "prepare": "%s", "commit": "%s", "abort": "%s", '
  . '"data": {"account": %d, "amount": %d}}';

# ---- (1) an aborted transaction's final step is lost in a crash
{
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 1));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(1) a first transfer commits (warm)');

	rig_stop_walwriter($east);
	my $b = '[' . sprintf($branch, 'west', 'xfer.hold', 'xfer.post', 'xfer.release', 4, -5000) . ', '
	  . sprintf($branch, 'west', 'xfer.hold', 'xfer.post', 'xfer.release', 5, 5000) . ']';
	$id = rig_xfer_start($east, $b);
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'aborted',
		'(1) a transfer between two west accounts with too little money aborts (WAL writer stopped)');
	ok($east->poll_query_until('postgres',
			"SELECT state = 'aborted' FROM rig.transactions WHERE id = $id"),
		'(1) its final state is visible on east');
	my ($paused, $state) = rig_xnode_lose_final($east, $id, 'abort');
	ok($paused, '(1) after kill -9 the worker sends the abort calls again');
	is($state, 'aborting',
		'(1) ... because the step that recorded west\'s answers and the final state was lost');
	$east->restart;
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'aborted',
		'(1) the transaction ends aborted again');
	is(rig_xnode_row($east, $id), 'aborted|branch|0', '(1) ... reason branch, west\'s first branch');
	is($east->safe_psql('postgres',
			"SELECT string_agg(event || ':' || branch, ',' ORDER BY branch) FROM rig.transaction_events "
			  . "WHERE id = $id AND event IN ('released', 'compensated')"),
		'released:0,compensated:1', '(1) one abort answer per branch: a claim and a compensation');
	is(keys_once($west, $id), '0', '(1) every phase key is in west\'s log once');
	is($west->safe_psql('postgres',
			"SELECT count(*) FROM xfer.history WHERE transaction = $id AND outcome = 'released'"),
		'1', '(1) west\'s held branch was released once');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(1) no money made or lost, no hold left');
}

# ---- (2) west dropped and re-added with another conninfo: another server named west
{
	my $west2 = rig_node('west2', conf => "rig.node_name = 'west'");
	rig_xfer_setup($west2, { 4 => 1000, 5 => 1000, 6 => 1000 });
	$west2->safe_psql('postgres', q{SELECT rig_unregister('xfer.post')});
	my $s = rig_session($east);
	my ($out, $err) = rig_bg_query($s, 'SELECT rig_transaction_start($b$'
		  . rig_xfer_branches('east', 3, 'west', 6, 1) . '$b$)');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($out, '60s')"), 'committed',
		'(2) a transfer of this session commits (west was asked about its methods)');
	$east->safe_psql('postgres', "SELECT rig_drop_node('west')");
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west2->connstr('postgres') . "\$\$)");
	($out, $err) = rig_bg_query($s, 'SELECT rig_transaction_start($b$'
		  . rig_xfer_branches('east', 3, 'west', 6, 1) . '$b$)');
	is(sqlstate_of($err), '42883', '(2) the same session, to the new west, is told it lacks xfer.post');
	like(message_of($err), qr/method "xfer\.post" is not registered on node "west"/, '(2) ... with its name');
	$east->safe_psql('postgres', "SELECT rig_drop_node('west')");
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	$west2->stop;
	$s->quit;
}

# a session that asks west once, then west loses one of the methods it confirmed
sub stale_method
{
	my ($part, $method, $apply, $from_amount) = @_;
	my $s = rig_session($east);
	my $t0 = Time::HiRes::time();
	my ($out, $err) = rig_bg_query($s, 'SELECT rig_transaction_start($b$'
		  . rig_xfer_branches('east', 2, 'west', 5, 3) . '$b$)');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($out, '60s')"), 'committed',
		"($part) a transfer of this session commits (west was asked about its methods)");
	$west->safe_psql('postgres', "SELECT rig_unregister('$method')");
	my $money = rig_xfer_money($east, $west);

	my $b = '[' . sprintf($branch, 'east', 'xfer.hold', 'xfer.post', 'xfer.release', 2, $from_amount) . ', '
	  . sprintf($branch, 'west', 'xfer.hold', 'xfer.post', 'xfer.release', 5, 7) . ']';
	($out, $err) = rig_bg_query($s, "SELECT rig_transaction_start(\$b\$$b\$b\$)");
	cmp_ok(Time::HiRes::time() - $t0, '<', 10, "($part) (the start came within the session's ten seconds)");
	my $id = $out;
	if ($id =~ /^\d+$/)
	{
		is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'aborted',
			"($part) the session trusting a stale answer: its transaction aborts");
		like(rig_xnode_row($east, $id), qr/^aborted\|branch\|\d$/, "($part) ... reason branch");
		like($east->safe_psql('postgres', "SELECT coalesce(reason_detail, '') FROM rig.transactions WHERE id = $id"),
			qr/\Q$method\E|insufficient/, "($part) ... its detail names the missing method or east's no");
	}
	else
	{
		is(sqlstate_of($err), '42883', "($part) or its start is refused at once");
	}
	is(rig_xfer_money($east, $west), $money, "($part) no money made or lost, no hold left");
	$west->safe_psql('postgres',
		"SELECT rig_register('$method', '$apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)')");
	$s->quit;
	return $id;
}

# ---- (3) a stale "yes" for west's commit method
stale_method(3, 'xfer.post', 'xfer.post_apply', -7);

# ---- (4) a stale "yes" for west's abort method (east's branch votes no)
stale_method(4, 'xfer.release', 'xfer.release_apply', -5000);

is($east->safe_psql('postgres', "SELECT count(*) FROM rig.transactions WHERE state = 'failed'"),
	'0', 'no transaction failed in (1) to (4)');

# ---- (5) many waiters, each transaction ending its own way
{
	$west->safe_psql('postgres', q{
CREATE FUNCTION xfer.broken_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the ledger is closed' USING ERRCODE = 'P0001'; END $$;
SELECT rig_register('xfer.broken', 'xfer.broken_apply(bigint,jsonb)');
});
	my ($sum0, $holds0) = rig_xfer_money($east, $west) =~ /^(\d+) holds (\d+)$/;
	my $locker = rig_session($west);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	my %want;
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 1));
	$want{$id} = 'committed';
	$id = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 5, 1));
	$want{$id} = 'committed';
	$id = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 1), '2s');
	$want{$id} = 'aborted';
	my $timeout_id = $id;
	my $abort_id = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 2), '10min');
	$want{$abort_id} = 'aborted';
	$id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 100000));
	$want{$id} = 'aborted';
	my $b = rig_xfer_branches('east', 2, 'west', 5, 1) =~ s/"commit": "xfer.post", "abort": "xfer.release", "data": \{"account": 5/"commit": "xfer.broken", "abort": "xfer.release", "data": {"account": 5/r;
	my $failed_id = rig_xfer_start($east, $b);
	$want{$failed_id} = 'failed';

	my @waiters;
	for my $w (sort keys %want, (sort keys %want)[0])
	{
		my $s = rig_session($east);
		rig_bg_send($s, "SELECT rig_transaction_wait($w, '20s')");
		push @waiters, [ $w, $s ];
	}
	ok($east->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM rig.transaction_events WHERE id = $abort_id AND event = 'prepared'"),
		"(5) east's branch of the one to abort prepared, west's waits for a lock");
	is($east->safe_psql('postgres', "SELECT rig_transaction_abort($abort_id, 'changed my mind')"),
		'aborting', '(5) a client aborts it');
	ok($east->poll_query_until('postgres',
			"SELECT state = 'aborted' FROM rig.transactions WHERE id = $timeout_id"),
		'(5) the one with a 2 s deadline aborted meanwhile');
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	my $ids = join(',', keys %want);
	ok($east->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM rig.transactions WHERE id IN ($ids) "
			  . "AND state NOT IN ('committed', 'aborted', 'failed')"),
		'(5) every transaction ended');
	my $t_final = Time::HiRes::time();
	ok($east->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE state = 'active' "
			  . "AND query LIKE 'SELECT rig_transaction_wait(%'"),
		'(5) every waiter returned');
	cmp_ok(Time::HiRes::time() - $t_final, '<', 5,
		'(5) ... within moments of the last final state, not at its 20 s timeout');
	for my $w (@waiters)
	{
		my ($out, $err) = rig_bg_result($w->[1]);
		is($out, $want{ $w->[0] }, "(5) the waiter on $w->[0] returned $want{$w->[0]}");
		is($east->safe_psql('postgres', "SELECT state FROM rig.transactions WHERE id = $w->[0]"),
			$want{ $w->[0] }, "(5) ... which the table says too");
		$w->[1]->quit;
	}
	is($east->safe_psql('postgres',
			"SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT idempotency_key, count(*) n FROM rig.log "
			  . "WHERE idempotency_key LIKE 'rig:%' GROUP BY 1) k")
		  . ' ' . $west->safe_psql('postgres',
			"SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT idempotency_key, count(*) n FROM rig.log "
			  . "WHERE idempotency_key LIKE 'rig:%' GROUP BY 1) k"),
		'0 0', '(5) every phase key once on each node');
	is(rig_xfer_money($east, $west), ($sum0 - 1) . ' holds ' . ($holds0 + 1),
		'(5) only the failed one moved money on one side (east posted, west holds)');
}

# ---- (6) west's rig dropped and created again (same conninfo): the memory is stale
{
	my $s = rig_session($east);
	my ($out, $err) = rig_bg_query($s, 'SELECT rig_transaction_start($b$'
		  . rig_xfer_branches('east', 3, 'west', 6, 1) . '$b$)');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($out, '60s')"), 'committed',
		'(6) a transfer of this session commits (west was asked about its methods)');
	$west->safe_psql('postgres', 'SET client_min_messages = warning; DROP EXTENSION rig CASCADE; CREATE EXTENSION rig');
	my $money = rig_xfer_money($east, $west);
	($out, $err) = rig_bg_query($s, 'SELECT rig_transaction_start($b$'
		  . rig_xfer_branches('east', 3, 'west', 6, 1) . '$b$)');
	if ($out =~ /^\d+$/)
	{
		is($east->safe_psql('postgres', "SELECT rig_transaction_wait($out, '60s')"), 'aborted',
			'(6) the session trusting its memory: the transfer aborts');
		is(rig_xnode_row($east, $out), 'aborted|branch|1', '(6) ... reason branch, west\'s branch');
	}
	else
	{
		is(sqlstate_of($err), '42883', '(6) or its start is refused at once');
	}
	is(rig_xfer_money($east, $west), $money, '(6) no money made or lost, no hold left');
	$err = rig_psql_error($east, 'SELECT rig_transaction_start($b$' . rig_xfer_branches('east', 3, 'west', 6, 1) . '$b$)');
	is(sqlstate_of($err), '42883', '(6) a new session is told at once');
	$s->quit;
}

# ---- (7) a coordinator with a sync peer: its final step without a flush
{
	$west->safe_psql('postgres', q{
SELECT rig_register('xfer.hold', 'xfer.hold_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
SELECT rig_register('xfer.post', 'xfer.post_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
SELECT rig_register('xfer.release', 'xfer.release_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)')});
	my $conf = q{
rig.sync_timeout = 2000
autovacuum = off
bgwriter_lru_maxpages = 0
};
	my $c  = rig_node('c',  conf => $conf);
	my $c2 = rig_node('c2', conf => $conf);
	$c->safe_psql('postgres', "SELECT rig_add_peer('c2', \$\$" . $c2->connstr('postgres') . "\$\$, 'sync')");
	$c->safe_psql('postgres', "SELECT rig_add_node('east', \$\$" . $east->connstr('postgres') . "\$\$)");
	$c->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	my $money = rig_xfer_money($east, $west);
	my $id = rig_xfer_start($c, rig_xfer_branches('east', 1, 'west', 4, 1));
	is($c->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(7) a transfer coordinated by c (sync peer c2) commits');
	rig_stop_walwriter($c);
	$id = rig_xfer_start($c, rig_xfer_branches('east', 1, 'west', 4, 2));
	is($c->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(7) another commits with c\'s WAL writer stopped');
	ok($c->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $id"),
		'(7) its final state is visible on c');
	ok($c2->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $id"),
		'(7) ... and on its sync peer c2');
	crash($c, 'all');
	$c->start;
	is($c->safe_psql('postgres', "SELECT state FROM rig.transactions WHERE id = $id"), 'committed',
		'(7) after kill -9, c still has the final state its peer has (flushed before the peer committed)');
	ok($c->poll_query_until('postgres', "SELECT count(*) = 0 FROM rig.transactions WHERE state <> 'committed'"),
		'(7) nothing left to drive on c');
	is($c->safe_psql('postgres', 'SELECT max(version) FROM rig.log'),
		$c2->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), '(7) c and c2 have the same last version');
	is($c->safe_psql('postgres', "SELECT count(*) FROM rig.transaction_events WHERE id = $id"),
		$c2->safe_psql('postgres', "SELECT count(*) FROM rig.transaction_events WHERE id = $id"),
		'(7) ... and the same events of the transaction');
	is(keys_once($east, $id) . keys_once($west, $id), '00', '(7) every phase key once on east and west');
	is(rig_xfer_money($east, $west), $money, '(7) no money made or lost, no hold left');
}

done_testing();
