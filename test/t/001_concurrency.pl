
# Copyright (c) 2026, rig developers

# Concurrency with real clients: pgbench runs many clients doing rig_do()
# transfers on a small set of overlapping accounts (plus multi-op
# transactions, rollbacks, savepoints and idempotency keys) while a sampler
# reads the watermark and follows the log through rig_log_since().
# Afterwards:
#  - versions are unique and every logged transfer was applied exactly once;
#  - the watermark rule held: no version at or below a sampled watermark
#    appeared after the sample, and a follower of rig_log_since() got every
#    version exactly once;
#  - ops that share a resource committed in version order;
#  - replaying rig.log in version order on a fresh node, by calling the
#    registered apply handlers directly, rebuilds tables identical to the
#    original, while a shuffled order does not.  The transfer handler reads
#    both balances and clamps the amount to what the payer holds, so the
#    result depends on the order of conflicting ops: the replay only matches
#    if versions follow commit order on shared resources.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 10;
my $initial   = 1000;
my $clients   = 10;
my $duration  = 8;    # seconds of load

# The application: a bank whose tables change only through rig_do().
# Handlers use their arguments only (no rig_version() / rig_op_time()), so
# a replay can call them directly.
my $fixture = q{
CREATE TABLE accounts (
	id				int PRIMARY KEY,
	balance			bigint NOT NULL CHECK (balance >= 0),
	last_version	bigint NOT NULL
);
CREATE TABLE history (
	version			bigint NOT NULL,	-- no key: the test counts duplicates
	from_id			int NOT NULL,
	to_id			int NOT NULL,
	requested		bigint NOT NULL,
	moved			bigint NOT NULL,
	from_balance_after bigint NOT NULL
);
CREATE INDEX ON history (version);

CREATE FUNCTION open_validate(d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF (d->>'id') IS NULL OR (d->>'balance')::bigint < 0 THEN
		RAISE EXCEPTION 'bad open: %', d;
	END IF;
END $$;
CREATE FUNCTION open_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'id')] $$;
CREATE FUNCTION open_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO accounts VALUES ((d->>'id')::int, (d->>'balance')::bigint, v) $$;

CREATE FUNCTION transfer_validate(d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF (d->>'from') IS NULL OR (d->>'to') IS NULL
	   OR coalesce((d->>'amount')::bigint, 0) <= 0 THEN
		RAISE EXCEPTION 'bad transfer: %', d;
	END IF;
END $$;
CREATE FUNCTION transfer_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'from'), 'acct:' || (d->>'to')] $$;

-- Read-modify-write: read both balances, move at most what the payer has,
-- write the balances computed from what was read.
CREATE FUNCTION transfer_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	f		int := (d->>'from')::int;
	t		int := (d->>'to')::int;
	req		bigint := (d->>'amount')::bigint;
	fb		bigint;
	tb		bigint;
	moved	bigint;
BEGIN
	SELECT balance INTO fb FROM accounts WHERE id = f;
	IF NOT FOUND THEN RAISE EXCEPTION 'transfer %: no account %', v, f; END IF;
	SELECT balance INTO tb FROM accounts WHERE id = t;
	IF NOT FOUND THEN RAISE EXCEPTION 'transfer %: no account %', v, t; END IF;
	IF f = t THEN
		moved := 0;
	ELSE
		moved := least(req, fb);
		UPDATE accounts SET balance = fb - moved, last_version = v WHERE id = f;
		UPDATE accounts SET balance = tb + moved, last_version = v WHERE id = t;
	END IF;
	INSERT INTO history VALUES (v, f, t, req, moved, fb - moved);
END $$;

SELECT rig_register('open', 'open_apply(bigint,jsonb)',
					'open_validate(jsonb)', 'open_resources(jsonb)');
SELECT rig_register('transfer', 'transfer_apply(bigint,jsonb)',
					'transfer_validate(jsonb)', 'transfer_resources(jsonb)');
};

# Fingerprints of the application tables, to compare two nodes.
my $accounts_sql =
  q{SELECT string_agg(format('%s:%s:%s', id, balance, last_version), ' ' ORDER BY id) FROM accounts};
my $balances_sql =
  q{SELECT string_agg(format('%s:%s', id, balance), ' ' ORDER BY id) FROM accounts};
my $history_sql = q{SELECT count(*) || ' ' || md5(coalesce(string_agg(
	format('%s,%s,%s,%s,%s,%s', version, from_id, to_id, requested, moved, from_balance_after),
	';' ORDER BY version), '')) FROM history};

###########################################################################
# Node A: the fixture, seeded through rig_do().
###########################################################################

my $node = rig_node(
	'primary', conf => q{
track_commit_timestamp = on
deadlock_timeout = '5ms'
max_connections = 40
});

$node->safe_psql('postgres', $fixture);
$node->safe_psql('postgres',
	"SELECT rig_do('open', jsonb_build_object('id', i, 'balance', $initial), 'open:' || i) "
	  . "FROM generate_series(1, $naccounts) i");

# The watermark sampler and the log follower (state outside rig, not replayed).
$node->safe_psql(
	'postgres', q{
CREATE TABLE wm_samples (
	n			bigserial PRIMARY KEY,
	wm			bigint NOT NULL,	-- rig_watermark()
	cnt			bigint NOT NULL,	-- log rows <= wm, in a snapshot taken after it
	max_seen	bigint				-- highest version in that snapshot
);
-- The watermark first, then (a new statement, so a new snapshot) the log.
CREATE FUNCTION sample() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	w bigint;
BEGIN
	w := rig_watermark();
	INSERT INTO wm_samples (wm, cnt, max_seen)
		SELECT w, (SELECT count(*) FROM rig.log WHERE version <= w),
			   (SELECT max(version) FROM rig.log);
END $$;

-- A follower: pulls what rig_log_since() returns after the last version it
-- has, as catch-up and async followers do.  Missing a version (because it
-- committed below the cursor later) or getting one twice both show here.
CREATE TABLE followed (version bigint NOT NULL, method text, data jsonb);
CREATE FUNCTION follow() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	after	bigint;
	n		bigint;
BEGIN
	SELECT coalesce(max(version), 0) INTO after FROM followed;
	INSERT INTO followed SELECT version, method, data FROM rig_log_since(after, 100000);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
});

is($node->safe_psql('postgres', $balances_sql),
	join(' ', map { "$_:$initial" } 1 .. $naccounts),
	'accounts opened through rig_do');

###########################################################################
# The load: pgbench scripts.
###########################################################################

my $dir = PostgreSQL::Test::Utils::tempdir;

# A transfer between two different random accounts (to = from + 1..9 mod n).
sub transfer_vars
{
	my ($sfx) = @_;
	return qq{\\set from$sfx random(1, $naccounts)
\\set to$sfx 1 + (:from$sfx + random(0, $naccounts - 2)) % $naccounts
\\set amount$sfx random(1, 500)
};
}

sub transfer_call
{
	my ($sfx, $key) = @_;
	my $k = defined $key ? ", $key" : '';
	return
	  qq{SELECT rig_do('transfer', jsonb_build_object('from', :from$sfx, 'to', :to$sfx, 'amount', :amount$sfx)$k);\n};
}

my %scripts = (
	# the bulk: one transfer per transaction
	'transfer.sql' => [ 20, transfer_vars('') . transfer_call('') ],

	# idempotency keys from a small pool: many duplicates, some concurrent;
	# a key names one transfer (its data follows from the key), as a
	# client's retry would
	'idem.sql' => [
		4,
		"\\set key random(1, 200)\n"
		  . "\\set from 1 + :key % $naccounts\n"
		  . "\\set to 1 + (:from + :key % ($naccounts - 1)) % $naccounts\n"
		  . "\\set amount 1 + (:key * 7) % 500\n"
		  . transfer_call('', q{'k' || :key})
	],

	# two ops in one transaction, the second one taking its locks while
	# holding the first one's (deadlocks happen and are retried by pgbench)
	'multi.sql' => [
		1,
		transfer_vars(1)
		  . transfer_vars(2)
		  . "BEGIN;\n"
		  . transfer_call(1)
		  . transfer_call(2)
		  . "COMMIT;\n"
	],

	# a version drawn, held for a while, then never committed
	'abort.sql' => [
		1,
		transfer_vars('')
		  . "BEGIN;\n"
		  . transfer_call('')
		  . "\\sleep 1 ms\n"
		  . "ROLLBACK;\n"
	],

	# a savepoint rolled back takes its op with it, the others commit
	'savepoint.sql' => [
		1,
		transfer_vars(1)
		  . transfer_vars(2)
		  . transfer_vars(3)
		  . "BEGIN;\n"
		  . transfer_call(1)
		  . "SAVEPOINT s;\n"
		  . transfer_call(2)
		  . "ROLLBACK TO SAVEPOINT s;\n"
		  . transfer_call(3)
		  . "COMMIT;\n"
	],
);

my @load_files;
for my $name (sort keys %scripts)
{
	my ($weight, $body) = @{ $scripts{$name} };
	append_to_file("$dir/$name", $body);
	push @load_files, '-f', "$dir/$name\@$weight";
}
append_to_file("$dir/sampler.sql", "SELECT sample();\nSELECT follow();\n");

my @conn = ('-h', $node->host, '-p', $node->port, 'postgres');

# The sampler runs in the background from before the load until after it.
my ($sampler_out, $sampler_err) = ('', '');
my $sampler = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '1', '-T', $duration + 1,
		'-f', "$dir/sampler.sql", @conn
	],
	'>', \$sampler_out, '2>', \$sampler_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM wm_samples'),
	'sampler is running');

my ($load_out, $load_err) = ('', '');
my $load_ok = IPC::Run::run(
	[
		'pgbench', '-n', '-c', $clients, '-j', '2', '-T', $duration,
		'--max-tries=50', @load_files, @conn
	],
	'>', \$load_out, '2>', \$load_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
note "load pgbench output:\n$load_out";
ok($load_ok, 'load pgbench succeeded')
  or diag "load pgbench stderr:\n$load_err";
# (Deadlock failures are retried, and a transaction still failing when -T ends
# counts as failed; any other error aborts its client and pgbench exits
# non-zero.)

ok($sampler->finish, 'sampler pgbench succeeded')
  or diag "sampler pgbench stderr:\n$sampler_err";
note "sampler pgbench output:\n$sampler_out";

# Nothing is in flight any more: the watermark is the last version drawn,
# so no abort, rollback or savepoint left a version behind in shared memory.
is( $node->safe_psql(
		'postgres',
		'SELECT rig_watermark() = last_value FROM rig.version_seq'),
	't',
	'watermark caught up with the last version drawn when idle');

# One last pull by the follower, now that everything is final.
$node->safe_psql('postgres', 'SELECT follow()');

###########################################################################
# A's own state.
###########################################################################

my ($nops, $nsamples, $nfollowed) = split /\|/, $node->safe_psql(
	'postgres', q{
SELECT (SELECT count(*) FROM rig.log WHERE method = 'transfer'),
	   (SELECT count(*) FROM wm_samples),
	   (SELECT count(*) FROM followed)});
note "transfers: $nops, watermark samples: $nsamples, followed: $nfollowed";
cmp_ok($nops,     '>', 500, 'enough transfers committed');
cmp_ok($nsamples, '>', 20,  'enough watermark samples');

# Versions are unique, and each logged transfer was applied exactly once.
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) = count(DISTINCT version) FROM rig.log),
	   (SELECT count(*) = count(DISTINCT version) FROM history),
	   (SELECT count(*) FROM history h
		 WHERE NOT EXISTS (SELECT 1 FROM rig.log l
							WHERE l.version = h.version AND l.method = 'transfer')),
	   (SELECT count(*) FROM rig.log l
		 WHERE l.method = 'transfer'
		   AND NOT EXISTS (SELECT 1 FROM history h WHERE h.version = l.version))}),
	't|t|0|0',
	'versions unique; history and logged transfers match one to one');

# Aborted ops (rollbacks, savepoints, deadlock victims) left version gaps.
cmp_ok(
	$node->safe_psql(
		'postgres',
		'SELECT last_value - (SELECT count(*) FROM rig.log) FROM rig.version_seq'),
	'>', 0,
	'rolled back ops left gaps in the versions');

# Money is conserved and no balance is negative (CHECK).
is( $node->safe_psql('postgres', 'SELECT sum(balance) FROM accounts'),
	$naccounts * $initial,
	'total balance unchanged');

# The load made the outcome order dependent: many transfers were clamped.
my $nclamped = $node->safe_psql('postgres',
	'SELECT count(*) FROM history WHERE moved < requested');
note "clamped transfers: $nclamped";
cmp_ok($nclamped, '>', 10, 'many transfers were clamped (order matters)');

# Idempotency keys: each key logged once, duplicates applied nothing.
my $nkeyed = $node->safe_psql('postgres',
	q{SELECT count(*) FROM rig.log WHERE idempotency_key LIKE 'k%'});
note "keyed transfers logged: $nkeyed";
cmp_ok($nkeyed, '<=', 200, 'idempotency keys logged at most once each');

# The watermark rule: every version <= a sampled watermark was final when
# sampled, so the count sampled then is the count now.
# (One sort: each sample follows the versions <= its watermark, and a running
# count of versions gives their final number.)
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
	SELECT is_sample, cnt,
		   count(*) FILTER (WHERE NOT is_sample)
			   OVER (ORDER BY key, is_sample ROWS UNBOUNDED PRECEDING) AS final_cnt
	  FROM (SELECT false AS is_sample, version AS key, NULL::bigint AS cnt FROM rig.log
			UNION ALL
			SELECT true, wm, cnt FROM wm_samples) u) x
 WHERE is_sample AND cnt <> final_cnt}),
	'0',
	'no version at or below a sampled watermark appeared later');
my $held_back = $node->safe_psql('postgres',
	'SELECT count(*) FROM wm_samples WHERE max_seen > wm');
note "samples with committed versions above the watermark: $held_back";

# The follower got every version exactly once, in spite of out-of-order
# commits.
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) = count(DISTINCT version) FROM followed),
	   (SELECT count(*) FROM (SELECT version, method, data FROM rig.log
							  EXCEPT SELECT version, method, data FROM followed) x),
	   (SELECT count(*) FROM (SELECT version, method, data FROM followed
							  EXCEPT SELECT version, method, data FROM rig.log) x)}),
	't|0|0',
	'a follower of rig_log_since() got every version exactly once');

# Ops sharing an account committed in version order (commit timestamps
# never go backwards along an account's versions).  Ops on disjoint
# accounts did commit out of version order: the load was concurrent.
my ($ts_violations, $out_of_order) = split /\|/, $node->safe_psql(
	'postgres', q{
WITH ops AS (
	SELECT l.version, pg_xact_commit_timestamp(l.xmin) AS ts, h.from_id, h.to_id
	  FROM rig.log l JOIN history h USING (version)),
per_acct AS (
	SELECT version, ts, acct,
		   lag(ts) OVER (PARTITION BY acct ORDER BY version) AS prev_ts
	  FROM ops CROSS JOIN LATERAL (VALUES (from_id), (to_id)) a(acct)),
global AS (
	SELECT ts, lag(ts) OVER (ORDER BY version) AS prev_ts FROM ops)
SELECT (SELECT count(*) FROM per_acct WHERE ts < prev_ts),
	   (SELECT count(*) FROM global WHERE ts < prev_ts)});
note "consecutive versions committed out of order: $out_of_order";
is($ts_violations, '0',
	'ops on a shared account committed in version order');
cmp_ok($out_of_order, '>', 0,
	'some ops on disjoint accounts committed out of version order');

###########################################################################
# Node B: replay A's log in version order through the registered handlers.
###########################################################################

my $replay = rig_node('replay');
$replay->safe_psql('postgres', $fixture);
$replay->safe_psql(
	'postgres', q{
CREATE TABLE replay_src (version bigint PRIMARY KEY, method text NOT NULL, data jsonb NOT NULL);
-- Call each op's registered apply handler with its version and data, in
-- version order, or (shuffled) opens first and then a fixed pseudo-random
-- order.  Returns the number of ops applied.
CREATE FUNCTION replay(shuffled bool) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r	record;
	n	bigint := 0;
BEGIN
	FOR r IN
		SELECT s.version, s.data, h.apply::oid::regproc AS fn
		  FROM replay_src s JOIN rig.handlers h USING (method)
		 ORDER BY CASE WHEN shuffled THEN s.method <> 'open' END,
				  CASE WHEN shuffled THEN md5(s.version::text) END,
				  s.version
	LOOP
		EXECUTE format('SELECT %s($1, $2)', r.fn) USING r.version, r.data;
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
});

# Ship A's log to B: psql COPY out | psql COPY in.
my $copy_err = '';
my $copied = IPC::Run::run(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		'COPY (SELECT version, method, data FROM rig.log ORDER BY version) TO STDOUT'
	],
	'|',
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
		$replay->connstr('postgres'), '-c', 'COPY replay_src FROM STDIN'
	],
	'2>',
	\$copy_err,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
ok($copied, "A's log copied to B") or diag $copy_err;
my $nlog = $node->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
is($replay->safe_psql('postgres', 'SELECT count(*) FROM replay_src'),
	$nlog, 'B received every log row');

# The test can fail: a shuffled order (after the opens) gives other balances.
my ($nshuffled, $shuffled_balances) = split /\n/, $replay->safe_psql(
	'postgres', qq{
BEGIN;
SELECT replay(true);
$balances_sql;
ROLLBACK;
});
is($nshuffled, $nlog, 'shuffled replay applied every op');
isnt($shuffled_balances, $node->safe_psql('postgres', $balances_sql),
	'replaying in another order gives different balances');

# The real replay, in version order.
is($replay->safe_psql('postgres', 'SELECT replay(false)'),
	$nlog, 'replay applied every op');
is($replay->safe_psql('postgres', $accounts_sql),
	$node->safe_psql('postgres', $accounts_sql),
	'replayed accounts identical to the original');
is($replay->safe_psql('postgres', $history_sql),
	$node->safe_psql('postgres', $history_sql),
	'replayed history identical to the original');
is($replay->safe_psql('postgres', 'SELECT count(*) FROM rig.log'),
	'0', 'the replay wrote nothing through rig_do');

$replay->stop;
$node->stop;

done_testing();
