
# Copyright (c) 2026, rig developers

# The ledger example (examples/ledger.sql) with a sync peer under 32
# concurrent clients, most of them on two hot accounts:
#
#  - the invariants hold on both nodes (debits = credits, limits, balances
#    = transfers), and the peer's state tables equal the primary's
#    (rig_verify_peer compares them);
#  - an overdraft is refused with its own error (23514 "exceeds the
#    credits"), never with a lock or serialization failure, and nothing
#    else fails;
#  - the same transfer id submitted again, concurrently by many clients,
#    applies once and returns the first result;
#  - pending transfers are posted, voided or expired, each once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $conf = "max_connections = 100\nmax_prepared_transactions = 50";
my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
rig_load_sql($_, "$srcdir/examples/ledger.sql") for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");

# accounts: 1 funds (no limit), 2 and 3 are hot and may not overdraw
$node_a->safe_psql('postgres', q{
SELECT ledger.account_open('{"id": 1, "ledger": 1, "code": 1}');
SELECT ledger.account_open('{"id": 2, "ledger": 1, "code": 2, "flags": ["debits_must_not_exceed_credits"]}');
SELECT ledger.account_open('{"id": 3, "ledger": 1, "code": 2, "flags": ["debits_must_not_exceed_credits"]}');
SELECT ledger.account_open(jsonb_build_object('id', i, 'ledger', 1, 'code', 3)) FROM generate_series(10, 19) i;
SELECT ledger.transfer('{"id": 1, "debit_account": 1, "credit_account": 2, "amount": 300, "ledger": 1}');
SELECT ledger.transfer('{"id": 2, "debit_account": 1, "credit_account": 3, "amount": 300, "ledger": 1}');
CREATE SEQUENCE tid START 1000;
CREATE TABLE outcomes (what text);
-- one client step: an op, its outcome recorded; an overdraft is an outcome,
-- any other error fails the client
CREATE FUNCTION try(f text, data jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	again jsonb;
BEGIN
	EXECUTE format('SELECT ledger.%I($1)', f) INTO r USING data;
	-- a retry with the same id returns the first result
	EXECUTE format('SELECT ledger.%I($1)', f) INTO again USING data;
	IF r IS DISTINCT FROM again THEN
		RAISE EXCEPTION 'retry of % returned % after %', data, again, r;
	END IF;
	INSERT INTO outcomes VALUES (f || ' ' || (r->>'kind'));
	RETURN r->>'kind';
EXCEPTION WHEN check_violation THEN
	IF SQLERRM !~ 'exceeds the credits of account [23]$' THEN
		RAISE;
	END IF;
	INSERT INTO outcomes VALUES ('refused: exceeds the credits');
	RETURN 'refused';
END $$;
-- a pending transfer between the hot accounts, then its post or void
CREATE FUNCTION two_phase(how text, d int, c int, amount int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	p bigint := nextval('tid');
	k text := try('transfer', jsonb_build_object('id', p, 'debit_account', d, 'credit_account', c,
												 'amount', amount, 'ledger', 1, 'pending', true));
BEGIN
	IF k = 'refused' THEN
		RETURN k;
	END IF;
	RETURN try('transfer_' || how, jsonb_build_object('id', nextval('tid'), 'pending_id', p));
END $$;
});

my %script = (
	hot => q{
\set d random(2, 3)
\set amount random(1, 400)
SELECT try('transfer', jsonb_build_object('id', nextval('tid'), 'debit_account', :d, 'credit_account', 5 - :d, 'amount', :amount, 'ledger', 1));
},
	fund => q{
\set c random(2, 3)
SELECT try('transfer', jsonb_build_object('id', nextval('tid'), 'debit_account', 1, 'credit_account', :c, 'amount', 50, 'ledger', 1));
},
	spend => q{
\set d random(2, 3)
\set c random(10, 19)
\set amount random(1, 100)
SELECT try('transfer', jsonb_build_object('id', nextval('tid'), 'debit_account', :d, 'credit_account', :c, 'amount', :amount, 'ledger', 1));
},
	post => q{
\set d random(2, 3)
SELECT two_phase('post', :d, 5 - :d, 30);
},
	void => q{
\set d random(2, 3)
SELECT two_phase('void', :d, 5 - :d, 30);
},
	expiring => q{
\set d random(2, 3)
SELECT try('transfer', jsonb_build_object('id', nextval('tid'), 'debit_account', :d, 'credit_account', 10, 'amount', 10, 'ledger', 1, 'pending', true, 'timeout', 1));
},
	# the same ids from many clients at once: data follows from the id
	dup => q{
\set i random(1, 50)
SELECT try('transfer', jsonb_build_object('id', 900000 + :i, 'debit_account', 2 + :i % 2, 'credit_account', 10 + :i % 10, 'amount', 1 + :i % 5, 'ledger', 1));
});
my @files;
my %weight = (hot => 4, fund => 2, spend => 2, post => 1, void => 1, expiring => 1, dup => 2);
for my $name (sort keys %script)
{
	my $f = $node_a->basedir . "/$name.sql";
	append_to_file($f, $script{$name});
	push @files, '-f', "$f\@$weight{$name}";
}
my ($out, $err) = ('', '');
my $bench = rig_pgbench($node_a, \$out, \$err, '-c', '32', '-j', '2', '-T', '10', @files);
ok($bench->finish, 'load: pgbench exited successfully (no client failed)');
note "pgbench: $out";
like($out, qr/number of failed transactions: 0 /, 'load: no transaction failed');
unlike($err, qr/ERROR|deadlock|serializ/i, 'load: no error, no lock or serialization failure');

my %outcome = map { split /\|/ } split /\n/,
  $node_a->safe_psql('postgres', 'SELECT what, count(*) FROM outcomes GROUP BY what');
note join(', ', map { "$_: $outcome{$_}" } sort keys %outcome);
cmp_ok($outcome{'refused: exceeds the credits'} // 0, '>', 0, 'load: overdrafts were refused as such');
cmp_ok($outcome{'transfer_post post'} // 0, '>', 0, 'load: pending transfers were posted');
cmp_ok($outcome{'transfer_void void'} // 0, '>', 0, 'load: pending transfers were voided');

# expire what timed out (one second after the last of them)
$node_a->poll_query_until('postgres',
	q{SELECT coalesce(max(expires_at), now()) < clock_timestamp() FROM ledger.transfers WHERE kind = 'pending'})
  or die 'pending transfers did not time out';
my $expired = $node_a->safe_psql('postgres', 'CALL ledger.expire_due()');
cmp_ok($expired, '>', 0, "expiry: $expired pending transfers expired");
is($node_a->safe_psql('postgres', 'CALL ledger.expire_due()'), '0', 'expiry: each once');

my $resolution = q{
SELECT count(*) FILTER (WHERE p.kind = 'pending'),
	   count(*) FILTER (WHERE p.kind = 'pending' AND r.id IS NULL AND p.expires_at IS NOT NULL),
	   count(*) FILTER (WHERE r.id IS NOT NULL AND p.kind = 'pending')
  FROM ledger.transfers p LEFT JOIN ledger.transfers r ON r.pending_id = p.id};
my ($pending, $open_with_timeout, $resolved) = split /\|/, $node_a->safe_psql('postgres', $resolution);
is($open_with_timeout, '0', 'pending: none with a timeout is left unresolved');
is($resolved, $pending, "pending: each of the $pending pending transfers resolved exactly once");

my $dups = q{SELECT count(*), count(DISTINCT id) FROM ledger.transfers WHERE id > 900000};
my ($n, $distinct) = split /\|/, $node_a->safe_psql('postgres', $dups);
is($n, $distinct, "retries: $distinct transfer ids submitted by many clients each applied once");

for my $node ($node_a, $node_b)
{
	is($node->safe_psql('postgres', 'SELECT * FROM ledger.check()'), '',
		$node->name . ': the invariants hold');
}
my $totals = q{SELECT count(*), sum(debits_posted), sum(credits_pending), md5(string_agg(a::text, ',' ORDER BY id)) FROM ledger.accounts a};
is($node_b->safe_psql('postgres', $totals), $node_a->safe_psql('postgres', $totals),
	'peer: the same balances');
rig_verify_ok($node_a, 'b', 'peer: rig_verify_peer finds the state tables identical');

my ($ret, $stdout, $stderr) = $node_b->psql('postgres',
	"\\set VERBOSITY verbose\nUPDATE ledger.accounts SET credits_posted = credits_posted + 1 WHERE id = 2");
is(sqlstate_of($stderr), '42501', 'peer: a direct write into the ledger is refused');

done_testing();
