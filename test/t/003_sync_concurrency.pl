
# Copyright (c) 2026, rig developers

# Concurrent writers on a primary with one sync peer.  pgbench clients run
# transfers between a few accounts (so they overlap all the time) through a
# handler that reads both balances before it writes them and clamps the
# amount to what the payer holds, keeping a history row per transfer.  The
# result of such a handler depends on the order of conflicting ops, so the
# replica only ends up identical if it applies them in the primary's order.
# Afterwards both nodes hold the same rig.log and tables, money is
# conserved on both, nothing is left prepared, and every transaction
# pgbench counted as committed is in the log exactly once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 6;
my $initial   = 1000;
my $clients   = 8;
my $per_client = 300;    # transactions per pgbench client

my $conf = q{
max_prepared_transactions = 20
max_connections = 30
rig.sync_timeout = 10000
};

###########################################################################
# The application: the bank of RigTestLib, and one more method
###########################################################################

# An op that takes its time on one node (in rig_apply_remote, so while the
# primary's commit holds the commit gate) and changes nothing but a version.
my $pause_sql = q{
CREATE FUNCTION pause_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'id')] $$;
CREATE FUNCTION pause_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('rig.node_name') = d->>'sleep_on' THEN
		PERFORM pg_sleep((d->>'seconds')::float8);
	END IF;
	UPDATE accounts SET last_version = v WHERE id = (d->>'id')::int;
END $$;

SELECT rig_register('pause', 'pause_apply(bigint,jsonb)', NULL, 'pause_resources(jsonb)');
};

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
rig_bank_setup($_, more => $pause_sql) for ($node_a, $node_b);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");
rig_bank_open($node_a, $naccounts, $initial);
is($node_b->safe_psql('postgres', 'SELECT count(*), sum(balance) FROM accounts'),
	"$naccounts|" . ($naccounts * $initial), 'accounts opened on the replica');

###########################################################################
# The load
###########################################################################

my $dir = PostgreSQL::Test::Utils::tempdir;

# from and to are different accounts; amounts often exceed the balance
my $scripts = rig_bank_scripts($dir,
	naccounts  => $naccounts,
	max_amount => 700,
	distinct   => 1);

# Transfer ops pgbench committed but did not attribute to a script
my $slack = 0;

# Run the load; returns the number of transfer ops it committed.
sub run_load
{
	my ($label, $pgoptions, $during) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGOPTIONS} = $pgoptions;
	my $t0 = time;
	my $h = rig_pgbench(
		$node_a, \$out, \$err,
		'-c', $clients, '-j', '2', '-t', $per_client,
		'-f', "$scripts->{single}\@6", '-f', "$scripts->{pair}\@3",
		'-f', "$scripts->{rollback}\@1");
	$during->($h) if $during;
	my $ok = $h->finish;
	my $elapsed = time - $t0;
	note "$label: pgbench ran ~${elapsed}s; output:\n$out";
	note "$label: pgbench stderr:\n$err" if $err ne '';

	ok($ok, "$label: pgbench exited successfully (no client aborted)");
	unlike($err, qr/aborted|ERROR|deadlock/i, "$label: pgbench reported no error");
	like($out, qr/number of failed transactions: 0 /, "$label: no failed transaction");
	my $total = $clients * $per_client;
	like($out, qr/number of transactions actually processed: $total\//,
		"$label: all $total transactions processed");

	my %count;
	while ($out =~
		/SQL script \d+: \S+\/(\w+)\.sql\n\s+- weight: \d+ \(targets [\d.]+% of total\)\n\s+- (\d+) transactions/g
	  )
	{
		$count{$1} = $2;
	}
	note "$label: per script: " . join(', ', map { "$_=$count{$_}" } sort keys %count);
	is(scalar(keys %count), 3, "$label: pgbench reported the three scripts");

	# pgbench 15 sometimes leaves a transaction out of its per-script
	# counts (they add up to one less than it processed): such a one may
	# have been a pair, two ops
	my $unattributed = $total - (($count{single} // 0) + ($count{pair} // 0) + ($count{rollback} // 0));
	note "$label: $unattributed transaction(s) missing from pgbench's per-script counts"
	  if $unattributed;
	$slack += 2 * $unattributed;
	return ($count{single} // 0) + 2 * ($count{pair} // 0);
}

my @peers = ($node_b);

# All nodes identical and consistent after $ops transfers in all.
sub check_nodes
{
	my ($label, $ops) = @_;
	for my $node ($node_a, @peers)
	{
		my $n = $node->name;
		{

			my $logged = $node->safe_psql('postgres',
				q{SELECT count(*) FROM rig.log WHERE method = 'transfer'});
			ok($logged >= $ops && $logged <= $ops + $slack,
				"$label, $n: every committed transfer is in the log once")
			  or diag("$logged transfers logged; pgbench committed $ops (and up to $slack more it did not attribute)");
		}
		rig_bank_total_ok($node, $naccounts * $initial, "$label, $n: total balance unchanged");
		rig_bank_history_ok($node, "$label, $n: every logged transfer has its history row");
		is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
			'0', "$label, $n: no prepared transaction left");
		# The history is consistent with a serial execution in version
		# order: each transfer saw the balances the previous transfer of the
		# same account left.
		is( $node->safe_psql(
				'postgres', q{
WITH moves AS (
	SELECT version, from_id AS acct, from_before AS before, -moved AS delta FROM history
	UNION ALL
	SELECT version, to_id, to_before, moved FROM history
), chained AS (
	SELECT acct, version, before, delta,
		   lag(before + delta) OVER (PARTITION BY acct ORDER BY version) AS prev_after
	  FROM moves)
SELECT count(*) FROM chained WHERE prev_after IS NOT NULL AND prev_after <> before}),
			'0',
			"$label, $n: every transfer read the balance its predecessor left");
	}
	my $dump_a = rig_bank_dump($node_a);
	for my $peer (@peers)
	{

		is(rig_bank_dump($peer), $dump_a,
			"$label: rig.log, accounts and history identical on a and " . $peer->name);
	}
}

# Phase 1: defaults (rig.commit_wait = on).
my $ops = run_load('commit_wait on', '');
cmp_ok($ops, '>', 1000, 'commit_wait on: a meaningful number of ops committed');
check_nodes('commit_wait on', $ops);

# The order mattered: transfers were clamped, so a replica applying them in
# another order would compute other balances.
my $clamped = $node_a->safe_psql('postgres',
	'SELECT count(*) FROM history WHERE moved < requested');
note "clamped transfers: $clamped";
cmp_ok($clamped, '>', 10, 'many transfers were clamped (outcome depends on order)');

# Phase 2: the second phase runs asynchronously (rig.commit_wait = off)
# and local commits are not flushed before the client hears (synchronous_
# commit = off).  An op can now be prepared on the replica while the one
# before it on the same account is still only prepared there: rig_apply_
# remote must wait for it (it takes the same resource locks).
my $ops2 = run_load('commit_wait off', '-c rig.commit_wait=off -c synchronous_commit=off');
cmp_ok($ops2, '>', 1000, 'commit_wait off: a meaningful number of ops committed');
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'commit_wait off: the replica finished every second phase');
check_nodes('commit_wait off', $ops + $ops2);

# Phase 3: a second sync peer joins while the load runs.  rig_add_peer()
# ships the log without blocking writers, then the tail under the commit
# gate; every transaction that commits after it must prepare on c too, and
# none may reach c before an older op on the same account.
my $node_c = rig_node('c', conf => $conf);
rig_bank_setup($node_c, more => $pause_sql);
my $ops3 = run_load(
	'peer joins under load', '',
	sub {
		my ($pgbench) = @_;
		ok( $node_a->poll_query_until(
				'postgres',
				'SELECT count(*) > ' . ($ops + $ops2 + 100) . q{ FROM rig.log WHERE method = 'transfer'}),
			'peer joins under load: the load is running');
		my ($ret, $o, $e) = $node_a->psql('postgres',
			"SELECT rig_add_peer('c', \$\$" . $node_c->connstr('postgres') . "\$\$)");
		is($ret, 0, 'peer joins under load: rig_add_peer succeeded') or diag $e;
		ok($pgbench->pumpable, 'peer joins under load: the load was still running when c joined');
	});
push @peers, $node_c;
ok($node_c->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'peer joins under load: c finished every second phase');
check_nodes('peer joins under load', $ops + $ops2 + $ops3);

# Phase 4, the same without pgbench: a commit is in PRE_COMMIT (b applies
# its op slowly, so it holds the commit gate) when rig_add_peer('d')
# starts; rig_add_peer waits for the gate, and the op commits meanwhile on
# a and b.  d must get it: it was committed before d joined, so only the
# catch-up can bring it.
my $node_d = rig_node('d', conf => $conf);
rig_bank_setup($node_d, more => $pause_sql);
my $slow = $node_a->background_psql('postgres', on_error_stop => 0);
$slow->{stdin} .=
  qq{SELECT rig_do('pause', '{"id": 1, "sleep_on": "b", "seconds": 2}');\n\\echo SLOW_DONE\n};
$slow->{run}->pump_nb;
ok( $node_a->poll_query_until(
		'postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE query LIKE '%rig_do(''pause''%' AND wait_event_type = 'Extension'}),
	'gate: a commit is preparing on b');
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('d', \$\$" . $node_d->connstr('postgres') . "\$\$)");
pump_until($slow->{run}, IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default),
	\$slow->{stdout}, qr/SLOW_DONE/);
my ($v_pause) = $slow->{stdout} =~ /^(\d+)$/m;
is($slow->{stderr}, '', 'gate: the slow commit succeeded');
$slow->quit;
$node_a->safe_psql('postgres',
	q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
push @peers, $node_d;
{

	is($node_d->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE version = $v_pause"),
		'1', 'gate: the op committed while rig_add_peer waited for the gate is on d');
}
check_nodes('gate', $ops + $ops2 + $ops3 + 1);

done_testing();
