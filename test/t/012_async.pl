
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

use IPC::Run;
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

my $fixture = q{
CREATE TABLE accounts (
	id				int PRIMARY KEY,
	balance			bigint NOT NULL CHECK (balance >= 0),
	last_version	bigint NOT NULL
);
CREATE TABLE history (
	version			bigint PRIMARY KEY,
	from_id			int NOT NULL,
	to_id			int NOT NULL,
	requested		bigint NOT NULL,
	moved			bigint NOT NULL,
	op_time			timestamptz NOT NULL
);
CREATE FUNCTION open_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'id')] $$;
CREATE FUNCTION open_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.accounts VALUES ((d->>'id')::int, (d->>'balance')::bigint, v) $$;
CREATE FUNCTION transfer_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'from'), 'acct:' || (d->>'to')] $$;
CREATE FUNCTION transfer_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	f		int := (d->>'from')::int;
	t		int := (d->>'to')::int;
	moved	bigint;
BEGIN
	SELECT CASE WHEN f = t THEN 0 ELSE least((d->>'amount')::bigint, balance) END
	  INTO STRICT moved FROM public.accounts WHERE id = f;
	UPDATE public.accounts SET balance = balance - moved, last_version = v WHERE id = f;
	UPDATE public.accounts SET balance = balance + moved, last_version = v WHERE id = t;
	INSERT INTO public.history VALUES (v, f, t, (d->>'amount')::bigint, moved, rig_op_time());
END $$;
SELECT rig_register('open', 'open_apply(bigint,jsonb)', NULL, 'open_resources(jsonb)');
SELECT rig_register('transfer', 'transfer_apply(bigint,jsonb)', NULL, 'transfer_resources(jsonb)');
};

my $dump_sql = q{
SET TimeZone = 'UTC';
COPY (SELECT version, epoch, method, data, idempotency_key, op_time, origin
		FROM rig.log ORDER BY version) TO STDOUT;
\echo ----
COPY (SELECT * FROM accounts ORDER BY id) TO STDOUT;
\echo ----
COPY (SELECT * FROM history ORDER BY version) TO STDOUT;
};

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my $node_c = rig_node('c', conf => $conf);
$_->safe_psql('postgres', $fixture) for ($node_a, $node_b, $node_c);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'async')");
$node_a->safe_psql('postgres',
	"SELECT rig_do('open', jsonb_build_object('id', i, 'balance', $initial)) "
	  . "FROM generate_series(1, $naccounts) i");
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
	my $dump_a = $node_a->safe_psql('postgres', $dump_sql);
	for my $node ($node_b, $node_c)
	{
		my $name = $node->name;
		ok( $node->poll_query_until(
				'postgres', "SELECT rig_last_version() = $last AND count(*) = $n FROM rig.log"),
			"$what: $name caught up with a's log (version $last, $n ops)");
		is($node->safe_psql('postgres', $dump_sql), $dump_a,
			"$what: $name has the same rig.log, accounts and history as a");
		is($node->safe_psql('postgres', 'SELECT sum(balance) FROM accounts'),
			$total, "$what: money is conserved on $name");
	}
	is($node_a->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts')
		  . $node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'00', "$what: nothing prepared on a or b (async commits prepare nowhere)");
}

converged('after the accounts were opened');

###########################################################################
# A burst of concurrent transfers
###########################################################################

my $dir = PostgreSQL::Test::Utils::tempdir;
append_to_file(
	"$dir/transfer.sql", qq{\\set from random(1, $naccounts)
\\set to random(1, $naccounts)
\\set amount random(1, 500)
SELECT rig_do('transfer', jsonb_build_object('from', :from, 'to', :to, 'amount', :amount));
});

sub burst
{
	my ($what, $per_client) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($out, $err) = ('', '');
	my $t0 = time;
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-c', $clients, '-j', '2', '-t', $per_client,
			'-f', "$dir/transfer.sql",
			'-h', $node_a->host, '-p', $node_a->port, 'postgres'
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
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

# b's log records every rig_apply_remote it executes (log_statement = all).
my $offset = -s $node_b->logfile;
my $since  = $node_a->safe_psql('postgres', 'SELECT now()');
# at least a few worker rounds (every 200 ms) with a contact with b
ok( $node_a->poll_query_until(
		'postgres', "SELECT last_contact > '$since'::timestamptz + interval '1 s' FROM rig.peer_status WHERE name = 'b'"),
	"idle: a's worker kept in touch with b for more than a second");
my $applied = () = slurp_file($node_b->logfile, $offset) =~ /rig_apply_remote/g;
{
	is($applied, 0, 'idle: a caught-up async peer was sent no log record');
}
note "idle: b executed rig_apply_remote $applied times in that time";

done_testing();
