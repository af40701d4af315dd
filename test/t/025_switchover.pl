
# Copyright (c) 2026, rig developers

# Planned switchover: rig_switchover(peer) on the primary hands the role
# over with no acknowledged op lost and none applied twice.
#
#  1. Under a keyed load of transfers, a switches over to b, b (after
#     rig_add_peer('a') there) back to a, and a to b again.  After each,
#     every op a client saw acknowledged is on the new primary with its
#     version, the ops that failed with a retryable error (25006 while the
#     handover ran, or an unknown outcome) are retried there with the same
#     key, every key is applied once, the bank invariant holds, writes
#     resume on the new primary, and the old one follows it (role, epoch,
#     log).
#  2. A peer that is not in sync: the switchover is refused and the
#     primary stays the primary.
#  3. Killed -9 before the promotion, the old primary is still the primary
#     and its peer a replica; killed after it, the peer is the primary, the
#     old primary writes nothing, and rejoins with rig_add_peer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 6;
my $initial   = 1000;
my $total     = $naccounts * $initial;
my $conf = q{
max_prepared_transactions = 30
max_connections = 40
rig.sync_timeout = 3000
log_statement = none
};
my $dir = PostgreSQL::Test::Utils::tempdir;
srand(25);

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my %node = (a => $node_a, b => $node_b);
my %conn = (a => $node_a->connstr('postgres'), b => $node_b->connstr('postgres'));
# "gated": its validate handler waits for advisory lock 42, so a test can
# hold a call after it passed rig_do's checks and before it took a version
rig_bank_setup($_, more => rig_notes_sql() . q{
CREATE FUNCTION gated_validate(d jsonb) RETURNS void LANGUAGE sql
	AS $$ SELECT pg_advisory_xact_lock(42) $$;
SELECT rig_register('gated', 'note_apply(bigint,jsonb)', 'gated_validate(jsonb)');
}) for ($node_a, $node_b);
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$conn{b}\$\$, 'sync')");
rig_bank_open($node_a, $naccounts, $initial);
# an ordinary client role (superusers are not routed) on both nodes
$_->safe_psql('postgres', 'CREATE ROLE app LOGIN IN ROLE rig_writer') for ($node_a, $node_b);

# Which node a libpq multi-host string with target_session_attrs=read-write
# reaches, old primary first in the list
sub routed_to
{
	my ($first, $second) = @_;
	my $multi = sprintf('host=%s,%s port=%s,%s dbname=postgres user=app target_session_attrs=read-write',
		$node{$first}->host, $node{$second}->host, $node{$first}->port, $node{$second}->port);
	return $node{$first}->safe_psql('postgres', 'SELECT node_name FROM rig_node_info()', connstr => $multi);
}

is(routed_to('b', 'a'), 'a', 'before: the multi-host string, replica first, lands on the primary a');

###########################################################################
# 1. Switchovers under load, both directions
###########################################################################

my ($from, $to) = ('a', 'b');
my $epoch = 1;
for my $round (1 .. 3)
{
	my $t = "(1.$round) $from -> $to";
	my $load = rig_keyed_load($node{$from}, $dir, "S$round", clients => 4, ops => 300,
		naccounts => $naccounts);
	my $start = $node{$from}->safe_psql('postgres', 'SELECT rig_last_version()');
	ok($node{$from}->poll_query_until('postgres', "SELECT rig_last_version() > $start + 100"),
		"$t: the load runs");
	my $got_epoch = $node{$from}->safe_psql('postgres', "SELECT rig_switchover('$to')");
	$epoch++;
	is($got_epoch, $epoch, "$t: rig_switchover returns the new epoch $epoch");
	my ($ok, $failed, $unseen) = rig_keyed_outcomes($load);
	my %codes;
	$codes{$_}++ for values %$failed;
	note sprintf('%s: %d acknowledged, %d failed (%s), %d unseen', $t,
		scalar(keys %$ok), scalar(keys %$failed),
		join(', ', map { "$_ x$codes{$_}" } sort keys %codes) || '-', scalar(keys %$unseen));
	my @bad = grep { $failed->{$_} !~ /^(25006|08007|RG001)$/ } sort keys %$failed;
	is(join(', ', map { "$_: $failed->{$_}" } @bad), '',
		"$t: every failed op failed with a retryable error (25006, or an unknown outcome)");

	is($node{$to}->safe_psql('postgres', 'SELECT role, epoch FROM rig.node'), "primary|$epoch",
		"$t: $to is the primary of epoch $epoch");
	is($node{$from}->safe_psql('postgres', 'SELECT role, primary_name, epoch FROM rig.node'),
		"replica|$to|$epoch", "$t: $from is ${to}'s replica in epoch $epoch");
	my $err = rig_psql_error($node{$from}, q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
	is(sqlstate_of($err), '25006', "$t: $from refuses rig_do");
	is(routed_to($from, $to), $to,
		"$t: a multi-host connection string with target_session_attrs=read-write lands on $to");

	my @retry = sort(keys %$unseen, keys %$failed);
	my $got = rig_keyed_retry($node{$to}, $load, @retry);
	is(join(', ', map { "$_: $got->{$_}" } grep { $got->{$_} !~ /^\d+$/ } @retry), '',
		"$t: every retried op got a version from $to");
	my %logged = map { split /\|/ } split /\n/, $node{$to}->safe_psql('postgres',
		"SELECT idempotency_key, version FROM rig.log WHERE idempotency_key LIKE 'S${round}c%'");
	@bad = grep { ($logged{$_} // '') ne $ok->{$_} } sort keys %$ok;
	is(join(', ', map { "$_: acknowledged $ok->{$_}, logged " . ($logged{$_} // 'missing') } @bad),
		'', "$t: every acknowledged op is on $to with the version its client got");
	is(scalar(keys %logged), 4 * 300, "$t: every key of the load is on $to once");
	is($node{$to}->safe_psql('postgres',
			"SELECT count(*) FROM rig.log WHERE idempotency_key LIKE 'S${round}c%' GROUP BY data->>'tag' HAVING count(*) > 1"),
		'', "$t: no transfer was applied twice");
	rig_bank_total_ok($node{$to}, $total, "$t: the total balance on $to is still $total");
	rig_bank_history_ok($node{$to}, "$t: every transfer on $to has its history row");

	# the old primary follows the new one (pulling), then becomes its sync peer
	my $v = $node{$to}->safe_psql('postgres', q{SELECT rig_do('transfer', '{"from": 2, "to": 3, "amount": 1}')});
	$node{$from}->safe_psql('postgres', q{ALTER SYSTEM SET rig.resolver_interval = 100; SELECT pg_reload_conf()});
	ok($node{$from}->poll_query_until('postgres', "SELECT rig_last_version() >= $v"),
		"$t: $from follows ${to}'s log");
	$node{$from}->safe_psql('postgres', q{ALTER SYSTEM RESET rig.resolver_interval; SELECT pg_reload_conf()});
	$node{$to}->safe_psql('postgres', "SELECT rig_add_peer('$from', \$\$$conn{$from}\$\$, 'sync')");
	rig_verify_ok($node{$to}, $from, "$t: rig_verify_peer finds no difference");
	is(rig_bank_dump($node{$from}), rig_bank_dump($node{$to}), "$t: both nodes hold the same log and tables");
	($from, $to) = ($to, $from);
}

###########################################################################
# 2. A peer that is not in sync
###########################################################################

# $from is the primary now; its peer lags (async, worker off)
$node{$from}->safe_psql('postgres', "SELECT rig_set_peer_mode('$to', 'async')");
$node{$from}->safe_psql('postgres', q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
$node{$from}->safe_psql('postgres', "SELECT rig_set_peer_mode('$to', 'sync')");
my $err = rig_psql_error($node{$from}, "SET rig.sync_timeout = 100; SELECT rig_switchover('$to')");
is(sqlstate_of($err), '55000', '(2) a peer not in sync: refused with 55000');
like($err, qr/peer "$to" is not in sync/, '(2) the error says the peer is not in sync');
is($node{$from}->safe_psql('postgres', 'SELECT role FROM rig.node'), 'primary', '(2) the primary stays the primary');
$node{$from}->safe_psql('postgres', "SELECT rig_sync_peer('$to')");
$node{$from}->safe_psql('postgres', q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
pass('(2) rig_do works on the primary afterwards');

###########################################################################
# 3. Killed in the middle
###########################################################################

for my $case (['switchover_before_promote', 'primary', 'replica'],
	['switchover_after_promote', 'fenced-or-primary', 'primary'])
{
	my ($point, $from_role, $to_role) = @$case;
	my $t = "(3) $point";
	my $s = rig_session($node{$from});
	$s->query_safe("SET rig.fault_point = '$point'");
	$s->{stdin} .= "SELECT rig_switchover('$to');\n";
	$s->{run}->pump_nb;
	ok($node{$from}->wait_for_log(qr/paused at fault point "$point"/), "$t: the switchover reached the point");
	crash($node{$from});
	$s->{run}->kill_kill;
	$node{$from}->start;
	is($node{$to}->safe_psql('postgres', 'SELECT role FROM rig.node'), $to_role, "$t: $to is $to_role");
	if ($to_role eq 'replica')
	{
		is($node{$from}->safe_psql('postgres', 'SELECT role FROM rig.node'), 'primary', "$t: $from is still the primary");
		ok($node{$from}->poll_query_until('postgres',
				q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}') > 0}),
			"$t: $from writes again once its peer is checked");
		next;
	}
	$err = rig_psql_error($node{$from}, q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
	isnt($err, '', "$t: $from refuses rig_do ($err)");
	$node{$to}->safe_psql('postgres', "SELECT rig_add_peer('$from', \$\$$conn{$from}\$\$, 'sync')");
	rig_verify_ok($node{$to}, $from, "$t: $from rejoins $to and converges");
	is(rig_bank_dump($node{$from}), rig_bank_dump($node{$to}), "$t: both nodes hold the same log and tables");
	rig_bank_total_ok($node{$to}, $total, "$t: the total balance is still $total");
}

###########################################################################
# 4. A call that passed rig_do's checks before writes stopped
###########################################################################

# It waits in its validate handler while the switchover runs, then takes
# its version and commits: the node is no longer the primary by then, so
# the commit must fail (before the fix it committed here alone, and was
# missing on the new primary).
{
	($from, $to) = ($to, $from)
	  if $node{$from}->safe_psql('postgres', 'SELECT role FROM rig.node') ne 'primary';
	my $t = "(4) $from -> $to";
	my $before = $node{$from}->safe_psql('postgres', 'SELECT epoch FROM rig.node');
	my $holder = rig_session($node{$from});
	$holder->query_safe('BEGIN; SELECT pg_advisory_xact_lock(42)');
	my $late = rig_session($node{$from});
	$late->{stdin} .= q{SELECT rig_do('gated', '{"body": "late"}', 'late-key');} . "\n";
	$late->{run}->pump_nb;
	ok($node{$from}->poll_query_until('postgres',
			q{SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND NOT granted}),
		"$t: the late call waits in its validate handler");
	my $e = $node{$from}->safe_psql('postgres', "SELECT rig_switchover('$to')");
	cmp_ok($e, '>', $before, "$t: the switchover completes while the call waits");
	$holder->query_safe('COMMIT');
	my ($out, $err) = rig_bg_query($late, 'SELECT 1');
	like($late->{stderr} . $err . $out, qr/no longer the primary/,
		"$t: the late call fails: its node is no longer the primary");
	$late->quit;
	$holder->quit;
	is($node{$from}->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE idempotency_key = 'late-key'}),
		'0', "$t: the late call committed nothing on $from");
	is($node{$to}->safe_psql('postgres', q{SELECT rig_do('gated', '{"body": "late"}', 'late-key') > 0}),
		't', "$t: its retry on $to works");
	$node{$to}->safe_psql('postgres', "SELECT rig_add_peer('$from', \$\$$conn{$from}\$\$, 'sync')");
	rig_verify_ok($node{$to}, $from, "$t: the pair converges");
}

done_testing();
