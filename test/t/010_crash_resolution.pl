
# Copyright (c) 2026, rig developers

# Crashes in the middle of rig's two-phase commit (DESIGN.md §6), with a
# primary "a" and one sync peer "b".  rig.fault_point pauses the committing
# backend at a precise step; the test then kills a server with SIGKILL and
# restarts it, and checks what a user would check afterwards:
#
#  (a1) a's postmaster killed after b prepared, before a's local commit:
#       nothing is left prepared on b; the op is on neither node.
#  (b)  a's postmaster killed after its local commit, before COMMIT
#       PREPARED: a's worker commits it on b; the op is on both nodes.
#  (c)  b killed (every process) while it holds the prepared transaction
#       (a paused after its local commit), then restarted: the prepared
#       transaction survives b's crash, and a's worker commits it on b.
#  (a2) every process of a killed at once (a power loss) after b prepared,
#       before a's local commit: a's worker rolls b's prepared transaction
#       back (presumed abort); the op is on neither node.
#
# While a transaction is in doubt, rig.in_doubt on b shows it with its age
# (a's resolver is kept off with rig.resolver_interval = -1 until then).
# After each case: nothing is left prepared, both nodes hold the same
# rig.log and handler table, and the pair takes writes again.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 10000
rig.resolver_interval = -1
};

###########################################################################
# Helpers
###########################################################################

# (crash(), poll_for(), rig_set_resolver(), rig_prepared_xacts(), rig_where_is() and
# rig_same_ok() come from RigTestLib.)

my $notes = 'SELECT * FROM notes ORDER BY id';

my ($node_a, $node_b);

# rig.in_doubt on the peer: one transaction of a's, with an age.
sub check_in_doubt
{
	my ($what, $min_age) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $row = $node_b->safe_psql('postgres', qq{
SELECT count(*) || ' ' || bool_and(gid LIKE 'rig\\_a\\_%') || ' ' ||
       bool_and(age >= interval '$min_age seconds') || ' ' || bool_and(age < interval '10 minutes') || ' ' ||
       bool_and(first_version > 0 AND first_version = last_version)
  FROM rig.in_doubt});
	is($row, '1 true true true true',
		"$what: rig.in_doubt on b shows a's prepared transaction with its version and age (>= $min_age s)");
}

sub in_doubt_age
{
	return $node_b->safe_psql('postgres',
		'SELECT floor(extract(epoch FROM max(age)))::int FROM rig.in_doubt');
}

###########################################################################
# Nodes and handlers
###########################################################################

my $handlers = rig_notes_sql();

$node_a = rig_node('a', conf => $conf);
$node_b = rig_node('b', conf => $conf);
$_->safe_psql('postgres', $handlers) for ($node_a, $node_b);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'sync')");
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "before"}')});
rig_same_ok($node_a, [ $node_b ], 'before the crashes', $notes);

# After a restart of a, its sync peer is "unknown" until a's worker has
# checked it; then writes work again.
sub writes_again
{
	my ($what, $body) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $node_a->poll_query_until(
			'postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}),
		"$what: a's worker brought b back to in_sync");
	# the resolver's COMMIT PREPARED counts as the peer's acknowledgement
	ok( $node_a->poll_query_until(
			'postgres', q{SELECT versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
		"$what: rig.peer_status shows b 0 versions behind")
	  or diag $node_a->safe_psql('postgres', 'SELECT state, versions_behind FROM rig.peer_status');
	my ($ret, $out, $err) = $node_a->psql('postgres',
		qq{SELECT rig_do('note', '{"body": "$body"}')});
	is($ret, 0, "$what: a takes writes again") or diag $err;
	is(rig_where_is($node_b, $body), '1/1', "$what: the new write reached b");
}

###########################################################################
# (a0) primary killed after it connected to the peer, before it sent
# anything (the versions' WAL is checked first, then BEGIN, the ops and
# PREPARE leave in one write): the peer holds nothing
###########################################################################

# a's connections to b, and those of them in a transaction
my $peer_conns = q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rig'};
my $peer_in_tx = q{SELECT (SELECT count(*) FROM pg_stat_activity
 WHERE application_name = 'rig' AND backend_xid IS NOT NULL)};
my ($s, $pid) = rig_start_paused($node_a, 'before_prepare', 'crash-a0');
ok($node_b->poll_query_until('postgres', "SELECT ($peer_conns) > 0"),
	'(a0) paused before the ops are sent: a is connected to b');
is($node_b->safe_psql('postgres', $peer_in_tx), '0',
	'(a0) paused before the ops are sent: no transaction of a is open on b');
is(rig_prepared_xacts($node_b), '0', '(a0) paused before the ops are sent: nothing is prepared on b');
$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
crash($node_a, 'all');
unlike(rig_client_end($s), qr/version=/, '(a0) the client got no version');
ok($node_b->poll_query_until('postgres', "$peer_in_tx = 0"),
	"(a0) no transaction of a is open on b after the crash");
$node_a->start;
is(rig_where_is($node_a, 'crash-a0'), '0/0', '(a0) the op is not on a');
is(rig_where_is($node_b, 'crash-a0'), '0/0', '(a0) the op is not on b');
rig_same_ok($node_a, [ $node_b ], '(a0) after the restart', $notes);
writes_again('(a0)', 'after-a0');
rig_set_resolver($node_a, -1);

###########################################################################
# (a1) primary killed after the peer prepared, before the local commit
###########################################################################

# SIGKILL to a's postmaster (only).  The paused backend notices the
# postmaster's death and exits; it is still before the local commit, so
# its transaction aborts.
($s, $pid) = rig_start_paused($node_a, 'after_peer_prepare', 'crash-a1');
check_in_doubt('(a1) paused before the local commit', 0);
is(rig_where_is($node_a, 'crash-a1'), '0/0', '(a1) paused: the op is not committed on a');
is(rig_where_is($node_b, 'crash-a1'), '0/0', '(a1) paused: the op is not committed on b');

# a's worker resolves as soon as a is back
$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
crash($node_a, 'postmaster');
my $res = rig_client_end($s);
unlike($res, qr/version=/, '(a1) the client got no version');
like($s->{stderr}, qr/server closed the connection|connection to server was lost|terminating connection/,
	'(a1) the client lost its connection');

$node_a->start;
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	"(a1) nothing is left prepared on b");
is(rig_where_is($node_a, 'crash-a1'), '0/0', '(a1) the op is not on a');
is(rig_where_is($node_b, 'crash-a1'), '0/0', '(a1) the op is not on b (rolled back)');
rig_same_ok($node_a, [ $node_b ], '(a1) after resolution', $notes);
writes_again('(a1)', 'after-a1');

###########################################################################
# (b) primary killed after the local commit, before COMMIT PREPARED
###########################################################################

rig_set_resolver($node_a, -1);
($s, $pid) = rig_start_paused($node_a, 'after_local_commit', 'crash-b');
is(rig_where_is($node_a, 'crash-b'), '1/1', '(b) paused: the op is committed on a');
is(rig_where_is($node_b, 'crash-b'), '0/0', '(b) paused: the op is not yet committed on b');
check_in_doubt('(b) paused after the local commit', 0);

$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
my $offset = -s $node_a->logfile;
# every process at once: the paused backend cannot send COMMIT PREPARED
crash($node_a, 'all');
$res = rig_client_end($s);
unlike($res, qr/version=/, '(b) the client got no version (its connection died first)');

check_in_doubt('(b) a is down', 0);
is(rig_where_is($node_b, 'crash-b'), '0/0', '(b) a is down: the op is still only prepared on b');
$node_a->start;
is(rig_where_is($node_a, 'crash-b'), '1/1', '(b) after the restart the op is committed on a');
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	"(b) a's worker settled the prepared transaction on b");
is(rig_where_is($node_b, 'crash-b'), '1/1', '(b) the op is committed on b');
rig_same_ok($node_a, [ $node_b ], '(b) after resolution', $notes);
writes_again('(b)', 'after-b');
rig_same_ok($node_a, [ $node_b ], '(b) after a new write', $notes);

###########################################################################
# (b2) only the postmaster dies while a backend waits inside the COMMIT
# callback: the backend must not exit there (that would PANIC on a committed
# transaction); it finishes its second phase, and the op is on both nodes.
###########################################################################

rig_set_resolver($node_a, -1);
($s, $pid) = rig_start_paused($node_a, 'after_local_commit', 'crash-b2');
$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
$offset = -s $node_a->logfile;
crash($node_a, 'postmaster');
rig_client_end($s);
unlike(slurp_file($node_a->logfile, $offset), qr/PANIC/,
	'(b2) no PANIC on a when its postmaster dies during the COMMIT callback');
$node_a->start;
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'(b2) nothing left prepared on b');
is(rig_where_is($node_a, 'crash-b2'), '1/1', '(b2) the op is committed on a');
is(rig_where_is($node_b, 'crash-b2'), '1/1', '(b2) the op is committed on b');
rig_same_ok($node_a, [ $node_b ], '(b2) after resolution', $notes);

###########################################################################
# (c) peer killed while it holds the prepared transaction
###########################################################################

rig_set_resolver($node_a, -1);
($s, $pid) = rig_start_paused($node_a, 'after_local_commit', 'crash-c');
is(rig_where_is($node_a, 'crash-c'), '1/1', '(c) paused: the op is committed on a');
check_in_doubt('(c) paused after the local commit', 0);

crash($node_b, 'all');
$node_b->start;
# The prepared transaction survived b's crash, and is still in doubt (a's
# resolver is off); its age did not start again.
$node_b->poll_query_until('postgres', 'SELECT extract(epoch FROM max(age)) >= 1 FROM rig.in_doubt');
check_in_doubt('(c) b restarted', 1);
is(rig_where_is($node_b, 'crash-c'), '0/0', '(c) b restarted: the op is only prepared on b');

# Let the paused backend go on: a pending interrupt ends the pause after the
# local commit; the COMMIT PREPARED it then tries goes to a dead connection.
is($node_a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', '(c) cancel sent');
$res = $s->query_until(qr/done/, '');
note "(c) the client saw: stdout: $res stderr: $s->{stderr}";
like($res, qr/version=\d+/, '(c) the client got the version of its committed op');
$s->quit;
is(rig_where_is($node_a, 'crash-c'), '1/1', '(c) the op is committed on a');
is(rig_where_is($node_b, 'crash-c'), '0/0', '(c) resolver off: the op is still only prepared on b');
check_in_doubt('(c) before resolution', 1);

my $offset_a = -s $node_a->logfile;
my $offset_b = -s $node_b->logfile;
rig_set_resolver($node_a, 200);
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	"(c) a's worker committed the prepared transaction on b");
is(rig_where_is($node_b, 'crash-c'), '1/1', '(c) the op is committed on b');
rig_same_ok($node_a, [ $node_b ], '(c) after resolution', $notes);
writes_again('(c)', 'after-c');
rig_same_ok($node_a, [ $node_b ], '(c) after a new write', $notes);
# The worker's cached connection to b died with b: it must notice and
# reconnect rather than fail a round, and its catch-up must never ship b a
# version b still holds prepared (it would wait on it for rig.sync_timeout,
# then fail on rig.log's primary key).
unlike(slurp_file($node_a->logfile, $offset_a), qr/could not resolve prepared transactions on peer "b"/,
	'(c) the worker resolved on the restarted b at its first attempt');
unlike(slurp_file($node_b->logfile, $offset_b), qr/duplicate key value violates unique constraint "log_pkey"/,
	'(c) catch-up never shipped b a version it held prepared');

###########################################################################
# (a2) every process of the primary killed after the peer prepared
###########################################################################

# Like a power loss: nobody on a rolls b back; a's worker must do it after
# the restart (presumed abort: a has no commit record for it).
rig_set_resolver($node_a, -1);
($s, $pid) = rig_start_paused($node_a, 'after_peer_prepare', 'crash-a2');
check_in_doubt('(a2) paused before the local commit', 0);
my $gid = $node_b->safe_psql('postgres', 'SELECT gid FROM rig.in_doubt');
$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
crash($node_a, 'all');
$res = rig_client_end($s);
unlike($res, qr/version=/, '(a2) the client got no version');

check_in_doubt('(a2) a is down', 0);
is(rig_where_is($node_b, 'crash-a2'), '0/0', '(a2) a is down: the op is only prepared on b');
$offset = -s $node_a->logfile;
$node_a->start;
my $settled = poll_for($node_b, 'SELECT count(*) = 0 FROM pg_prepared_xacts', 15);
ok($settled, "(a2) a's worker rolled back the prepared transaction on b");
if (!$settled)
{
	my ($warning) = grep { /WARNING/ } split /\n/, slurp_file($node_a->logfile, $offset);
	note "(a2) $gid still prepared on b; a's worker says, every round: " . ($warning // '(nothing)');
	# What happens next: an ordinary transaction on a takes the next xid.
	my $xid = $node_a->safe_psql('postgres', 'SELECT txid_current()');
	note "(a2) the next xid a handed out: $xid (the crashed transaction's GID: $gid)";
	poll_for($node_b, 'SELECT count(*) = 0 FROM pg_prepared_xacts', 30);
}
is(rig_prepared_xacts($node_b), '0', '(a2) nothing is left prepared on b');
is(rig_where_is($node_a, 'crash-a2'), '0/0', '(a2) the op is not on a');
{
	is(rig_where_is($node_b, 'crash-a2'), '0/0', '(a2) the op is not on b (rolled back)');
	my $dump_a = rig_log_dump($node_a, $notes);
	is(rig_log_dump($node_b, $notes), $dump_a,
		'(a2) after resolution: b has the same rig.log and notes as a');
}

###########################################################################
# (d) a replica's watermark stays below the versions it holds prepared,
# also after the replica restarts
###########################################################################

rig_set_resolver($node_a, -1);
($s, $pid) = rig_start_paused($node_a, 'after_peer_prepare', 'held');
my $held = $node_b->safe_psql('postgres', 'SELECT first_version FROM rig.in_doubt');
like($held, qr/^\d+$/, '(d) rig.in_doubt on b names the version it holds prepared');
my $below_held = qq{SELECT rig_watermark() = $held - 1,
       (SELECT count(*) FROM rig_log_since(0, 100000) WHERE version >= $held) = 0};
is($node_b->safe_psql('postgres', $below_held), "t|t",
	'(d) b: watermark below the prepared version; rig_log_since stops before it');

# a later op commits on both while the earlier one stays prepared on b
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after-held"}')});
is(rig_where_is($node_b, 'after-held'), '1/1', '(d) a later op committed on b');
is($node_b->safe_psql('postgres', "SELECT rig_last_version() > $held"), 't',
	"(d) b's last version is past the prepared one");
is($node_b->safe_psql('postgres', $below_held), "t|t",
	'(d) b: watermark and rig_log_since still stop below the prepared version');

crash($node_b, 'all');
$node_b->start;
# (restarted, b's watermark waits for a to confirm what b holds: 0 until then)
is($node_b->safe_psql('postgres', qq{SELECT rig_watermark() < $held,
       (SELECT count(*) FROM rig_log_since(0, 100000) WHERE version >= $held) = 0}), "t|t",
	'(d) after b restarts: watermark and rig_log_since still stop below the prepared version');

# the paused backend dies before its local commit: the resolver rolls b back
$node_a->safe_psql('postgres', 'ALTER SYSTEM SET rig.resolver_interval = 200');
crash($node_a, 'postmaster');
rig_client_end($s);
$node_a->start;
ok($node_b->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	"(d) a's worker rolled back the prepared transaction on b");
is($node_b->safe_psql('postgres', 'SELECT rig_watermark() = rig_last_version()'), 't',
	"(d) b's watermark is its last version again");
rig_same_ok($node_a, [ $node_b ], '(d) after resolution', $notes);

done_testing();
