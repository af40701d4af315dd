
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
#  (4) Prepare timeout: a prepare that waits for a lock -> aborted, reason
#      timeout; west stopped -> aborting, reason timeout, aborted once west
#      is back (its abort is retried while it is down).
#  (5) Client abort while preparing (west's prepare waits) -> aborted, reason client.
#  (6) "too late to abort" once committing; kill -9 of the coordinator at
#      each phase boundary (fault points xnode_after_prepare,
#      xnode_before_commit, xnode_after_commit, xnode_after_abort): after
#      the restart the worker finishes each transaction, and the branch
#      nodes' idempotency keys show no phase applied twice.
#  (7) A branch node killed with -9 during the commit phase: retried until
#      it is back, then committed.
#  (8) A commit phase that raises -> failed, with the branch's error; the
#      operator posts west's hold by hand and settles it with
#      rig_transaction_resolve: committed, the event in the history.
#  (9) 8 concurrent clients: every transaction final, money conserved, no
#      hold left, every committed one posted on both shards, no other.
# (10) A branch node that is slow (a prepare waiting for a lock) delays a
#      transaction that does not use it by at most rig.sync_timeout or so.
# (11) The branch node west killed with -9 during its prepare, between its
#      vote and the coordinator's decision, during its commit and during
#      its abort (the phase waits on an advisory lock in a wrapper method,
#      or the worker pauses at xnode_after_prepare): every transaction
#      final, each phase key once in west's log, posted or released once,
#      the money whole.

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
	my $w = $east->safe_psql('postgres',
		"SELECT rig_transaction_start(\$b\$" . rig_xfer_branches('west', 4, 'east', 1, 5) . "\$b\$)",
		connstr => $east->connstr('postgres') . ' user=xn_writer');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($w, '60s')",
			connstr => $east->connstr('postgres') . ' user=xn_writer'),
		'committed', 'a rig_writer starts a transfer (the node conninfo is read for it) and waits for it');
	$w = $east->safe_psql('postgres',
		"SELECT rig_transaction_start(\$b\$" . rig_xfer_branches('east', 1, 'west', 4, 5) . "\$b\$)");
	is(wait_final($w), 'committed', '... and the money goes back');
}

# ---- (3) insufficient funds: the payer votes no
{
	my $id = rig_xfer_start($east, rig_xfer_branches('west', 5, 'east', 2, 5000));
	is(wait_final($id), 'aborted', 'a transfer beyond the balance aborts');
	is(rig_xnode_row($east, $id), 'aborted|branch|0', '... with reason branch, naming branch 0');
	like($east->safe_psql('postgres', "SELECT reason_detail FROM rig.transactions WHERE id = $id"),
		qr/insufficient funds in account 5/, "... and the branch's error");
	is($east->safe_psql('postgres',
			"SELECT string_agg(event || ':' || branch, ' ' ORDER BY branch) FROM rig.transaction_events "
			. "WHERE id = $id AND branch IS NOT NULL AND event IN ('compensated', 'released')"),
		'released:0 compensated:1',
		"the payer's abort claimed its prepare key (nothing to compensate), the payee's hold was released");
	is($east->safe_psql('postgres', "SELECT outcome || ' ' || amount FROM xfer.history WHERE transaction = $id"),
		'released 5000', "east's history: the payee's hold released");
	is($west->safe_psql('postgres',
			"SELECT method FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$id:0:prepare'"),
		'rig.transaction.claim', "west: the payer's prepare key is claimed");
	is(balance($east, 2) . ' ' . balance($west, 5), '1000 1000', 'no balance changed');
	money_ok('insufficient funds');
	my $err = rig_psql_error($west,
		"SELECT rig_do('xfer.hold', '{\"account\": 5, \"amount\": -1, \"transaction\": $id, \"branch\": 0}', "
		. "(SELECT idempotency_key FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$id:0:prepare'))");
	like(message_of($err), qr/was already used for another operation/,
		'a late prepare with the claimed key cannot take effect');
}

# ---- (4) prepare timeout: a prepare that waits, then a branch node stopped
{
	# west's prepare waits for a lock on account 6 (rig.sync_timeout ends
	# each try there; the transient error is retried until the deadline)
	my $locker = rig_session($west);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 10), '1s');
	is(wait_final($id), 'aborted', 'a prepare that waits past the deadline: aborted');
	is(rig_xnode_row($east, $id), 'aborted|timeout|', '... reason timeout');
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	money_ok('prepare waits');

	# west stopped while the coordinator is paused before the prepares
	$east->append_conf('postgresql.conf', "rig.fault_point = 'xnode_before_prepare'");
	$east->restart;
	my $offset = -s $east->logfile;
	$id = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 10), '2s');
	ok($east->wait_for_log(qr/rig: paused at fault point "xnode_before_prepare"/, $offset),
		'node stopped: the coordinator paused before the prepares');
	$west->stop('immediate');
	$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	crash($east, 'all');
	$east->start;
	ok($east->poll_query_until('postgres',
			"SELECT state = 'aborting' AND reason = 'timeout' FROM rig.transactions WHERE id = $id"),
		'with west down the transfer times out: aborting, reason timeout');
	my $err = rig_psql_error($east, "SELECT rig_drop_node('west')");
	is(sqlstate_of($err), '55006', 'west cannot be dropped while a transaction has a branch there');
	like(message_of($err), qr/node "west" has a branch of unfinished transaction $id/, '... naming it');
	$west->start;
	is(wait_final($id), 'aborted', 'once west is back its abort is retried: aborted');
	is(rig_xnode_row($east, $id), 'aborted|timeout|', '... reason timeout');
	money_ok('node stopped');
}

# ---- (5) client abort while preparing (west's prepare waits for a lock)
{
	my $locker = rig_session($west);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 10), '10min');
	ok($east->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM rig.transaction_events WHERE id = $id AND event = 'prepared'"),
		"client abort: east's branch prepared, west's cannot answer");
	is($east->safe_psql('postgres', "SELECT rig_transaction_abort($id, 'changed my mind')",
			connstr => $east->connstr('postgres') . ' user=xn_writer'),
		'aborting', 'a rig_writer aborts it while it prepares: aborting');
	like($east->safe_psql('postgres', "SELECT rig_transaction_abort($id)"), qr/^abort(ing|ed)$/,
		'aborting it again says aborting (or aborted)');
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	is(wait_final($id), 'aborted', 'aborted once west answers');
	is($east->safe_psql('postgres',
			"SELECT state || '|' || reason || '|' || reason_detail FROM rig.transactions WHERE id = $id"),
		'aborted|client|changed my mind', "reason client, with the client's words");
	money_ok('client abort');
}

# ---- (6) kill -9 of the coordinator between phases
my $n6 = 0;
for my $point (qw(xnode_after_prepare xnode_before_commit xnode_after_commit xnode_after_abort))
{
	$n6++;
	$east->append_conf('postgresql.conf', "rig.fault_point = '$point'");
	$east->restart;
	my $offset = -s $east->logfile;
	my $abort = $point eq 'xnode_after_abort';
	my $id = rig_xfer_start($east,
		rig_xfer_branches('east', 1, 'west', 4, $abort ? 100000 : 7), undef, "crash-$n6");
	ok($east->wait_for_log(qr/rig: paused at fault point "$point"/, $offset),
		"$point: the coordinator's worker paused there");
	if ($point eq 'xnode_before_commit' || $point eq 'xnode_after_commit')
	{
		my $err = rig_psql_error($east, "SELECT rig_transaction_abort($id)");
		is(sqlstate_of($err), '55000', "$point: abort once committing fails with 55000");
		like(message_of($err), qr/transaction $id is committing: too late to abort/, '... too late to abort');
	}
	$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	crash($east, 'all');
	$east->start;
	is(wait_final($id), $abort ? 'aborted' : 'committed', "$point: after kill -9 the transaction finishes");
	is($east->safe_psql('postgres', "SELECT rig_transaction_start(\$b\$"
			. rig_xfer_branches('east', 1, 'west', 4, $abort ? 100000 : 7) . "\$b\$, NULL, 'crash-$n6')"),
		$id, "$point: its key still names it");
	# every phase applied once on each branch node
	for my $node ($east, $west)
	{
		is($node->safe_psql('postgres',
				"SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT idempotency_key, count(*) n FROM rig.log "
				. "WHERE idempotency_key LIKE 'rig:%:$id:%' GROUP BY 1) k"),
			'0', "$point: every phase key is in " . $node->name . "'s log once");
		is($node->safe_psql('postgres',
				"SELECT count(*) FROM xfer.history WHERE transaction = $id"),
			$abort ? ($node == $west ? '1' : '0') : '1',
			"$point: " . $node->name . "'s branch was " . ($abort ? 'released at most' : 'posted') . ' once');
	}
	money_ok($point);
}
is(balance($east, 1), 940 - 21, 'the three committed transfers moved the money once each');

# ---- (7) a branch node killed during the commit phase
{
	$east->append_conf('postgresql.conf', "rig.fault_point = 'xnode_before_commit'");
	$east->restart;
	my $offset = -s $east->logfile;
	my $id = rig_xfer_start($east, rig_xfer_branches('west', 4, 'east', 1, 11));
	ok($east->wait_for_log(qr/rig: paused at fault point "xnode_before_commit"/, $offset),
		'branch crash: the coordinator decided to commit');
	crash($west, 'all');
	$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	crash($east, 'all');
	$east->start;
	ok($east->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM rig.transaction_events WHERE id = $id AND event = 'committed' AND branch = 1"),
		"with west down, east's branch commits");
	is($east->safe_psql('postgres', "SELECT state FROM rig.transactions WHERE id = $id"), 'committing',
		'the transaction stays committing while west is down');
	$west->start;
	is(wait_final($id), 'committed', 'once west is back its commit is retried: committed');
	is(balance($west, 4) . ' ' . balance($east, 1), (1060 + 21 - 11) . ' ' . (940 - 21 + 11),
		'posted on both shards');
	money_ok('branch crash');
}

# ---- (8) a commit phase that raises
{
	$west->safe_psql('postgres', q{
CREATE FUNCTION xfer.broken_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the ledger is closed' USING ERRCODE = 'P0001'; END $$;
SELECT rig_register('xfer.broken', 'xfer.broken_apply(bigint,jsonb)');
});
	my $b = rig_xfer_branches('east', 2, 'west', 5, 1) =~ s/"commit": "xfer.post", "abort": "xfer.release", "data": \{"account": 5/"commit": "xfer.broken", "abort": "xfer.release", "data": {"account": 5/r;
	my $id = rig_xfer_start($east, $b);
	is(wait_final($id), 'failed', 'a commit phase that raises: failed');
	is(rig_xnode_row($east, $id), 'failed|branch|1', '... naming the branch');
	like($east->safe_psql('postgres', "SELECT reason_detail FROM rig.transactions WHERE id = $id"),
		qr/the ledger is closed/, "... with the branch's error");
	is($west->safe_psql('postgres', "SELECT count(*) FROM xfer.holds"), '1',
		"west's hold stays for manual remediation");
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '1s')"), 'failed',
		'failed is final: rig_transaction_wait returns it');
	# the operator posts west's hold by hand, then settles the transaction
	$west->safe_psql('postgres',
		"SELECT rig_do('xfer.post', '{\"account\": 5, \"transaction\": $id, \"branch\": 1}')");
	my $err = rig_psql_error($east, "SELECT rig_transaction_resolve($id, 'committed', 'x')", 'xn_writer');
	is(sqlstate_of($err), '42501', 'a rig_writer may not resolve a transaction');
	is($east->safe_psql('postgres',
			"SELECT rig_transaction_resolve($id, 'committed', 'posted west''s hold by hand')"),
		'committed', 'rig_transaction_resolve settles it: committed');
	is(rig_xnode_row($east, $id), 'committed|branch|1', "its state, the failure's reason kept");
	like($east->safe_psql('postgres',
			"SELECT event || ': ' || detail FROM rig.transaction_events WHERE id = $id ORDER BY seq DESC LIMIT 1"),
		qr/^resolved: committed by \w+: posted west's hold by hand$/, 'the history ends with the settlement and its note');
	is($east->safe_psql('postgres',
			"SELECT count(*) FROM rig.log WHERE method = 'rig.transaction.event' AND data->>'event' = 'resolved' "
			. "AND (data->>'transaction')::bigint = $id"),
		'1', "the settlement is an op in the coordinator's log (its peers get it)");
	$err = rig_psql_error($east, "SELECT rig_transaction_resolve($id, 'aborted', 'again')");
	is(sqlstate_of($err), '55000', 'a settled transaction cannot be settled again');
	money_ok('failed, then resolved');
}

# ---- (9) concurrent clients
{
	my $mark = $east->safe_psql('postgres', 'SELECT rig_last_version()');
	my ($out, $err) = ('', '');
	my $h = rig_xfer_pgbench($east, \$out, \$err, 'east', '1, 3', 'west', '4, 6', 700, 8, 15);
	ok($h->finish, '8 clients ran 120 transfers across the shards') or diag $err;
	my $sql = "SELECT count(*) FILTER (WHERE state = 'committed') > 0, count(*) FILTER (WHERE state = 'aborted') > 0, "
	  . "count(*) FILTER (WHERE state NOT IN ('committed', 'aborted')) FROM rig.transactions WHERE id > $mark";
	is($east->safe_psql('postgres', $sql), 't|t|0', 'all of them final, some committed, some aborted (insufficient funds)');
	money_ok('concurrent clients');
	my $committed = $east->safe_psql('postgres',
		"SELECT string_agg(id::text, ',' ORDER BY id) FROM rig.transactions WHERE id > $mark AND state = 'committed'");
	for my $node ($east, $west)
	{
		is($node->safe_psql('postgres',
				"SELECT string_agg(transaction::text, ',' ORDER BY transaction) FROM xfer.history "
				. "WHERE transaction > $mark AND outcome = 'posted'"),
			$committed, 'every committed transfer was posted on ' . $node->name . ', no other');
	}
	is($east->safe_psql('postgres',
			"SELECT count(*) FROM rig.transactions t WHERE id > $mark AND state = 'aborted' AND reason <> 'branch'"),
		'0', 'every abort was a branch voting no');
}

# ---- (10) a slow branch node delays the others by at most its timeout
{
	my $locker = rig_session($west);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	my $slow = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 1), '1min');
	ok($east->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM rig.transaction_events WHERE id = $slow AND event = 'prepared'"),
		"slow node: east's branch prepared, west's waits for a lock");
	my $t0 = time;
	my $fast = rig_xfer_start($east, rig_xfer_branches('east', 1, 'east', 2, 1));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($fast, '30s')"), 'committed',
		'a transfer between two accounts of east commits meanwhile');
	cmp_ok(time - $t0, '<', 6, '... within 3 x rig.sync_timeout');
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	is(wait_final($slow), 'committed', 'the slow one commits once west answers');
	money_ok('slow node');
}

# ---- (11) the branch node west killed at each phase
{
	# accounts of their own: part 9's random transfers may have drained the others
	$east->safe_psql('postgres', q{SELECT rig_do('xfer.open', '{"account": 7, "balance": 1000}')});
	$west->safe_psql('postgres', q{SELECT rig_do('xfer.open', '{"account": 8, "balance": 1000}')});
	$total += 2000;
	# wrappers of west's methods that wait for an advisory lock first
	$west->safe_psql('postgres', join('', map { qq{
CREATE FUNCTION xfer.gated_${_}_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS \$\$ BEGIN PERFORM pg_advisory_xact_lock(4242); PERFORM xfer.${_}_apply(v, d); END \$\$;
SELECT rig_register('xfer.gated_$_', 'xfer.gated_${_}_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
} } qw(hold post release)));
	my %gate = (prepare => 'hold', commit => 'post', abort => 'release');
	my $n = 0;
	for my $when (qw(prepare vote commit abort))
	{
		$n++;
		my $abort = $when eq 'abort';
		# west is the payee; for the abort, east's payer votes no
		my $b = rig_xfer_branches('east', 7, 'west', 8, $abort ? 100000 : 3);
		my $locker;
		if ($when eq 'vote')
		{
			$east->adjust_conf('postgresql.conf', 'rig.fault_point', "'xnode_after_prepare'");
			$east->reload;
		}
		else
		{
			my $p = $gate{$when};
			$b =~ s/("node": "west", .*?)"$when": "xfer\.$p"/$1"$when": "xfer.gated_$p"/;
			$locker = rig_session($west);
			$locker->query_safe('SELECT pg_advisory_lock(4242)');
		}
		my $offset = -s $east->logfile;
		my $id = rig_xfer_start($east, $b, '2min');
		if ($when eq 'vote')
		{
			ok($east->wait_for_log(qr/rig: paused at fault point "xnode_after_prepare"/, $offset),
				"west killed after its vote: the coordinator's worker has the votes, not yet recorded");
		}
		else
		{
			ok($west->poll_query_until('postgres',
					"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'advisory' AND query LIKE '%rig_do%'"),
				"west killed during its $when: the $when waits on west");
		}
		crash($west, 'all');
		if ($when eq 'vote')
		{
			# the paused worker is ended (it restarts without the fault point)
			$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
			$east->reload;
			$east->safe_psql('postgres', 'SELECT pg_terminate_backend(worker_pid) FROM rig.status');
		}
		else
		{
			eval { $locker->quit };
		}
		$west->start;
		is(wait_final($id), $abort ? 'aborted' : 'committed', "west killed during its $when: $id ends "
			  . ($abort ? 'aborted' : 'committed'));
		is($west->safe_psql('postgres',
				"SELECT count(*) FILTER (WHERE n <> 1) || ' ' || count(*) FROM (SELECT idempotency_key, count(*) n "
				. "FROM rig.log WHERE idempotency_key LIKE 'rig:%:$id:%' GROUP BY 1) k"),
			'0 2', "west killed during its $when: two phase keys in west's log, each once");
		is($west->safe_psql('postgres',
				"SELECT string_agg(outcome, ',') FROM xfer.history WHERE transaction = $id"),
			$abort ? 'released' : 'posted', "west killed during its $when: west's branch "
			  . ($abort ? 'released' : 'posted') . ' once');
		money_ok("west killed during its $when");
	}
}

# ---- (12) the client learns the outcome once every branch applied it,
# before the coordinator has recorded it: the transaction's row is held
# (FOR UPDATE) so the final event cannot be written, yet
# rig_transaction_wait() answers committed
{
	$east->append_conf('postgresql.conf', "rig.fault_point = 'xnode_before_commit'");
	$east->restart;
	my $offset = -s $east->logfile;
	my $before = balance($west, 5);
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 5, 3));
	ok($east->wait_for_log(qr/rig: paused at fault point "xnode_before_commit"/, $offset),
		'outcome: the coordinator decided to commit');
	is($east->safe_psql('postgres',
			"SELECT string_agg(event || coalesce(':' || branch, ''), ' ' ORDER BY seq) FROM rig.transaction_events "
			. "WHERE id = $id AND event IN ('committing', 'committed')"),
		'committing committed:0', "east's own branch committed with the decision");
	my $locker = rig_session($east);
	$locker->query_safe("BEGIN; SELECT state FROM rig.transactions WHERE id = $id FOR UPDATE;");
	# the paused worker is ended (it restarts without the fault point)
	$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	$east->reload;
	$east->safe_psql('postgres', 'SELECT pg_terminate_backend(worker_pid) FROM rig.status');
	is(wait_final($id), 'committed', 'rig_transaction_wait says committed once both branches posted');
	is($locker->query_safe("SELECT state FROM rig.transactions WHERE id = $id"), 'committing',
		'... while the coordinator cannot record it yet');
	is(balance($west, 5), $before + 3, "... and west's branch is posted");
	$locker->query_safe('COMMIT');
	$locker->quit;
	ok($east->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $id"),
		'the final state is recorded once the row is free');
	money_ok('outcome before its record');
}

done_testing();
