
# Copyright (c) 2026, rig developers

# What an application sees of rig through a retry loop (found with a
# node-postgres pool of 16 against the ledger example with a sync peer):
# every error a client gets while the primary or its sync peer is killed
# -9 and comes back must be one a retry loop can tell from a definite
# refusal by its SQLSTATE (08 connection, 40 rollback, 57P starting up,
# rig's RG codes), and retrying each unacknowledged transfer with the
# same id must end with every transfer applied once, on both nodes.
#
#  1. Both nodes crash and the primary comes back first: its sync peer is
#     not checked yet (unknown), so rig_do is refused with RG002 (was
#     55000, which a retry loop reads as permanent, like a diverged
#     peer); once the peer is back the retry goes through.
#     (Fails with 55000 before RG002; 2 and 3 are guards: their clients
#     rarely meet the short window of 1 and pass either way.)
#  2. kill -9 of the primary under 8 clients: every error a client saw is
#     transient; the retries with the same ids apply each missing
#     transfer once; each acknowledged transfer is on both nodes with the
#     version its client was told; nothing left prepared, ledger.check()
#     empty and the same log and tables on both.
#  3. The same with kill -9 of the sync peer (08001 while it is down,
#     RG002 while the worker catches it up: was 55000).
#  4. RG002 while a sync peer is caught up, forced: r, semisync, misses
#     transfers while it is down; back up, its apply is held by a lock, so
#     it stays catching_up; made sync then, it is not in sync, and a
#     transfer is refused with RG002 (was 55000) until the worker is
#     through, then goes through.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $conf = "rig.resolver_interval = 200\nrig.sync_timeout = 2000\nmax_connections = 40";
my $p = rig_node('p', conf => $conf);
my $r = rig_node('r', conf => $conf);
rig_load_sql($_, "$srcdir/examples/ledger.sql") for ($p, $r);
my $connstr_r = $r->connstr('postgres');
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$$connstr_r\$\$, 'sync')");
$p->safe_psql('postgres', q{
SELECT count(ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 1)))
  FROM generate_series(1, 20) i});
my $dir = PostgreSQL::Test::Utils::tempdir;
my @tables = ('SELECT * FROM ledger.accounts ORDER BY id', 'SELECT * FROM ledger.transfers ORDER BY id');

# the worker has r in sync again and nothing is left prepared on either node
sub settled
{
	my ($what) = @_;
	ok( $p->poll_query_until('postgres',
			q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'r'}),
		"$what: r is in sync again");
	ok($_->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
		"$what: nothing prepared on " . $_->name)
	  for ($p, $r);
	return;
}

# The checks after a crash under load: the clients' errors, the retries,
# applied once, acknowledged versions kept, the invariants on both nodes.
sub outcomes_ok
{
	my ($what, $load, $ok, $failed, $unseen) = @_;

	my @odd = map { "$_: $failed->{$_}" } grep { !rig_transient_sqlstate($failed->{$_}) } sort keys %$failed;
	is(join(', ', @odd), '', "$what: every error a client got is one a retry loop retries");
	note("$what: " . scalar(keys %$ok) . ' acknowledged, ' . scalar(keys %$failed) . ' failed ('
		  . join(' ', sort { $a cmp $b } keys %{ { map { $_ => 1 } values %$failed } }) . '), '
		  . scalar(keys %$unseen) . ' unseen');

	my $got = rig_ledger_retry($p, $load, 60, sort(keys %$failed), sort(keys %$unseen));
	my @lost = map { "$_: $got->{$_}" } grep { $got->{$_} !~ /^\d+$/ } sort keys %$got;
	is(join(', ', @lost), '', "$what: the retry loop got every unacknowledged transfer through");

	settled($what);
	my $n = $load->{clients} * $load->{ops};
	my ($lo, $hi) = (List::Util::min(values %{ $load->{id} }), List::Util::max(values %{ $load->{id} }));
	is( rig_query_each([ $p, $r ], "SELECT count(*) FROM ledger.transfers WHERE id BETWEEN $lo AND $hi"),
		"$n / $n", "$what: every transfer is on both nodes");
	is( rig_query_each([ $p, $r ],
			"SELECT count(*) FROM (SELECT data->>'id' FROM rig.log WHERE method = 'transfer'
			   AND (data->>'id')::bigint BETWEEN $lo AND $hi GROUP BY 1 HAVING count(*) > 1) d"),
		'0 / 0', "$what: none applied twice");
	my $acked = join(', ', map { "($load->{id}{$_}, $ok->{$_})" } sort keys %$ok);
	is( rig_query_each([ $p, $r ],
			"SELECT count(*) FROM (VALUES $acked) a(id, version)
			  WHERE NOT EXISTS (SELECT FROM ledger.transfers t WHERE t.id = a.id AND t.version = a.version)"),
		'0 / 0', "$what: each acknowledged transfer is there with the version its client was told");
	is(rig_query_each([ $p, $r ], 'SELECT count(*) FROM ledger.check()'),
		'0 / 0', "$what: ledger.check() finds nothing on either node");
	rig_same_ok($p, [$r], $what, @tables);
	return;
}

# 1. both down, the primary back first
crash($p);
crash($r);
$p->start;
my $one = { data => { first => '{"id": 1, "debit_account": 1, "credit_account": 2, "amount": 1, "ledger": 1}' } };
my $err = rig_psql_error($p, "SELECT ledger.transfer('$one->{data}{first}')");
is(sqlstate_of($err), 'RG002', '(1) the sync peer not checked yet: refused with RG002, a retry loop retries it');
like(message_of($err), qr/sync peer "r" is not in sync/, '(1) ... saying the sync peer is not in sync');
like($err, qr/HINT:.*Retry in a moment/, '(1) ... and to retry in a moment');
$r->start;
my $got = rig_ledger_retry($p, $one, 60, 'first');
like($got->{first}, qr/^\d+$/, '(1) once r is back, the retry goes through');
settled('(1)');
is(rig_query_each([ $p, $r ], 'SELECT count(*) FROM ledger.transfers WHERE id = 1'),
	'1 / 1', '(1) the transfer is on both nodes, once');

# 2. kill -9 of the primary under load
my $load = rig_ledger_load($p, $dir, 'kp', clients => 8, ops => 60, naccounts => 20, first_id => 1000);
$p->poll_query_until('postgres', 'SELECT count(*) >= 100 FROM ledger.transfers WHERE id >= 1000')
  or die 'the clients did not get going';
crash($p);
my ($ok, $failed, $unseen) = rig_keyed_outcomes($load);
$p->start;
outcomes_ok('(2) kill -9 of the primary', $load, $ok, $failed, $unseen);

# 3. kill -9 of the sync peer under load: the clients go on while it is down
$load = rig_ledger_load($p, $dir, 'kr', clients => 8, ops => 60, naccounts => 20, first_id => 5000);
$p->poll_query_until('postgres', 'SELECT count(*) >= 100 FROM ledger.transfers WHERE id >= 5000')
  or die 'the clients did not get going';
crash($r);
($ok, $failed, $unseen) = rig_keyed_outcomes($load);
$r->start;
outcomes_ok('(3) kill -9 of the sync peer', $load, $ok, $failed, $unseen);

# 4. a sync peer being caught up (held back by a lock on its accounts)
$p->safe_psql('postgres', "SELECT rig_set_peer_mode('r', 'semisync')");
crash($r);
my $two = { data => { second => '{"id": 9001, "debit_account": 1, "credit_account": 2, "amount": 1, "ledger": 1}',
	third => '{"id": 9002, "debit_account": 2, "credit_account": 1, "amount": 1, "ledger": 1}' } };
$p->safe_psql('postgres', "SELECT ledger.transfer('$two->{data}{second}')");
# the worker waits until the lock is taken (else it ships the one op first)
rig_set_resolver($p, -1);
$r->start;
my $hold = $r->background_psql('postgres');
$hold->query_safe('BEGIN; LOCK TABLE ledger.accounts IN ACCESS EXCLUSIVE MODE');
rig_set_resolver($p, 200);
ok($p->poll_query_until('postgres', q{SELECT state = 'catching_up' FROM rig.peer_status WHERE name = 'r'}),
	'(4) r, back up and held by a lock, is catching up');
$p->safe_psql('postgres', "SELECT rig_set_peer_mode('r', 'sync')");
$err = rig_psql_error($p, "SELECT ledger.transfer('$two->{data}{third}')");
is(sqlstate_of($err), 'RG002', '(4) a sync peer being caught up: refused with RG002');
like(message_of($err), qr/sync peer "r" is not in sync/, '(4) ... saying the sync peer is not in sync');
$hold->query_safe('COMMIT');
$hold->quit;
$got = rig_ledger_retry($p, $two, 60, 'third');
like($got->{third}, qr/^\d+$/, '(4) once the worker is through, the retry goes through');
settled('(4)');
is(rig_query_each([ $p, $r ], 'SELECT count(*) FROM ledger.transfers WHERE id IN (9001, 9002)'),
	'2 / 2', '(4) both transfers are on both nodes, once');
rig_same_ok($p, [$r], '(4)', @tables);

done_testing();
