
# Copyright (c) 2026, rig developers

# Failover (issue 10, DESIGN.md §7): rig_promote() on the replica of a sync
# pair whose primary died.
#
#  (1) Under load: 6 clients run keyed transfers on primary "a1" (every op
#      carries an idempotency key); a1 is killed with SIGKILL; the replica
#      "b1" is promoted; every op whose outcome its client did not see is
#      sent again, with the same key, to b1.  Afterwards every key is in
#      the log exactly once, every acknowledged op is there with the version
#      the client got, money is conserved, and b1 takes writes in a new
#      epoch recorded in rig.epochs.
#  (2) The worker is killed (SIGKILL to every process of the replica) at
#      each named step of a promotion -- promote_after_epoch,
#      promote_between_commits, promote_before_finish -- with two ops of
#      the dead primary left prepared on the replica.  While paused, rig_do
#      is refused (the node is 'promoting'); after the restart the worker
#      finishes the promotion by itself, both ops are committed once, and
#      the node takes writes in the new epoch.
#  (3) rig_promote() on a primary, by a role without EXECUTE, and in a
#      transaction that wrote rig ops: clear errors.

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
srand(21);

# A sync pair a<tag> -> b<tag> with the bank (and notes), accounts open.
sub pair
{
	my ($tag) = @_;
	my $a = rig_node("a$tag", conf => $conf);
	my $b = rig_node("b$tag", conf => $conf);
	rig_bank_setup($_, more => rig_notes_sql()) for ($a, $b);
	$a->safe_psql('postgres',
		"SELECT rig_add_peer('b$tag', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");
	rig_bank_open($a, $naccounts, $initial);
	return ($a, $b);
}

# rig.epochs of the promoted node: "epoch first_version node" of epoch 2
sub epoch2
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT epoch || ' ' || first_version || ' ' || node FROM rig.epochs WHERE epoch = 2});
}

###########################################################################
# (1) Failover under load, clients retry with their keys
###########################################################################

my ($a1, $b1) = pair('1');
my $load = rig_keyed_load($a1, $dir, 'L', clients => 6, ops => 600, naccounts => $naccounts);
my $start = $a1->safe_psql('postgres', 'SELECT rig_last_version()');
ok($a1->poll_query_until('postgres', "SELECT rig_last_version() > $start + 300"),
	'(1) the load runs (300 ops committed)');
crash($a1, 'all');
my ($ok, $failed, $unseen) = rig_keyed_outcomes($load);
note sprintf('(1) the clients saw %d versions, %d errors (%s), %d outcomes unseen',
	scalar(keys %$ok), scalar(keys %$failed), join(', ', sort values %$failed) || '-',
	scalar(keys %$unseen));
cmp_ok(scalar(keys %$ok), '>=', 300, '(1) the clients got versions for at least 300 ops');

my $prepared = $b1->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts');
note "(1) b1 holds $prepared prepared transaction(s) of a1";
is($b1->safe_psql('postgres', 'SELECT rig_promote()'), '2', '(1) rig_promote() on b1 returns the new epoch, 2');
is($b1->safe_psql('postgres', 'SELECT role, epoch, primary_name IS NULL FROM rig.status'),
	'primary|2|t', '(1) rig.status on b1: primary of epoch 2, no primary of its own');
is(rig_prepared_xacts($b1), '0', '(1) nothing is left prepared on b1');
my $first = $b1->safe_psql('postgres', 'SELECT first_version FROM rig.epochs WHERE epoch = 2');
is(epoch2($b1), "2 $first b1", '(1) rig.epochs records epoch 2, its first version and b1');
is($b1->safe_psql('postgres', "SELECT coalesce(max(version), 0) < $first FROM rig.log"),
	't', '(1) the first version of epoch 2 is above every version of epoch 1');

# a client retries what it did not see answered, and what failed with an unknown outcome
my @retry = sort(keys %$unseen, grep { $failed->{$_} =~ /^(08|57P)/ } keys %$failed);
my $got = rig_keyed_retry($b1, $load, @retry);
is(join(', ', map { "$_: $got->{$_}" } grep { $got->{$_} !~ /^\d+$/ } @retry), '',
	'(1) every retried op got a version from b1');
my $deduped = grep { $got->{$_} =~ /^\d+$/ && $got->{$_} < $first } @retry;
note "(1) retried " . scalar(@retry) . " ops; $deduped of them had committed in epoch 1, before the crash or by the promotion (the retry returned their old version)";

my %logged = map { split /\|/ } split /\n/,
  $b1->safe_psql('postgres', q{SELECT idempotency_key, version FROM rig.log WHERE idempotency_key LIKE 'Lc%'});
my @bad = grep { ($logged{$_} // '') ne $ok->{$_} } sort keys %$ok;
is(join(', ', map { "$_: acknowledged $ok->{$_}, logged " . ($logged{$_} // 'missing') } @bad),
	'', '(1) every acknowledged op is on b1 with the version its client got');
@bad = grep { ($logged{$_} // '') ne ($got->{$_} // '') } @retry;
is(join(', ', @bad), '', '(1) every retried op is on b1 with the version the retry returned');
my %definite = map { $_ => 1 } grep { $failed->{$_} !~ /^(08|57P)/ } keys %$failed;
is(join(', ', grep { defined $logged{$_} } sort keys %definite), '',
	'(1) no op that got a definite error is on b1');
is(scalar(keys %logged), scalar(keys %$ok) + scalar(@retry),
	'(1) b1 holds each key once: the acknowledged ops and the retried ones, nothing else');
is($b1->safe_psql('postgres',
		q{SELECT count(*) FROM rig.log WHERE idempotency_key LIKE 'Lc%' GROUP BY data->>'tag' HAVING count(*) > 1}),
	'', '(1) no transfer of the load was applied twice');
rig_bank_total_ok($b1, $total, "(1) on b1 the total balance is still $total, none negative");
rig_bank_history_ok($b1, '(1) every transfer on b1 has its history row');
my $v = $b1->safe_psql('postgres', q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
cmp_ok($v, '>=', $first, '(1) rig_do works on b1, with a version of epoch 2');
is($b1->safe_psql('postgres', "SELECT epoch FROM rig.log WHERE version = $v"), '2',
	'(1) the new op carries epoch 2');

###########################################################################
# (2) The promoting node killed at each step
###########################################################################

my $i = 0;
for my $point (qw(promote_after_epoch promote_between_commits promote_before_finish))
{
	$i++;
	my $t = "(2) $point";
	my ($a, $b) = pair("f$i");
	my $bname = "bf$i";

	# two ops of a left prepared on b: their clients never got an answer
	my @s;
	for my $k (1, 2)
	{
		my ($s) = rig_start_paused($a, 'after_peer_prepare', "p$i-$k");
		push @s, $s;
	}
	is(rig_prepared_xacts($b) =~ s/:.*//r, '2', "$t: b holds two prepared ops of a");
	crash($a, 'all');
	rig_client_end($_) for @s;

	# the worker pauses at the point; rig_promote() waits for it
	$b->append_conf('postgresql.conf', "rig.fault_point = '$point'");
	$b->restart;
	my $offset = -s $b->logfile;
	my $s = rig_session($b);
	$s->query_until(qr/sent/, "\\echo sent\nSELECT rig_promote();\n");
	ok($b->wait_for_log(qr/rig: paused at fault point "$point"/, $offset),
		"$t: the worker paused there");
	is($b->safe_psql('postgres', 'SELECT role, epoch FROM rig.node'), 'promoting|2',
		"$t: rig.node says promoting, epoch 2");
	my $left = { promote_after_epoch => 2, promote_between_commits => 1, promote_before_finish => 0 }->{$point};
	is(rig_prepared_xacts($b) =~ s/:.*//r, $left, "$t: $left op(s) of a still prepared on b");
	is($b->safe_psql('postgres',
			'SELECT rig_watermark() < coalesce(min(first_version), rig_watermark() + 1) FROM rig.in_doubt'),
		't', "$t: the watermark stays below the ops still prepared");
	my $err = rig_psql_error($b, q{SELECT rig_do('note', '{"body": "refused"}')});
	is(sqlstate_of($err), 'RG002', "$t: rig_do on the promoting node fails with RG002 (retry)");
	like(message_of($err), qr/not allowed while node "$bname" is being promoted/,
		"$t: ... saying the node is being promoted");

	# SIGKILL there; after the restart the worker finishes by itself
	$b->safe_psql('postgres', "ALTER SYSTEM SET rig.fault_point = ''");
	crash($b, 'all');
	rig_client_end($s);
	$b->start;
	ok($b->poll_query_until('postgres', q{SELECT role = 'primary' AND epoch = 2 FROM rig.node}),
		"$t: after the restart the worker finished the promotion");
	like(epoch2($b), qr/^2 \d+ $bname$/, "$t: rig.epochs records epoch 2 and $bname");
	is(rig_prepared_xacts($b), '0', "$t: nothing is left prepared on b");
	is($b->safe_psql('postgres',
			qq{SELECT string_agg(body || ':' || (SELECT count(*) FROM rig.log WHERE data->>'body' = body), ',' ORDER BY body)
				 FROM notes WHERE body LIKE 'p$i-%'}),
		"p$i-1:1,p$i-2:1", "$t: both ops a left prepared are committed, once each");
	rig_bank_total_ok($b, $total, "$t: the total balance is still $total");
	my $err2 = rig_psql_error($b, 'SELECT rig_promote()');
	like(message_of($err2), qr/node "$bname" is already the primary/,
		"$t: rig_promote() again says the node is already the primary");
	my $v2 = $b->safe_psql('postgres', qq{SELECT rig_do('note', '{"body": "after-$i"}')});
	is($b->safe_psql('postgres',
			"SELECT epoch = 2 AND version >= (SELECT first_version FROM rig.epochs WHERE epoch = 2) FROM rig.log WHERE version = $v2"),
		't', "$t: rig_do works, in epoch 2");
}

###########################################################################
# (3) Refusals
###########################################################################

my $err = rig_psql_error($b1, 'SELECT rig_promote()');
is(sqlstate_of($err), '55000', '(3) rig_promote() on a primary fails with 55000');
like(message_of($err), qr/node "b1" is already the primary/, '(3) ... saying it is the primary');

$b1->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
$err = rig_psql_error($b1, 'SELECT rig_promote()', 'mallory');
is(sqlstate_of($err), '42501', '(3) rig_promote() by a role without EXECUTE fails with 42501');
like(message_of($err), qr/permission denied for function rig_promote/, '(3) ... permission denied');

$err = rig_psql_error($b1, qq{BEGIN;\nSELECT rig_do('note', '{"body": "x"}');\nSELECT rig_promote();});
is(sqlstate_of($err), '25001', '(3) rig_promote() after rig_do in the same transaction fails with 25001');
like(message_of($err), qr/rig_promote\(\) cannot run in a transaction that has written rig operations/,
	'(3) ... saying why');

done_testing();
