
# Copyright (c) 2026, rig developers

# What the coordinator of transactions across nodes leaves off the client's
# path (issue 12), and why each is safe:
#
#  (1) The step that records only the other nodes' answers of a decided
#      phase and the final state commits without waiting for its WAL
#      flush.  With east's WAL writer stopped, a kill -9 right after the
#      final state became visible loses that step: after the restart the
#      transaction is "committing" again (the worker pauses at
#      xnode_before_commit, proof that it was lost); after a restart the
#      commit call is sent again, west's key answers it from the first time, and the
#      transaction ends committed: posted once on each side.
#  (2) A session remembers for a while that another node has a method: a
#      method unregistered there after a start that checked it makes the
#      next start of that session abort with reason branch (its prepare
#      cannot run); a new session is told at once, and the session that
#      remembered asks again after at most ten seconds.

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

# ---- (1) the final state's step is lost in a crash, and found again
{
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(1) a first transfer commits (the session and the worker are warm)');

	rig_stop_walwriter($east);
	$id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 7));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(1) the transfer commits with east\'s WAL writer stopped');
	ok($east->poll_query_until('postgres',
			"SELECT state = 'committed' FROM rig.transactions WHERE id = $id"),
		'(1) its final state is visible on east');
	my ($paused, $state) = rig_xnode_lose_final($east, $id, 'commit');
	ok($paused, '(1) after kill -9 the worker sends the commit calls again');
	is($state, 'committing',
		'(1) ... because the step that recorded west\'s answer and the final state was not flushed');
	is($east->safe_psql('postgres',
			"SELECT count(*) FROM rig.transaction_events WHERE id = $id AND event = 'committed' AND branch = 0"),
		'1', '(1) east\'s own commit, recorded with the decision, was durable');
	$east->restart;
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		'(1) the transaction ends committed again');
	for my $node ($east, $west)
	{
		is($node->safe_psql('postgres',
				"SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT idempotency_key, count(*) n FROM rig.log "
				. "WHERE idempotency_key LIKE 'rig:%:$id:%' GROUP BY 1) k"),
			'0', '(1) every phase key is in ' . $node->name . "'s log once");
		is($node->safe_psql('postgres', "SELECT count(*) FROM xfer.history WHERE transaction = $id"),
			'1', '(1) ' . $node->name . "'s branch was posted once");
	}
	is(balance($east, 1) . ' ' . balance($west, 4), '983 1017', '(1) the money moved once');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(1) no money made or lost, no hold left');
}

# ---- (2) a session's memory of the other node's methods
{
	$west->safe_psql('postgres', q{
SELECT rig_register('xfer.hold2', 'xfer.hold_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)')});
	(my $branches2 = rig_xfer_branches('east', 2, 'west', 5, 3)) =~ s/"node": "west", "prepare": "xfer.hold"/"node": "west", "prepare": "xfer.hold2"/;
	my $s = rig_session($east);
	my $t0 = Time::HiRes::time();
	my ($out, $err) = rig_bg_query($s, "SELECT rig_transaction_start(\$b\$$branches2\$b\$)");
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($out, '60s')"), 'committed',
		'(2) a start whose west prepare is xfer.hold2 commits (west was asked)');

	$west->safe_psql('postgres', q{SELECT rig_unregister('xfer.hold2')});
	my $start = "SELECT rig_transaction_start(\$b\$$branches2\$b\$)";
	$err = rig_psql_error($east, $start);
	is(sqlstate_of($err), '42883', '(2) a new session is told at once that west lacks the method');
	like(message_of($err), qr/method "xfer\.hold2" is not registered on node "west"/, '(2) ... with its name');

	($out, $err) = rig_bg_query($s, $start);
	like($out, qr/^\d+$/, '(2) the session that asked before starts it, trusting the answer it had');
	my $id = $out;
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'aborted',
		'(2) ... and the transaction aborts');
	like(rig_xnode_row($east, $id), qr/^aborted\|branch\|1$/, '(2) ... reason branch, west\'s branch');
	like($east->safe_psql('postgres', "SELECT reason_detail FROM rig.transactions WHERE id = $id"),
		qr/xfer\.hold2/, '(2) ... with west\'s error naming the method');

	# the session asks west again once its memory is ten seconds old
	my $refused = 0;
	my $started = 1;
	my $elapsed;
	while (Time::HiRes::time() - $t0 < 60)
	{
		($out, $err) = rig_bg_query($s, $start);
		if ($err =~ /method "xfer\.hold2" is not registered on node "west"/)
		{
			$elapsed = Time::HiRes::time() - $t0;
			$refused = 1;
			last;
		}
		$started++;
		Time::HiRes::usleep(500_000);
	}
	ok($refused, '(2) the session asks west again and is told');
	cmp_ok($elapsed // 0, '>=', 10, '(2) ... not before its memory is ten seconds old');
	cmp_ok($elapsed // 99, '<=', 30, '(2) ... and not much later');
	ok($east->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM rig.transactions WHERE state NOT IN ('committed', 'aborted')"),
		'(2) every transaction it started meanwhile ended');
	is($east->safe_psql('postgres',
			"SELECT count(*) FROM rig.transactions WHERE state = 'aborted' AND reason = 'branch'"),
		$started, "(2) each of the $started it started meanwhile aborted, reason branch");
	is(rig_xfer_money($east, $west), '6000 holds 0', '(2) no money made or lost, no hold left');
	$s->quit;
}

done_testing();
