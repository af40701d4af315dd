
# Copyright (c) 2026, rig developers

# Asynchronous replication (DESIGN.md §2 "async", §5.3, §5.4): primary "a",
# an ASYNC peer "b" (rig_add_peer(..., 'async'): a's worker ships it
# committed ops after the fact) and an async FOLLOWER "c" (rig_follow():
# c's worker pulls rig_log_since from a, a does not know c).
#
#  - after a burst of concurrent transfers (pgbench, 8 clients; the handler
#    clamps amounts to the balance, so order matters), b and c converge to
#    a's rig.log and tables;
#  - with b and c stopped, a's writes neither wait nor warn; b shows as
#    lagging in rig.peer_status; started again, b and c converge;
#  - rig_do on the follower and on the async peer is refused (25006);
#  - a caught-up async peer is not sent the log again every worker round.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 6;
my $initial   = 1000;
my $total     = $naccounts * $initial;
my $clients   = 8;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 3000
rig.resolver_interval = 200
};

###########################################################################
# Nodes and the application
###########################################################################

# the bank of RigTestLib
my $node_a = rig_node('a', conf => $conf);
# b logs every statement and connection: the idle check at the end reads them
my $node_b = rig_node('b', conf => $conf . "log_statement = 'all'\nlog_connections = on\n");
my $node_c = rig_node('c', conf => $conf);
# "fragile" fails on c until c opens its gate (the same handler everywhere)
my $fragile = q{
CREATE TABLE fragile_gate (open boolean NOT NULL);
INSERT INTO fragile_gate VALUES (true);
CREATE FUNCTION fragile_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF NOT (SELECT open FROM public.fragile_gate) THEN
		RAISE EXCEPTION 'fragile op % refused here', v;
	END IF;
END $$;
SELECT rig_register('fragile', 'fragile_apply(bigint,jsonb)');
};
rig_bank_setup($_, more => $fragile) for ($node_a, $node_b, $node_c);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'async')");
rig_bank_open($node_a, $naccounts, $initial);
$node_c->safe_psql('postgres',
	"SELECT rig_follow('a', \$\$" . $node_a->connstr('postgres') . "\$\$)");
is($node_c->safe_psql('postgres', 'SELECT role || \' of \' || primary_name FROM rig.status'),
	'replica of a', 'c is a follower (replica) of a');

# b and c hold exactly what a holds (poll: they catch up asynchronously)
sub converged
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $last = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
	my $n    = $node_a->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
	my $dump_a = rig_bank_dump($node_a);
	for my $node ($node_b, $node_c)
	{
		my $name = $node->name;
		ok( $node->poll_query_until(
				'postgres', "SELECT rig_last_version() = $last AND count(*) = $n FROM rig.log"),
			"$what: $name caught up with a's log (version $last, $n ops)");
		is(rig_bank_dump($node), $dump_a,
			"$what: $name has the same rig.log, accounts and history as a");
		rig_bank_total_ok($node, $total, "$what: money is conserved on $name");
	}
	is($node_a->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts')
		  . $node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'00', "$what: nothing prepared on a or b (async commits prepare nowhere)");
}

converged('after the accounts were opened');

###########################################################################
# A burst of concurrent transfers
###########################################################################

my $scripts = rig_bank_scripts(PostgreSQL::Test::Utils::tempdir,
	naccounts  => $naccounts,
	max_amount => 500);

sub burst
{
	my ($what, $per_client) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($out, $err) = ('', '');
	my $t0 = time;
	my $ok = rig_pgbench(
		$node_a, \$out, \$err,
		'-c', $clients, '-j', '2', '-t', $per_client,
		'-f', $scripts->{single})->finish;
	my $el = time - $t0;
	note sprintf("%s: pgbench %.1fs:\n%s", $what, $el, $out);
	ok($ok, "$what: pgbench succeeded");
	is($err, '', "$what: no error and no warning for the clients");
	my $n = $clients * $per_client;
	like($out, qr/number of transactions actually processed: $n\//, "$what: $n transfers committed");
	return $el;
}

burst('burst with b and c up', 100);
converged('after the burst');

###########################################################################
# b and c down: a's writes do not wait for them
###########################################################################

$node_b->stop('immediate');
$node_c->stop('immediate');

my $t0 = time;
my ($ret, $out, $err) = $node_a->psql('postgres',
	join("\n", map { "SELECT rig_do('transfer', '{\"from\": 1, \"to\": 2, \"amount\": $_}');" } 1 .. 20));
my $el = time - $t0;
is($ret, 0, 'b and c down: 20 single-op transactions commit on a');
is($err, '', 'b and c down: no warning for the client');
cmp_ok($el, '<', 2.5, sprintf('b and c down: the 20 commits did not wait for them (%.2fs; rig.sync_timeout is 3 s)', $el));
burst('burst with b and c down', 50);

ok( $node_a->poll_query_until(
		'postgres', q{SELECT state <> 'in_sync' AND versions_behind > 0 FROM rig.peer_status WHERE name = 'b'}),
	'b down: rig.peer_status shows b lagging (not in_sync, versions behind)');
ok( $node_a->poll_query_until(
		'postgres', q{SELECT state = 'unreachable' AND connection = 'unreachable' FROM rig.peer_status WHERE name = 'b'}),
	'b down: rig.peer_status shows b unreachable');
note 'b down: ' . $node_a->safe_psql('postgres',
	q{SELECT state || ', ' || versions_behind || ' behind, ' || coalesce(last_error, '') FROM rig.peer_status});

$node_b->start;
$node_c->start;
converged('b and c back');
ok( $node_a->poll_query_until(
		'postgres', q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'b back: rig.peer_status shows b in_sync, 0 versions behind');

###########################################################################
# Writes on the follower and on the async peer are refused
###########################################################################

for my $node ($node_c, $node_b)
{
	my $name = $node->name;
	my ($r, $o, $e) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT rig_do('transfer', '{\"from\": 1, \"to\": 2, \"amount\": 1}')");
	isnt($r, 0, "rig_do on $name fails");
	like($e, qr/ERROR:  25006:/, "rig_do on $name: SQLSTATE 25006 (read_only_sql_transaction)");
	note "rig_do on $name: $e";
}
converged('after the refused writes');

###########################################################################
# An idle, caught-up async peer is not sent the log again
###########################################################################

# b's log records every rig_apply_remote it executes (log_statement = all)
# and every connection (log_connections).
my $offset = -s $node_b->logfile;
cmp_ok(scalar(() = slurp_file($node_b->logfile) =~ /rig_apply_remote/g),
	'>', 0, "b's log shows the rig_apply_remote calls of the earlier catch-ups");
my $since = $node_a->safe_psql('postgres', 'SELECT now()');
# at least a few worker rounds (every 200 ms) with a contact with b
ok( $node_a->poll_query_until(
		'postgres', "SELECT last_contact > '$since'::timestamptz + interval '1 s' FROM rig.peer_status WHERE name = 'b'"),
	"idle: a's worker kept in touch with b for more than a second");
my $idle_log = slurp_file($node_b->logfile, $offset);
my $applied = () = $idle_log =~ /rig_apply_remote/g;
is($applied, 0, 'idle: a caught-up async peer was sent no log record');
my $connected = () = $idle_log =~ /connection authorized: .*application_name=rig\b/g;
is($connected, 0, "idle: a's worker opened no new connection to b");

# A small backlog (under 50 records per extra connection) goes over the one
# cached connection, though its transfers (in three independent pairs of
# accounts) could go in parallel: extra connections open only for bulk.
$offset = -s $node_b->logfile;
$node_a->safe_psql('postgres',
	join("\n",
		map { my $f = 1 + 2 * ($_ % 3); "SELECT rig_do('transfer', '{\"from\": $f, \"to\": " . ($f + 1) . ", \"amount\": $_}');" }
		  1 .. 10));
converged('after 10 more transfers');
my $small_log = slurp_file($node_b->logfile, $offset);
cmp_ok(scalar(() = $small_log =~ /rig_apply_remote/g), '>=', 10,
	'small backlog: b applied the 10 transfers');
is(scalar(() = $small_log =~ /connection authorized: .*application_name=rig\b/g), 0,
	"small backlog: a's worker shipped it without opening another connection");

###########################################################################
# A follower whose pull fails keeps its worker and shows the error
###########################################################################

my $status = q{SELECT worker_pid || ' ' || worker_restarts FROM rig.status};
my $before = $node_c->safe_psql('postgres', $status);
$node_c->safe_psql('postgres', 'UPDATE fragile_gate SET open = false');
$node_a->safe_psql('postgres', q{SELECT rig_do('fragile', '{}')});
ok( $node_c->poll_query_until(
		'postgres', q{SELECT worker_last_error LIKE 'fragile op % refused here' FROM rig.status}),
	"fragile op: c's rig.status shows the error of its worker's pull");
my $first = $node_c->safe_psql('postgres', 'SELECT worker_last_error_at FROM rig.status');
ok( $node_c->poll_query_until(
		'postgres', "SELECT worker_last_error_at > '$first' FROM rig.status"),
	"fragile op: c's worker tried again in a later round");
is($node_c->safe_psql('postgres', $status), $before,
	"fragile op: c's worker kept its pid and was not restarted");
$node_c->safe_psql('postgres', 'UPDATE fragile_gate SET open = true');
converged('fragile op, once c takes it');

# A worker that dies at every start (its database is gone) does not look
# healthy: rig.status counts its restarts and shows why it died.
$node_c->append_conf('postgresql.conf', "rig.database = 'no_such_db'\n");
$node_c->restart;
ok( $node_c->poll_query_until(
		'postgres', q{
SELECT worker_restarts >= 1 AND worker_state = 'starting'
   AND worker_last_error LIKE '%"no_such_db" does not exist%' FROM rig.status}),
	"crash loop: c's rig.status shows the restarts and the error the worker dies of");

done_testing();
