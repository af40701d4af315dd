
# Copyright (c) 2026, rig developers

# Replication to one sync peer: a primary "a" and its replica "b".
#
# After every kind of write (single op, multi-op transaction, savepoints
# rolled back and released, rollback, idempotency keys, rig.commit_wait =
# off, synchronous_commit = off) both nodes hold the same rig.log rows
# (every column) and the same handler tables, and no prepared transaction
# is left on either node.  With rig.commit_wait = on, a read on the replica
# right after rig_do() returns sees the write.  A handler that raises on the
# peer only fails the primary's commit with the peer's SQLSTATE, message and
# detail, and nothing is written anywhere.  PREPARE TRANSACTION after rig_do
# and rig_do on the replica are refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $sync_timeout = 3000;    # ms
my $conf = qq{max_prepared_transactions = 20\nrig.sync_timeout = $sync_timeout\n};

###########################################################################
# Helpers
###########################################################################

# What both nodes must hold alike, after rig.log (rig_log_dump)
my @tables = ('SELECT * FROM metadata.users ORDER BY id', 'SELECT * FROM notes ORDER BY id');

my ($node_a, $node_b);

###########################################################################
# Two nodes with the same handlers
###########################################################################

# A test method: notes.  Its apply handler raises on node b only when the
# data says so, with a custom SQLSTATE and a DETAIL.
my $handlers = slurp_file("$srcdir/examples/metadata.sql") . q{
CREATE TABLE notes (
	id			bigint PRIMARY KEY,		-- version of the op
	body		text NOT NULL,
	op_time		timestamptz NOT NULL
);
CREATE FUNCTION note_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['note:' || coalesce(d->>'body', '')] $$;
CREATE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce((d->>'fail_on_peer')::boolean, false)
	   AND current_setting('rig.node_name') = 'b' THEN
		RAISE EXCEPTION 'note "%" refused by the peer', d->>'body'
			USING ERRCODE = 'RG042',
				  DETAIL = 'the peer-only check failed for this note',
				  HINT = 'notes with fail_on_peer never replicate';
	END IF;
	INSERT INTO notes VALUES (v, coalesce(d->>'body', ''), rig_op_time());
END $$;
SELECT rig_register('note', 'note_apply(bigint,jsonb)', NULL, 'note_resources(jsonb)');
};

$node_a = rig_node('a', conf => $conf);
$node_b = rig_node('b', conf => $conf);
my @both = ($node_a, $node_b);
$node_a->safe_psql('postgres', $handlers);
$node_b->safe_psql('postgres', $handlers);

# One op before the peer is added: catch-up ships it.
$node_a->safe_psql('postgres',
	q{SELECT rig_do('user_create', metadata.new_user('first@example.com', 'First', 'pw'))});

$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");

is($node_b->safe_psql('postgres', 'SELECT role, primary_name FROM rig.node'),
	'replica|a', 'b is the replica of a');
is(rig_query_each(\@both, q{SELECT count(*) FROM metadata.users WHERE email = 'first@example.com'}),
	'1 / 1', 'the op written before rig_add_peer was shipped to b');
rig_same_ok($node_a, [ $node_b ], 'after rig_add_peer', @tables);

###########################################################################
# Single ops
###########################################################################

my $v_user = $node_a->safe_psql('postgres',
	q{SELECT rig_do('user_create', metadata.new_user('ada@example.com', 'Ada', 's3cret'))});
like($v_user, qr/^\d+$/, 'user_create returned a version');
is(rig_query_each(\@both, "SELECT email || ':' || name FROM metadata.users WHERE id = $v_user"),
	'ada@example.com:Ada / ada@example.com:Ada',
	'user_create applied on both nodes with the same id');
is( $node_b->safe_psql('postgres',
		q{SELECT metadata.check_password('ada@example.com', 's3cret')}),
	't',
	'the replica can check the password (same salt and hash)');

my $v_upd = $node_a->safe_psql('postgres',
	"SELECT rig_do('user_update', '{\"id\": $v_user, \"name\": \"Ada Lovelace\"}')");
is(rig_query_each(\@both, "SELECT name || ':' || version FROM metadata.users WHERE id = $v_user"),
	"Ada Lovelace:$v_upd / Ada Lovelace:$v_upd",
	'user_update applied on both nodes');

my $v_note = $node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "single"}')});
is(rig_query_each(\@both, "SELECT body FROM notes WHERE id = $v_note"),
	'single / single', 'note applied on both nodes');
rig_same_ok($node_a, [ $node_b ], 'single ops', @tables);

###########################################################################
# A multi-op transaction
###########################################################################

my $res = $node_a->safe_psql(
	'postgres', q{
BEGIN;
SELECT rig_do('user_create', metadata.new_user('bob@example.com', 'Bob', 'pw'));
SELECT rig_do('note', '{"body": "with bob"}');
COMMIT;
});
my ($v_bob, $v_bobnote) = split /\n/, $res;
is(rig_query_each(\@both, "SELECT count(*) FROM metadata.users WHERE id = $v_bob"),
	'1 / 1', 'multi-op transaction: first op on both nodes');
is(rig_query_each(\@both, "SELECT body FROM notes WHERE id = $v_bobnote"),
	'with bob / with bob', 'multi-op transaction: second op on both nodes');
rig_same_ok($node_a, [ $node_b ], 'multi-op transaction', @tables);

###########################################################################
# Savepoints
###########################################################################

$res = $node_a->safe_psql(
	'postgres', q{
BEGIN;
SELECT rig_do('note', '{"body": "sp kept 1"}');
SAVEPOINT s1;
SELECT rig_do('note', '{"body": "sp rolled back"}');
SELECT rig_do('user_create', metadata.new_user('carol@example.com', 'Carol', 'pw'));
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
SELECT rig_do('note', '{"body": "sp released"}');
RELEASE SAVEPOINT s2;
SAVEPOINT s3;
SAVEPOINT s4;
SELECT rig_do('note', '{"body": "sp nested rolled back"}');
ROLLBACK TO SAVEPOINT s4;
SELECT rig_do('note', '{"body": "sp nested kept"}');
RELEASE SAVEPOINT s3;
COMMIT;
});
my @sp_versions = split /\n/, $res;
is(scalar(@sp_versions), 6, 'six rig_do calls in the savepoint transaction');
is( rig_query_each(\@both, q{SELECT string_agg(body, ',' ORDER BY id) FROM notes WHERE body LIKE 'sp %'}),
	'sp kept 1,sp released,sp nested kept / sp kept 1,sp released,sp nested kept',
	'savepoints: released ops on both nodes, rolled back ones on neither');
is( rig_query_each(\@both,
		"SELECT count(*) FROM rig.log WHERE version IN ($sp_versions[1], $sp_versions[2], $sp_versions[4])"
	),
	'0 / 0',
	'savepoints: rolled back versions are in neither log');
is(rig_query_each(\@both, q{SELECT count(*) FROM metadata.users WHERE email = 'carol@example.com'}),
	'0 / 0', 'savepoints: user created in a rolled back savepoint exists nowhere');
rig_same_ok($node_a, [ $node_b ], 'savepoints', @tables);

###########################################################################
# An aborted transaction
###########################################################################

my $last_before = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
$res = $node_a->safe_psql(
	'postgres', q{
BEGIN;
SELECT rig_do('note', '{"body": "rolled back"}');
SELECT rig_do('user_create', metadata.new_user('dave@example.com', 'Dave', 'pw'));
ROLLBACK;
});
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'rolled back'}),
	'0 / 0', 'ROLLBACK: op on neither node');
is(rig_query_each(\@both, q{SELECT count(*) FROM metadata.users WHERE email = 'dave@example.com'}),
	'0 / 0', 'ROLLBACK: second op on neither node');
is(rig_query_each(\@both, 'SELECT rig_last_version()'),
	"$last_before / $last_before", 'ROLLBACK: last version unchanged on both nodes');
rig_same_ok($node_a, [ $node_b ], 'aborted transaction', @tables);

###########################################################################
# Idempotency keys
###########################################################################

my $k1 = $node_a->safe_psql('postgres',
	q{SELECT rig_do('note', '{"body": "keyed"}', 'key-1')});
my $k2 = $node_a->safe_psql('postgres',
	q{SELECT rig_do('note', '{"body": "keyed"}', 'key-1')});
my $k3 = $node_a->safe_psql(
	'postgres', q{
BEGIN;
SELECT rig_do('note', '{"body": "keyed"}', 'key-1');
COMMIT;
});
is($k2, $k1, 'a repeated idempotency key returns the first version');
is($k3, $k1, 'the key returns the first version inside a transaction too');
is( rig_query_each(\@both,
		q{SELECT count(*) || ':' || min(version) FROM rig.log WHERE idempotency_key = 'key-1'}),
	"1:$k1 / 1:$k1",
	'the keyed op is logged once, with the same version, on both nodes');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body LIKE 'keyed%'}),
	'1 / 1', 'the keyed op was applied once on both nodes');
is(rig_query_each(\@both, q{SELECT version FROM rig.idempotency_keys WHERE idempotency_key = 'key-1'}),
	"$k1 / $k1", 'both nodes remember the key for compaction and failover');

# Two keyed ops in one transaction, the second a duplicate of the first.
$res = $node_a->safe_psql(
	'postgres', q{
BEGIN;
SELECT rig_do('note', '{"body": "keyed 2"}', 'key-2');
SELECT rig_do('note', '{"body": "keyed 2"}', 'key-2');
COMMIT;
});
my ($k2a, $k2b) = split /\n/, $res;
is($k2b, $k2a, 'a key repeated in the same transaction returns the same version');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'keyed 2'}),
	'1 / 1', 'a key repeated in one transaction applied once on both nodes');
rig_same_ok($node_a, [ $node_b ], 'idempotency keys', @tables);

###########################################################################
# rig.commit_wait = on: a read on the replica right after sees the write
###########################################################################

my $sa = $node_a->background_psql('postgres', on_error_stop => 0);
my $sb = $node_b->background_psql('postgres', on_error_stop => 0);
my $missed = 0;
my $nwrites = 50;
for my $i (1 .. $nwrites)
{
	my ($v, $err) = rig_bg_query($sa, "SELECT rig_do('note', '{\"body\": \"rw $i\"}')");
	if ($err ne '' || $v !~ /^\d+$/)
	{
		diag "write $i failed: $err";
		$missed++;
		next;
	}
	# at once, no polling: this is the commit_wait guarantee
	my ($seen) = rig_bg_query($sb, "SELECT count(*) FROM notes WHERE id = $v");
	if ($seen ne '1')
	{
		diag "write $i (version $v) not visible on the replica right after rig_do";
		$missed++;
	}
}
is($missed, 0,
	"commit_wait = on: each of $nwrites writes was visible on the replica right after rig_do returned");
rig_same_ok($node_a, [ $node_b ], 'read after write', @tables);

###########################################################################
# rig.commit_wait = off
###########################################################################

rig_bg_query($sa, 'SET rig.commit_wait = off');
my @cw_versions;
for my $i (1 .. 10)
{
	my ($v, $err) = rig_bg_query($sa, "SELECT rig_do('note', '{\"body\": \"cw off $i\"}')");
	is($err, '', "commit_wait = off: write $i succeeded");
	push @cw_versions, $v;
}
# a multi-op transaction too, in the same session (its connection to b has
# an unread COMMIT PREPARED answer pending)
my ($cw_multi, $cw_err) = rig_bg_query(
	$sa, q{BEGIN;
SELECT rig_do('note', '{"body": "cw off multi 1"}');
SELECT rig_do('note', '{"body": "cw off multi 2"}');
COMMIT});
is($cw_err, '', 'commit_wait = off: multi-op transaction succeeded');
# (for information: how often a read right after misses the write now)
my $cw_missed = 0;
for my $i (1 .. 20)
{
	my ($v) = rig_bg_query($sa, "SELECT rig_do('note', '{\"body\": \"cw off rw $i\"}')");
	my ($seen) = rig_bg_query($sb, "SELECT count(*) FROM notes WHERE id = $v");
	$cw_missed++ if $seen ne '1';
}
note "commit_wait = off: $cw_missed of 20 reads right after the write missed it";
ok( $node_b->poll_query_until(
		'postgres', q{SELECT count(*) = 32 FROM notes WHERE body LIKE 'cw off %'}),
	'commit_wait = off: the writes reached the replica');
ok( $node_b->poll_query_until(
		'postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'commit_wait = off: nothing stays prepared on the replica');
rig_same_ok($node_a, [ $node_b ], 'commit_wait = off', @tables);
# COMMIT PREPARED went out on a connection of its own, so the next PREPARE
# did not queue behind it: a's session holds two connections to b
is($node_b->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rig' AND backend_type = 'client backend'}),
	'2', 'commit_wait = off: the session commits on a second connection to b');
rig_bg_query($sa, 'RESET rig.commit_wait');

###########################################################################
# synchronous_commit = off
###########################################################################

rig_bg_query($sa, 'SET synchronous_commit = off');
my $sc_err = '';
for my $i (1 .. 10)
{
	my (undef, $err) = rig_bg_query($sa, "SELECT rig_do('note', '{\"body\": \"sc off $i\"}')");
	$sc_err .= $err;
}
my (undef, $err2) = rig_bg_query(
	$sa, q{BEGIN;
SELECT rig_do('user_create', metadata.new_user('erin@example.com', 'Erin', 'pw'));
SELECT rig_do('note', '{"body": "sc off multi"}');
COMMIT});
$sc_err .= $err2;
is($sc_err, '', 'synchronous_commit = off: writes succeeded');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body LIKE 'sc off %'}),
	'11 / 11', 'synchronous_commit = off: writes replicated (read right after)');
rig_same_ok($node_a, [ $node_b ], 'synchronous_commit = off', @tables);
rig_bg_query($sa, 'RESET synchronous_commit');

###########################################################################
# A handler that raises on the peer only
###########################################################################

rig_bg_query($sa, '\set VERBOSITY verbose');
my $log_a = $node_a->safe_psql('postgres', q{SELECT count(*) || ':' || rig_last_version() FROM rig.log});
my ($out, $err) = rig_bg_query($sa,
	q{SELECT rig_do('note', '{"body": "peer says no", "fail_on_peer": true}')});
is(sqlstate_of($err), 'RG042', "peer's handler error: the peer's SQLSTATE on the primary");
like($err, qr/ERROR:\s+RG042: note "peer says no" refused by the peer/,
	"peer's handler error: the peer's message");
like($err, qr/DETAIL:\s+the peer-only check failed for this note/,
	"peer's handler error: the peer's detail");
like($err, qr/HINT:\s+notes with fail_on_peer never replicate/,
	"peer's handler error: the peer's hint");
like($err, qr/on peer "b"/, "peer's handler error: context names the peer");
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'peer says no'}),
	'0 / 0', "peer's handler error: the op is on neither node");
is($node_a->safe_psql('postgres', q{SELECT count(*) || ':' || rig_last_version() FROM rig.log}),
	$log_a, "peer's handler error: the primary's log is unchanged");

# The same inside a multi-op transaction: the good op goes too.
($out, $err) = rig_bg_query(
	$sa, q{BEGIN;
SELECT rig_do('note', '{"body": "good one"}');
SELECT rig_do('note', '{"body": "peer says no again", "fail_on_peer": true}');
COMMIT});
is(sqlstate_of($err), 'RG042', "peer's handler error in a multi-op transaction: peer's SQLSTATE");
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body IN ('good one', 'peer says no again')}),
	'0 / 0', "peer's handler error in a multi-op transaction: no op on either node");
rig_same_ok($node_a, [ $node_b ], "peer's handler error", @tables);

# The same session writes again (its connection to b was dropped).
($out, $err) = rig_bg_query($sa, q{SELECT rig_do('note', '{"body": "after peer error"}')});
is($err, '', 'the session writes again after the peer refused an op');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'after peer error'}),
	'1 / 1', 'the write after the peer error is on both nodes');
rig_same_ok($node_a, [ $node_b ], 'after the peer error', @tables);

###########################################################################
# PREPARE TRANSACTION by the user
###########################################################################

($out, $err) = rig_bg_query(
	$sa, q{BEGIN;
SELECT rig_do('note', '{"body": "user prepared"}');
PREPARE TRANSACTION 'user_gid'});
is(sqlstate_of($err), '0A000', 'PREPARE TRANSACTION after rig_do: refused with 0A000');
like($err, qr/cannot PREPARE a transaction that has run rig_do/,
	'PREPARE TRANSACTION after rig_do: clear message');
rig_bg_query($sa, 'ROLLBACK');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'user prepared'}),
	'0 / 0', 'PREPARE TRANSACTION refused: the op is on neither node');
rig_same_ok($node_a, [ $node_b ], 'PREPARE TRANSACTION refused', @tables);

###########################################################################
# rig_do on the replica
###########################################################################

$err = rig_psql_error($node_b, q{SELECT rig_do('note', '{"body": "on the replica"}')});
is(sqlstate_of($err), '25006', 'rig_do on the replica: 25006');
like($err, qr/HINT:.*"a"/, 'rig_do on the replica: the hint names the primary');
is(rig_query_each(\@both, q{SELECT count(*) FROM notes WHERE body = 'on the replica'}),
	'0 / 0', 'rig_do on the replica wrote nothing');
rig_same_ok($node_a, [ $node_b ], 'rig_do on the replica', @tables);

$sa->quit;
$sb->quit;

done_testing();
