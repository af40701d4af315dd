
# Copyright (c) 2026, rig developers

# What a client is told when a commit fails (issue 10, item 1): an error
# raised after PREPARE TRANSACTION went out to a peer is 08007
# (transaction_resolution_unknown), with the peer's message in the detail
# and a hint to retry with the same idempotency key, unless every peer
# that was sent PREPARE is known not to hold it.  Every other error is
# definite: the op is never committed anywhere later.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $sync_timeout = 2000;    # ms
my $conf = qq{max_prepared_transactions = 20\nrig.sync_timeout = $sync_timeout\n};

# notes; the apply handler raises on b only when the data says so
my $handlers = rig_notes_sql() . q{
CREATE OR REPLACE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce((d->>'fail_on_b')::boolean, false)
	   AND current_setting('rig.node_name') = 'b' THEN
		RAISE EXCEPTION 'note "%" refused by b', d->>'body' USING ERRCODE = 'RG042';
	END IF;
	INSERT INTO public.notes VALUES (v, coalesce(d->>'body', ''));
END $$;
};

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my $node_c = rig_node('c', conf => $conf);
$_->safe_psql('postgres', $handlers) for ($node_a, $node_b, $node_c);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");

sub where_is
{
	my ($body) = @_;
	return rig_query_each([ $node_a, $node_b, $node_c ],
		"SELECT count(*) FROM notes WHERE body = '$body'");
}

my $s = rig_session($node_a);
my ($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "first"}')});
is($err, '', 'a write succeeds while b is up');

###########################################################################
# A peer that does not answer after PREPARE was sent: 08007
###########################################################################

rig_freeze($node_b);
($out, $err) = rig_bg_query($s,
	q{SELECT rig_do('note', '{"body": "hung"}', 'key-hung')});
note "hung peer: $err";
is(sqlstate_of($err), '08007', 'peer hung after PREPARE was sent: 08007');
is(message_of($err), 'the outcome of this transaction is unknown',
	'08007: the message says the outcome is unknown');
like($err, qr/DETAIL:\s+peer "b" did not prepare the transaction within rig\.sync_timeout/,
	"08007: the peer's original message is in the detail");
like($err, qr/HINT:\s+Retry with the same idempotency key/,
	'08007: the hint says to retry with the same idempotency key');
rig_thaw($node_b);

# b prepares what it had in its socket once it wakes up; the resolver
# settles it by a's decision (a aborted): nowhere, on every node
ok($node_b->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'rig'}),
	'hung peer: b served the dropped connection to its end');
$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
is(rig_prepared_xacts($node_b), '0', 'hung peer: nothing left prepared on b after rig_resolve()');
is(where_is('hung'), '0 / 0 / 0', 'hung peer: the op is committed nowhere');

# the client retries with the same key: applied once, one version
($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "hung"}', 'key-hung')});
is($err, '', 'retry with the same key succeeds');
my ($out2) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "hung"}', 'key-hung')});
is($out2, $out, 'a second retry returns the same version');
is(where_is('hung'), '1 / 1 / 0', 'after the retry the op is applied once on a and b');

###########################################################################
# A cancel while waiting for the peer's PREPARE: 08007
###########################################################################

my ($sp, $pid) = rig_start_paused($node_a, 'after_peer_prepare', 'paused');
is($node_a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel sent');
rig_client_end($sp);
note "cancel after PREPARE: $sp->{stderr}";
is(sqlstate_of($sp->{stderr}), '08007', 'cancel after the peers prepared: 08007');
like($sp->{stderr}, qr/DETAIL:\s+canceling statement due to user request \(SQLSTATE 57014\)/,
	'cancel: the detail keeps the cancel');
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'cancel: the abort rolled back what b prepared');
is(where_is('paused'), '0 / 0 / 0', 'cancel: the op is committed nowhere');

###########################################################################
# A handler error on the only peer: its own SQLSTATE, definite
###########################################################################

($out, $err) = rig_bg_query($s,
	q{SELECT rig_do('note', '{"body": "refused", "fail_on_b": true}', 'key-refused')});
is(sqlstate_of($err), 'RG042', "handler error on the only sync peer: the peer's SQLSTATE");
like($err, qr/note "refused" refused by b/, "handler error: the peer's message");

###########################################################################
# Two sync peers, a handler error on one: the other's PREPARE is rolled
# back before the error is raised, so the error stays definite
###########################################################################

$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('c', \$\$" . $node_c->connstr('postgres') . "\$\$)");
($out, $err) = rig_bg_query($s,
	q{SELECT rig_do('note', '{"body": "refused2", "fail_on_b": true}', 'key-refused2')});
is(sqlstate_of($err), 'RG042', 'handler error on b, c prepared: still the definite RG042');
is(rig_prepared_xacts($node_c), '0', 'handler error on b: c holds nothing prepared');

# definite means never committed later: not after a restart and the resolver
$node_a->stop('immediate');
$node_a->start;
$s = rig_session($node_a);
$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
is(where_is('refused') . ' | ' . where_is('refused2'), '0 / 0 / 0 | 0 / 0 / 0',
	'definite errors: the ops are committed nowhere after a restart and rig_resolve()');
is(rig_prepared_xacts($node_b) . rig_prepared_xacts($node_c), '00', 'nothing prepared on b or c');

###########################################################################
# An error before any PREPARE was sent (peer down at connect): definite
###########################################################################

$node_a->safe_psql('postgres', q{SELECT rig_drop_peer('c')});
$node_b->stop('immediate');
($err) = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "b down"}', 'key-down')});
like(sqlstate_of($err), qr/^080(01|06)$/, 'peer down at connect: a definite 08001/08006');
$node_b->start;
$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
is(where_is('b down'), '0 / 0 / 0', 'peer down: the op is committed nowhere');
($out, $err) = rig_bg_query($s, q{SELECT rig_do('note', '{"body": "b back"}')});
is($err, '', 'writes work again once b is back');

###########################################################################
# NOTIFY in a transaction that prepares on peers: refused before PREPARE
###########################################################################

# PostgreSQL queues notifications after rig's PRE_COMMIT, where a failure
# would reach the client as definite while b held the op prepared (found
# by the break-it review): such a transaction is refused, definitely.
($err) = rig_psql_error($node_a,
	q{BEGIN; SELECT rig_do('note', '{"body": "notified"}', 'key-notify'); NOTIFY rig_test; COMMIT;});
is(sqlstate_of($err), '0A000', 'rig_do + NOTIFY with a sync peer: refused with 0A000');
like($err, qr/cannot NOTIFY, LISTEN or UNLISTEN/, 'rig_do + NOTIFY: the error says why');
is(where_is('notified'), '0 / 0 / 0', 'rig_do + NOTIFY: the op is committed nowhere');
is(rig_prepared_xacts($node_b), '0', 'rig_do + NOTIFY: nothing prepared on b');
$node_a->safe_psql('postgres',
	q{SELECT rig_do('note', '{"body": "notified"}', 'key-notify'); NOTIFY rig_test;});
is(where_is('notified'), '1 / 1 / 0', 'the op, then NOTIFY in its own transaction: both work');

done_testing();
