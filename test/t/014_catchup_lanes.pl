
# Copyright (c) 2026, rig developers

# Catch-up over parallel connections (rig.catchup_connections): a's worker
# ships the backlog of a semisync peer "b" that was down, splitting each
# batch over 4 connections to b.  Ops that name a common resource must stay
# in one connection, in version order; the others apply in parallel.
#
# The backlog is built to make a wrong split visible: transfers that clamp
# to the payer's balance (the outcome depends on the order) inside four
# independent pairs of accounts (four sets that can go in parallel), a few
# transfers across pairs (they join sets), notes that conflict with nothing
# and stamps whose method names no resources at all.
#
#  - b ends with a's rig.log and tables exactly, money conserved;
#  - b's server log shows the worker's extra connections;
#  - with rig.catchup_connections = 1 the same happens on one connection;
#  - an op b refuses stops catch-up with the error in rig.peer_status; once
#    b takes it, catch-up fills the holes the failed batch left.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 8;
my $initial   = 1000;
my $total     = $naccounts * $initial;

my $more = rig_notes_sql() . q{
CREATE TABLE stamps (id bigint PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION stamp_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.stamps VALUES (v, rig_op_time()) $$;
SELECT rig_register('stamp', 'stamp_apply(bigint,jsonb)');
-- an op that a node refuses while its gate is closed
CREATE TABLE gate (open boolean NOT NULL);
INSERT INTO gate VALUES (true);
CREATE FUNCTION poison_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF NOT (SELECT open FROM public.gate) THEN
		RAISE EXCEPTION 'poison op % refused here', v;
	END IF;
	INSERT INTO public.notes VALUES (v, 'poison');
END $$;
SELECT rig_register('poison', 'poison_apply(bigint,jsonb)');
};
my @extra_dump = ('SELECT * FROM notes ORDER BY id', 'SELECT * FROM stamps ORDER BY id');

my $node_a = rig_node('a', conf => q{
max_prepared_transactions = 20
rig.sync_timeout = 3000
rig.resolver_interval = 100
rig.catchup_connections = 4
});
my $node_b = rig_node('b', conf => q{
max_prepared_transactions = 20
log_connections = on
});
rig_bank_setup($_, more => $more) for ($node_a, $node_b);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'semisync')");
rig_bank_open($node_a, $naccounts, $initial);

# pgbench scripts: transfers within a pair of accounts (2p+1, 2p+2), across
# any two accounts, notes and stamps
my $dir = PostgreSQL::Test::Utils::tempdir;
my $transfer =
  q{SELECT rig_do('transfer', jsonb_build_object('from', :from, 'to', :to, 'amount', :amount));}
  . "\n";
append_to_file("$dir/pair.sql",
	    "\\set p random(0, 3)\n\\set s random(0, 1)\n"
	  . "\\set from 2 * :p + 1 + :s\n\\set to 2 * :p + 2 - :s\n"
	  . "\\set amount random(1, 700)\n"
	  . $transfer);
append_to_file("$dir/any.sql",
	"\\set from random(1, $naccounts)\n\\set to random(1, $naccounts)\n\\set amount random(1, 700)\n"
	  . $transfer);
append_to_file("$dir/note.sql",
	"\\set n random(1, 1000000000)\n"
	  . q{SELECT rig_do('note', jsonb_build_object('body', 'n' || :client_id || '.' || :n));}
	  . "\n");
append_to_file("$dir/stamp.sql", qq{SELECT rig_do('stamp', '{}');\n});

# a's worker brings b back in sync, and b then holds exactly what a holds
sub caught_up_ok
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $node_a->poll_query_until(
			'postgres',
			q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
		"$what: a's worker caught b up and returned it to sync");
	is(rig_bank_dump($node_b, @extra_dump), rig_bank_dump($node_a, @extra_dump),
		"$what: b has a's rig.log, accounts, history, notes and stamps");
	return;
}

# Stop b, write a backlog of about $n ops on a, start b, wait until a's
# worker has it back in sync; b must then hold exactly what a holds.
sub backlog_round
{
	my ($what, $n, $lanes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	$node_b->stop('immediate');
	my ($out, $err) = ('', '');
	my $h = rig_pgbench($node_a, \$out, \$err,
		'-c', 4, '-j', 2, '-t', int($n / 4),
		'-f', "$dir/pair.sql\@10", '-f', "$dir/any.sql\@1",
		'-f', "$dir/note.sql\@5", '-f', "$dir/stamp.sql\@1");
	$h->finish;
	is($h->result(0), 0, "$what: pgbench wrote the backlog") or diag $err;
	is($node_a->safe_psql('postgres', q{SELECT state FROM rig.peer_status WHERE name = 'b'}),
		'degraded', "$what: b is degraded while down");
	cmp_ok($node_a->safe_psql('postgres', q{SELECT versions_behind FROM rig.peer_status WHERE name = 'b'}),
		'>=', $n, "$what: b is at least $n versions behind");

	my $offset = -s $node_b->logfile;
	$node_b->start;
	caught_up_ok($what);
	rig_bank_total_ok($node_b, $total, "$what: money is conserved on b");
	rig_bank_history_ok($node_b, "$what: every transfer on b has its history row");
	return if $lanes == 1;

	# every connection a's worker opened to b (application_name rig)
	my $conns = () = slurp_file($node_b->logfile, $offset) =~
	  /connection authorized: .*application_name=rig\b/g;
	cmp_ok($conns, '>=', $lanes, "$what: a's worker connected to b at least $lanes times");
	return;
}

backlog_round('4 connections', 4000, 4);

my $clamped = $node_a->safe_psql('postgres',
	'SELECT count(*) FROM history WHERE moved < requested');
note "clamped transfers: $clamped";
cmp_ok($clamped, '>', 10, 'many transfers were clamped (outcome depends on order)');

$node_a->safe_psql('postgres',
	'ALTER SYSTEM SET rig.catchup_connections = 1; SELECT pg_reload_conf()');
backlog_round('1 connection', 2000, 1);

# An op that fails on b in the middle of the backlog: the catch-up that
# ships it fails (some connections may have committed their part of that
# batch, leaving holes), rig.peer_status says why, and b stays out of sync;
# once b can apply it, the next catch-up fills the holes and b is in sync.
$node_a->safe_psql('postgres',
	'ALTER SYSTEM SET rig.catchup_connections = 4; SELECT pg_reload_conf()');
$node_b->safe_psql('postgres', 'UPDATE gate SET open = false');
$node_b->stop('immediate');
for my $part (1, 2)
{
	my ($out, $err) = ('', '');
	my $h = rig_pgbench($node_a, \$out, \$err, '-c', 4, '-j', 2, '-t', 300,
		'-f', "$dir/pair.sql\@10", '-f', "$dir/note.sql\@5");
	$h->finish;
	is($h->result(0), 0, "poison: pgbench part $part") or diag $err;
	$node_a->safe_psql('postgres', q{SELECT rig_do('poison', '{}')}) if $part == 1;
}
$node_b->start;
ok( $node_a->poll_query_until(
		'postgres', q{SELECT last_error LIKE '%poison op % refused here%' FROM rig.peer_status WHERE name = 'b'}),
	'poison: rig.peer_status shows the error b gave');
isnt($node_a->safe_psql('postgres', q{SELECT state FROM rig.peer_status WHERE name = 'b'}),
	'in_sync', 'poison: b is not in sync while it refuses the op');
my $poison = $node_a->safe_psql('postgres', q{SELECT version FROM rig.log WHERE method = 'poison'});
note 'poison: b holds '
  . $node_b->safe_psql('postgres', "SELECT count(*) FILTER (WHERE version > $poison) || ' versions past the poison op (' || count(*) || ' in all)' FROM rig.log");
$node_b->safe_psql('postgres', 'UPDATE gate SET open = true');
caught_up_ok('poison, once b applies the op');

# the same is true of a's rig.log and tables after all of it
is($node_a->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts')
	  . $node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'00', 'nothing is left prepared on a or b');

# A peer whose name has 63 characters (the longest): its catch-up lanes
# ("<name>#<n>") must not share one connection.
my $long = 'peer_' . ('x' x 57) . 'z';
is(length($long), 63, 'long name: 63 characters');
my $node_l = rig_node($long, conf => "max_prepared_transactions = 20\nlog_connections = on\nlog_statement = 'all'\n");
rig_bank_setup($node_l, more => $more);
my $offset = -s $node_l->logfile;
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('$long', \$\$" . $node_l->connstr('postgres') . "\$\$, 'semisync')");
is(rig_bank_dump($node_l, @extra_dump), rig_bank_dump($node_a, @extra_dump),
	'long name: rig_add_peer shipped the whole log');
$node_l->stop('immediate');
$node_a->safe_psql('postgres',
	q{SELECT count(rig_do('note', jsonb_build_object('body', 'long ' || i))) FROM generate_series(1, 400) i});
$node_l->start;
ok( $node_a->poll_query_until(
		'postgres',
		"SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = '$long'"),
	'long name: a\'s worker caught the peer up') or diag $node_a->safe_psql('postgres',
	"SELECT state || ' ' || coalesce(last_error, '') FROM rig.peer_status WHERE name = '$long'");
is(rig_bank_dump($node_l, @extra_dump), rig_bank_dump($node_a, @extra_dump),
	'long name: the peer has a\'s rig.log and tables');
my $conns = () = slurp_file($node_l->logfile, $offset) =~
  /connection authorized: .*application_name=rig\b/g;
cmp_ok($conns, '>=', 4, 'long name: a connected to the peer over several lanes');

# Large ops: a catch-up batch stops at 16 MB of data, not only at 1,000
# records.  100 notes of 300 kB (30 MB) on one connection take at least
# two batches, each its own transaction on the peer.
$node_a->safe_psql('postgres',
	'ALTER SYSTEM SET rig.catchup_connections = 1; SELECT pg_reload_conf()');
$node_l->stop('immediate');
$node_a->safe_psql('postgres',
	q{SELECT count(rig_do('note', jsonb_build_object('body', i || repeat('x', 300000)))) FROM generate_series(1, 100) i});
$offset = -s $node_l->logfile;
$node_l->start;
ok( $node_a->poll_query_until(
		'postgres',
		"SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = '$long'"),
	'large ops: a\'s worker caught the peer up');
is(rig_bank_dump($node_l, @extra_dump), rig_bank_dump($node_a, @extra_dump),
	'large ops: the peer has a\'s rig.log and tables');
my $batches = () = slurp_file($node_l->logfile, $offset) =~ /BEGIN ISOLATION LEVEL READ COMMITTED/g;
cmp_ok($batches, '>=', 2, 'large ops: 30 MB of ops were shipped in at least two batches');

done_testing();
