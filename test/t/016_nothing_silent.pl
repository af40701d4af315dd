
# Copyright (c) 2026, rig developers

# Nothing silent (issue 8): cases where a peer used to end up with other
# data than its primary while rig said nothing.
#
#  - a handler that catches the error of a nested rig_do() writes the same
#    rows on the primary and on its sync peer (the same error everywhere);
#  - rig_sync_peer() after rig_do() in the same transaction is refused: it
#    would ship the transaction's uncommitted op, which a ROLLBACK then
#    leaves on the peer only;
#  - idempotency keys reach the peer with their op (exactly once survives a
#    failover);
#  - with synchronous_commit = off, rig_sync_peer() never ships a commit
#    that is not durable yet: after kill -9 of the primary, everything the
#    async peer holds is still on the primary;
#  - rig_compact() keeps what a lagging async peer and a follower still
#    need, says so, and a follower whose records were compacted away (past
#    rig.follower_max_lag) gets a clear error instead of a log with holes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $a = rig_node('a');
my $b = rig_node('b');

my $nest_sql = rig_notes_sql() . q{
CREATE TABLE nested (version bigint PRIMARY KEY, outcome text NOT NULL);
CREATE FUNCTION nest_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM rig_do('note', '{"body": "from inside a handler"}');
		INSERT INTO public.nested VALUES (v, 'nested rig_do succeeded');
	EXCEPTION WHEN others THEN
		INSERT INTO public.nested VALUES (v, SQLSTATE || ' ' || SQLERRM);
	END;
END $$;
SELECT rig_register('nest', 'nest_apply(bigint,jsonb)');
};
$_->safe_psql('postgres', $nest_sql) for ($a, $b);
$a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");

###########################################################################
# 1.7: a nested rig_do fails the same way on every node
###########################################################################

my $v = $a->safe_psql('postgres', q{SELECT rig_do('nest', '{}')});
my $on_a = $a->safe_psql('postgres', "SELECT outcome FROM nested WHERE version = $v");
like($on_a, qr/cannot be called from a rig handler/,
	'the primary refuses a nested rig_do (the handler caught it)');
is($b->safe_psql('postgres', "SELECT outcome FROM nested WHERE version = $v"),
	$on_a, 'the peer computed the same row: the same error as the primary');

###########################################################################
# 1.3: rig_sync_peer after rig_do in the same transaction
###########################################################################

my ($ret, $out, $err) = $a->psql(
	'postgres', q{
\set VERBOSITY verbose
BEGIN;
SELECT rig_do('note', '{"body": "rolled back"}');
SELECT rig_sync_peer('b');
ROLLBACK;
});
is(sqlstate_of($err), '25001', 'rig_sync_peer after rig_do in one transaction: 25001');
like(message_of($err), qr/cannot run in a transaction that has written rig operations/,
	'... with a message saying why');
($ret, $out, $err) = $a->psql(
	'postgres', q{
\set VERBOSITY verbose
BEGIN;
SELECT rig_do('note', '{"body": "rolled back"}');
SELECT rig_add_peer('x', 'host=/nonexistent', 'sync');
ROLLBACK;
});
is(sqlstate_of($err), '25001', 'rig_add_peer after rig_do in one transaction: 25001');
$a->safe_psql('postgres', q{SELECT rig_sync_peer('b')});
is($b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'rolled back'}),
	'0', 'the rolled-back op never reached the peer');

###########################################################################
# idempotency keys travel with their ops
###########################################################################

$a->safe_psql('postgres',
	q{SELECT rig_do('note', '{"body": "keyed"}', 'key-' || i) FROM generate_series(1, 5) i});
my $keys_sql =
  'SELECT idempotency_key, version, method, data_hash, op_time FROM rig.idempotency_keys ORDER BY 1';
is($b->safe_psql('postgres', $keys_sql), $a->safe_psql('postgres', $keys_sql),
	'the peer holds the same idempotency keys as the primary');
is($b->safe_psql('postgres', 'SELECT count(*) FROM rig.idempotency_keys'),
	'5', '... all five of them');

###########################################################################
# 1.9: a replica's watermark is a true one
###########################################################################

# A version arrives before those below it (as when catch-up connections or
# concurrent commits land out of order): here, one from far ahead, applied
# on b as a's ops are.  b has seen it, but not what lies below it.
my $a_last = $a->safe_psql('postgres', 'SELECT rig_last_version()');
my $future = $a_last + 100;
$b->safe_psql('postgres',
	"SELECT rig_apply_remote('a', 1, $future, 1, 'note', '{\"body\": \"from ahead\"}', NULL, now(), 'a')");
cmp_ok($b->safe_psql('postgres', 'SELECT rig_watermark()'), '<', $a_last + 1,
	"the replica's watermark does not pass versions it has not received");
is($b->safe_psql('postgres', "SELECT count(*) FROM rig_log_since(0, 100000) WHERE version >= $future"),
	'0', "... so rig_log_since on the replica does not hand out what lies beyond a hole");
# commits tell it how far it holds everything: its watermark follows a's
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "confirms"}')});
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "confirms again"}')});
my $confirmed = $b->safe_psql('postgres', 'SELECT rig_watermark()');
cmp_ok($confirmed, '>=', $a_last + 1, "a commit moves the replica's watermark up to what a confirmed");
cmp_ok($confirmed, '<', $future, '... and not past what b lacks');
# after a restart the replica waits for its primary to say so again
$b->restart;
is($b->safe_psql('postgres', 'SELECT rig_watermark()'), '0',
	"a restarted replica's watermark is 0 until its primary confirms");
$a->safe_psql('postgres', q{SELECT rig_sync_peer('b')});
cmp_ok($b->safe_psql('postgres', 'SELECT rig_watermark()'), '>=', $confirmed,
	'catch-up confirms what the replica holds');

###########################################################################
# 1.4: synchronous_commit = off never ships a commit that is not durable
###########################################################################

# e: a primary where nothing but rig flushes asynchronous commits (its WAL
# writer is stopped below, autovacuum and the bgwriter's writes are off);
# f: its async peer; g: a follower
my $e = rig_node('e', conf => "autovacuum = off\nbgwriter_lru_maxpages = 0\n");
my $f = rig_node('f');
my $g = rig_node('g');
$_->safe_psql('postgres', rig_notes_sql()) for ($e, $f, $g);
$e->safe_psql('postgres',
	"SELECT rig_add_peer('f', \$\$" . $f->connstr('postgres') . "\$\$, 'async')");
$e->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "durable"}')});
$e->safe_psql('postgres', 'CHECKPOINT');
rig_stop_walwriter($e);
$e->safe_psql(
	'postgres', q{
SET synchronous_commit = off;
SELECT rig_do('note', jsonb_build_object('body', 'async commit ' || i)) FROM generate_series(1, 3) i;
SELECT rig_do('note', '{"body": "async commit, separate"}');
});
$e->safe_psql('postgres', q{SELECT rig_sync_peer('f')});
my $shipped = $f->safe_psql('postgres', 'SELECT string_agg(version::text, \',\' ORDER BY version) FROM rig.log');
crash($e);
$e->start;
my $kept = $e->safe_psql('postgres',
	"SELECT string_agg(version::text, ',' ORDER BY version) FROM rig.log WHERE version IN ($shipped)");
is($kept, $shipped, 'every version the async peer got is still on the primary after kill -9');
is($e->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body LIKE 'async commit%'}),
	'4', '... including the commits made with synchronous_commit = off');

###########################################################################
# 1.5: compaction keeps what a lagging peer and a follower need
###########################################################################

$g->safe_psql('postgres',
	"SELECT rig_follow('e', \$\$" . $e->connstr('postgres') . "\$\$)");
is($e->safe_psql('postgres', 'SELECT name, acked_version FROM rig.followers'),
	'g|0', 'rig_follow registers the follower on its primary');

# f lags: the primary's worker is off, nothing ships until rig_sync_peer
$e->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'lagging ' || i)) FROM generate_series(1, 20) i});
my $last = $e->safe_psql('postgres', 'SELECT rig_last_version()');
my $stderr;
$e->psql('postgres', "SELECT rig_compact($last)", stderr => \$stderr);
like($stderr, qr/NOTICE:  rig_compact\(\) keeps the records from version \d+ on/,
	'rig_compact says it keeps records');
like($stderr, qr/(peer "f"|follower "g") still needs them/, '... and who needs them');
$e->safe_psql('postgres', q{SELECT rig_sync_peer('f')});
my $log_sql = 'SELECT version, epoch, method, data, idempotency_key, op_time, origin FROM rig.log ORDER BY version';
my $notes_sql = 'SELECT * FROM notes ORDER BY id';
is($f->safe_psql('postgres', $notes_sql), $e->safe_psql('postgres', $notes_sql),
	'the lagging peer caught up after compaction: the same notes as its primary');

# the follower pulls (its worker runs once) and acknowledges what it holds
rig_set_resolver($g, 100);
ok($g->poll_query_until('postgres', "SELECT rig_last_version() = $last"),
	'the follower caught up');
ok($e->poll_query_until('postgres', "SELECT acked_version = $last FROM rig.followers WHERE name = 'g'"),
	'... and told its primary how far it holds the log');
is($g->safe_psql('postgres', 'SELECT rig_watermark()'), $last,
	"a follower's watermark is its last version: it pulls in order");
is($g->safe_psql('postgres', $notes_sql), $e->safe_psql('postgres', $notes_sql),
	'... with the same notes');
rig_set_resolver($g, -1);

# a follower that falls more than rig.follower_max_lag behind is compacted past
$e->safe_psql('postgres',
	q{SELECT rig_do('note', jsonb_build_object('body', 'more ' || i)) FROM generate_series(1, 10) i});
$e->safe_psql('postgres', q{SELECT rig_sync_peer('f')});
$last = $e->safe_psql('postgres', 'SELECT rig_last_version()');
$e->safe_psql('postgres', "SET rig.follower_max_lag = 5; SELECT rig_compact($last)");
is($e->safe_psql('postgres', 'SELECT min(version) FROM rig.log'),
	$last, 'compaction went past the follower that lagged more than rig.follower_max_lag');
my $offset = -s $g->logfile;
rig_set_resolver($g, 100);
ok($g->wait_for_log(qr/log records after version \d+ are no longer on node "e"/, $offset),
	'the follower says clearly that the records it needs were compacted away');
rig_set_resolver($g, -1);
isnt($g->safe_psql('postgres', 'SELECT rig_last_version()'), $last,
	'... and does not apply a log with a hole');

done_testing();
