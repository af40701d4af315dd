
# Copyright (c) 2026, rig developers

# Sync peers that fail: stopped, hung (SIGSTOP), a writer cancelled while it
# waits for a hung peer, and one of two sync peers down.  In every case
# rig_do's transaction fails promptly (within rig.sync_timeout, or at once
# on a cancel) with an error naming the peer, nothing is committed on any
# node, no prepared transaction is left behind once rig_resolve() ran (or,
# for a peer that answered, without it), and writes work again once the
# peer is back.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $sync_timeout = 3000;    # ms
my $slack        = 2;       # s allowed on top of the timeout
my $conf = qq{max_prepared_transactions = 20\nrig.sync_timeout = $sync_timeout\n};

###########################################################################
# Helpers
###########################################################################

my $notes = 'SELECT * FROM notes ORDER BY id';

sub log_state
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT count(*) || ' rows, last ' || coalesce(max(version), 0) FROM rig.log});
}

# Backends on $node serving connections from a primary (rig's libpq).
sub rig_backends
{
	my ($node) = @_;
	return split /\n/, $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE application_name = 'rig' ORDER BY backend_start});
}

# Wait until the only rig backends left on $node are @keep: a connection
# the primary dropped has been served to its end and closed.
sub wait_rig_backends_only
{
	my ($node, @keep) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $keep = join(', ', 0, @keep);
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT count(*) = 0 FROM pg_stat_activity
 WHERE application_name = 'rig' AND pid NOT IN ($keep)}),
		$node->name . ": the connection the primary dropped is gone");
}

###########################################################################
# Nodes a (primary), b (sync peer), c (second sync peer, from part d)
###########################################################################

# "slow" takes a minute on b only: the primary gives up on b long before
my $handlers = rig_notes_sql() . q{
CREATE FUNCTION slow_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('rig.node_name') = 'b' THEN
		PERFORM pg_sleep(60);
	END IF;
END $$;
SELECT rig_register('slow', 'slow_apply(bigint,jsonb)');
};

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my $node_c = rig_node('c', conf => $conf);
$_->safe_psql('postgres', $handlers) for ($node_a, $node_b, $node_c);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");

sub note_count
{
	my ($node, $body) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM notes WHERE body = '$body'");
}

my $s = rig_session($node_a);
my ($out, $err, $el) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "before faults"}')});
is($err, '', 'a write succeeds while b is up');
rig_same_ok($node_a, [ $node_b ], 'before the faults', $notes);

###########################################################################
# (a) peer stopped
###########################################################################

my $log_before = log_state($node_a);
$node_b->stop('immediate');

# A session whose cached connection to b died with it.
($out, $err, $el) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b stopped 1"}')});
note sprintf('stopped peer, cached connection: %.2fs: %s', $el, $err);
like(sqlstate_of($err), qr/^08/, 'stopped peer, cached connection: SQLSTATE class 08');
{

	like(message_of($err), qr/peer "b"/,
		'stopped peer, cached connection: the message names the peer');
}
like($err, qr/peer "b"/, 'stopped peer, cached connection: the error names the peer somewhere');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack, 'stopped peer, cached connection: failed within rig.sync_timeout');

# A new session: the connection attempt fails.
($err, $el) = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "b stopped 2"}')});
note sprintf('stopped peer, new connection: %.2fs: %s', $el, $err);
is(sqlstate_of($err), '08001', 'stopped peer, new connection: 08001');
like(message_of($err), qr/could not connect to .*peer "b"/,
	'stopped peer, new connection: the message names the peer');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack, 'stopped peer, new connection: failed within rig.sync_timeout');

is(log_state($node_a), $log_before, 'stopped peer: nothing committed on the primary');
is($node_a->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body LIKE 'b stopped%'}),
	'0', 'stopped peer: no note applied on the primary');
is(rig_prepared_xacts($node_a), '0', 'stopped peer: nothing prepared on the primary');

$node_b->start;
($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b back"}')});
is($err, '', 'peer back: the same session writes again');
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "b back, new session"}')});
is(note_count($node_b, 'b back') . note_count($node_b, 'b back, new session'),
	'11', 'peer back: the writes reached b');
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body LIKE 'b stopped%'}),
	'0', 'peer back: the failed writes are not on b');
rig_same_ok($node_a, [ $node_b ], '(a) peer stopped and back', $notes);

###########################################################################
# (b) peer hung
###########################################################################

# $s holds a connection to b (it just wrote).
$log_before = log_state($node_a);
my $log_before_b = log_state($node_b);
rig_freeze($node_b);
($out, $err, $el) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b hung"}')});
note sprintf('hung peer: %.2fs: %s', $el, $err);
# PREPARE went out (into b's socket): b may hold it, the outcome is unknown
is(sqlstate_of($err), '08007', 'hung peer: 08007 (PREPARE was sent)');
like($err,
	qr/DETAIL:\s+peer "b" did not prepare the transaction within rig\.sync_timeout \($sync_timeout ms\)/,
	'hung peer: the message names the peer and the timeout');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack, 'hung peer: failed within rig.sync_timeout');
cmp_ok($el, '>=', $sync_timeout / 1000 - 0.2, 'hung peer: it did wait for the timeout');
is(log_state($node_a), $log_before, 'hung peer: nothing committed on the primary');

# A new session cannot even connect to the hung peer.
($err, $el) = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "b hung, new session"}')});
note sprintf('hung peer, new session: %.2fs: %s', $el, $err);
like(sqlstate_of($err), qr/^08/, 'hung peer, new session: SQLSTATE class 08');
like(message_of($err), qr/peer "b"/, 'hung peer, new session: the message names the peer');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack, 'hung peer, new session: failed within rig.sync_timeout');
is(log_state($node_a), $log_before, 'hung peer, new session: nothing committed on the primary');
rig_thaw($node_b);

wait_rig_backends_only($node_b);    # $s had the only connection
my $left = rig_prepared_xacts($node_b);
note "hung peer: prepared on b after it woke up: $left";
my ($nleft) = $left =~ /^(\d+)/;
is($node_a->safe_psql('postgres', 'SELECT rig_resolve()'), $nleft,
	'hung peer: rig_resolve() settled what b had prepared');
is(rig_prepared_xacts($node_b), '0', 'hung peer: nothing prepared on b after rig_resolve()');
is( note_count($node_a, 'b hung') . note_count($node_b, 'b hung')
	  . note_count($node_a, 'b hung, new session') . note_count($node_b, 'b hung, new session'),
	'0000', 'hung peer: the ops are on neither node');
is(log_state($node_b), $log_before_b, "hung peer: b's log unchanged");

($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b awake"}')});
is($err, '', 'hung peer woke up: the same session writes again');
is(note_count($node_b, 'b awake'), '1', 'hung peer woke up: the write reached b');
rig_same_ok($node_a, [ $node_b ], '(b) peer hung and back', $notes);

###########################################################################
# (c) cancel while waiting for a hung peer
###########################################################################

my $s2 = rig_session($node_a);
rig_bg_query($s2, q{SET rig.sync_timeout = '60s'});
($out, $err) = rig_bg_query($s2, q{SELECT rig_do('note', '{"body": "s2 first"}')});
is($err, '', 'cancel: the session wrote once (it has a connection to b)');
my ($pid) = rig_bg_query($s2, 'SELECT pg_backend_pid()');
my @b_conns = rig_backends($node_b);    # $s's, then $s2's (the newest)
is(scalar(@b_conns), 2, 'cancel: b serves the connections of both sessions');
$log_before   = log_state($node_a);
$log_before_b = log_state($node_b);

rig_freeze($node_b);
$s2->{stdin} .= qq{SELECT rig_do('note', '{"body": "cancelled"}');\n\\echo CANCEL_DONE\n};
$s2->{run}->pump_nb;
ok( $node_a->poll_query_until(
		'postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE pid = $pid AND state = 'active' AND query LIKE '%rig_do%cancelled%'
   AND wait_event_type = 'Extension'}),
	'cancel: rig_do is waiting for the hung peer');
my $t0 = time;
is($node_a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel: sent');
my $timer = IPC::Run::timer(30);
pump_until($s2->{run}, $timer, \$s2->{stdout}, qr/CANCEL_DONE/);
$el = time - $t0;
$err = $s2->{stderr};
$s2->{stderr} = '';
$s2->{stdout} = '';
note sprintf('cancel: %.2fs: %s', $el, $err);
is(sqlstate_of($err), '08007', 'cancel after PREPARE was sent: rig_do fails with 08007');
like($err, qr/DETAIL:\s+canceling statement due to user request/, 'cancel: the detail says it was cancelled');
cmp_ok($el, '<', 5, 'cancel: served promptly (rig.sync_timeout is 60 s)');
is(log_state($node_a), $log_before, 'cancel: nothing committed on the primary');
rig_thaw($node_b);

wait_rig_backends_only($node_b, $b_conns[0]);
$left = rig_prepared_xacts($node_b);
note "cancel: prepared on b after it woke up: $left";
($nleft) = $left =~ /^(\d+)/;
is($node_a->safe_psql('postgres', 'SELECT rig_resolve()'), $nleft,
	'cancel: rig_resolve() settled what b had prepared');
is(rig_prepared_xacts($node_b), '0', 'cancel: nothing prepared on b after rig_resolve()');
is(note_count($node_a, 'cancelled') . note_count($node_b, 'cancelled'), '00',
	'cancel: the op is on neither node');
is(log_state($node_b), $log_before_b, "cancel: b's log unchanged");

($out, $err) = rig_bg_query($s2, q{SELECT rig_do('note', '{"body": "after cancel"}')});
is($err, '', 'cancel: the session writes again');
rig_same_ok($node_a, [ $node_b ], '(c) cancel', $notes);
$s2->quit;

###########################################################################
# (d) two sync peers, one down
###########################################################################

$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('c', \$\$" . $node_c->connstr('postgres') . "\$\$)");
($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b and c"}')});
is($err, '', 'two peers: a write succeeds');
rig_same_ok($node_a, [ $node_b, $node_c ], 'two sync peers', $notes);

$log_before   = log_state($node_a);
$log_before_b = log_state($node_b);
$node_c->stop('immediate');
@b_conns = rig_backends($node_b);

# d1: a new session: b gets the ops, then connecting to c fails.
($err, $el) = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "c down 1"}')});
note sprintf('c down, new session: %.2fs: %s', $el, $err);
like(sqlstate_of($err), qr/^08/, 'c down, new session: SQLSTATE class 08');
like(message_of($err), qr/peer "c"/, 'c down, new session: the message names c');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack, 'c down, new session: failed within rig.sync_timeout');
is(log_state($node_a), $log_before, 'c down, new session: nothing committed on the primary');
# before anything else (no rig_resolve): the abort path must have undone b
wait_rig_backends_only($node_b, @b_conns);
{
	is(rig_prepared_xacts($node_b), '0',
		'c down, new session: no prepared transaction on b after the failure, without rig_resolve()');
}
is(log_state($node_b), $log_before_b, "c down, new session: b's log unchanged");

# The resolver cleans up whatever the abort path left.
$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
is(rig_prepared_xacts($node_b), '0', 'c down, new session: nothing prepared on b after rig_resolve()');

# d2: a session with cached connections to both.
($out, $err, $el) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "c down 2"}')});
note sprintf('c down, cached connections: %.2fs: %s', $el, $err);
like(sqlstate_of($err), qr/^08/, 'c down, cached connections: SQLSTATE class 08');
{

	like(message_of($err), qr/peer "c"/, 'c down, cached connections: the message names c');
}
like($err, qr/peer "c"/, 'c down, cached connections: the error names c somewhere');
cmp_ok($el, '<', $sync_timeout / 1000 + $slack,
	'c down, cached connections: failed within rig.sync_timeout');
is(log_state($node_a), $log_before, 'c down, cached connections: nothing committed on the primary');
# b prepared and answered, c failed: the abort path rolls b back itself.
is(rig_prepared_xacts($node_b), '0',
	'c down, cached connections: no prepared transaction on b, without rig_resolve()');
is(log_state($node_b), $log_before_b, "c down, cached connections: b's log unchanged");

is(note_count($node_a, 'c down 1') . note_count($node_a, 'c down 2')
	  . note_count($node_b, 'c down 1') . note_count($node_b, 'c down 2'),
	'0000', 'c down: the ops are on neither a nor b');

$node_c->start;
is(rig_prepared_xacts($node_c), '0', 'c back: nothing prepared on c');
is($node_c->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body LIKE 'c down%'}),
	'0', 'c back: the failed ops are not on c');
($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "c back"}')});
is($err, '', 'c back: the session writes again');
is(note_count($node_c, 'c back'), '1', 'c back: the write reached c');
rig_same_ok($node_a, [ $node_b, $node_c ], '(d) c down and back', $notes);

###########################################################################
# (e) a slow handler on b: b's backend does not run on after a gave up
###########################################################################

$log_before = log_state($node_a);
($out, $err, $el) = rig_bg_query($s, q{SELECT rig_do('slow', '{}')});
note sprintf('slow handler on b: %.2fs: %s', $el, $err);
like($err, qr/peer "b" did not prepare the transaction within rig\.sync_timeout/,
	'slow handler on b: the commit fails when b does not prepare in time');
is(log_state($node_a), $log_before, 'slow handler on b: nothing committed on the primary');
$t0 = time;
ok( poll_for(
		$node_b,
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'rig' AND wait_event = 'PgSleep'},
		10),
	"slow handler on b: b's backend stops within 10 s (not after the handler's 60 s)");
note sprintf("slow handler on b: b's backend gone %.2fs after the commit failed", time - $t0);
ok( poll_for($node_b, q{SELECT in_flight = 0 FROM rig.status}, 10),
	"slow handler on b: no version is left in flight on b (its watermark is not held back)");
$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
rig_same_ok($node_a, [ $node_b, $node_c ], '(e) slow handler on b', $notes);

###########################################################################
# (f) a cached connection left busy by a cancel is not reused
###########################################################################

# rig_sync_peer and rig_resolve, cancelled (statement_timeout) while b is
# hung, leave their query unanswered on the session's connection to b; b
# answers once it wakes up.  The session's next write must not read that
# answer as its own (nor fail with a false timeout).
for my $call ('rig_sync_peer(\'b\')', 'rig_resolve()')
{
	my $s3 = rig_session($node_a);
	($out, $err) = rig_bg_query($s3, q{SELECT rig_do('note', '{"body": "s3 first"}')});
	is($err, '', "cancelled $call: the session wrote once (it has a connection to b)");
	rig_freeze($node_b);
	($out, $err, $el) = rig_bg_query($s3, "SET statement_timeout = '1s'; SELECT $call; RESET statement_timeout;");
	rig_thaw($node_b);
	note sprintf("cancelled $call: %.2fs: %s", $el, $err);
	is(sqlstate_of($err), '57014', "cancelled $call: cancelled by statement_timeout");
	($out, $err) = rig_bg_query($s3, q{SELECT rig_do('note', '{"body": "after a cancelled call"}')});
	is($err, '', "cancelled $call: the session's next write succeeds");
	$s3->quit;
}
is(note_count($node_b, 'after a cancelled call'), '2', 'cancelled calls: the later writes reached b');
rig_same_ok($node_a, [ $node_b, $node_c ], '(f) cancelled calls', $notes);

###########################################################################
# (g) rig_add_peer cancelled while it connects leaves no connection open
###########################################################################

@b_conns = rig_backends($node_b);
my $s4 = rig_session($node_a);
rig_freeze($node_b);
($out, $err, $el) = rig_bg_query($s4,
	"SET statement_timeout = '1s'; SELECT rig_add_peer('d', \$\$" . $node_b->connstr('postgres') . "\$\$);");
rig_thaw($node_b);
note sprintf('cancelled connect: %.2fs: %s', $el, $err);
is(sqlstate_of($err), '57014', 'cancelled connect: rig_add_peer cancelled by statement_timeout');
ok( poll_for(
		$node_b,
		'SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = \'rig\' AND pid NOT IN ('
		  . join(', ', 0, @b_conns) . ')',
		15),
	'cancelled connect: the half-open connection to b was closed (its session still open)');
$s4->quit;

###########################################################################
# (h) rig_sync_peer returns b to sync, and commits do not wait for its
#     transaction to end
###########################################################################

my $s5 = rig_session($node_a);
($out, $err) = rig_bg_query($s5, q{BEGIN; SELECT rig_sync_peer('b');});
is($err, '', 'gate: rig_sync_peer(b) ran in an open transaction');
($out, $err, $el) = rig_bg_query($s,
	q{SET lock_timeout = '1s'; SELECT rig_do('note', '{"body": "while sync_peer is open"}'); RESET lock_timeout;});
note sprintf('gate: %.2fs: %s', $el, $err);
is($err, '', "gate: a commit is not blocked by the commit gate of rig_sync_peer's open transaction");
rig_bg_query($s5, 'COMMIT');
$s5->quit;
rig_same_ok($node_a, [ $node_b, $node_c ], '(h) gate', $notes);

$s->quit;
done_testing();
