
# Copyright (c) 2026, rig developers

# Transactions across nodes under attack (issue 12, a break-it pass): the
# interleavings of TAP 036 that it did not force, on the bank transfer of
# examples/transfer.sql between "east" (the coordinator, accounts 1-3) and
# "west" (accounts 4-6).  In each part west's prepare waits for a lock
# held by a session of the test, so the transaction stays preparing for as
# long as the part needs.
#
#  (1) Two client aborts at once: the second waits for the first and says
#      "aborting" (it raised "it cannot become aborting" before).
#  (2) rig_drop_node racing a start that has not committed: the drop waits
#      for it and refuses (before, it dropped the node and the transaction
#      could never end); a start racing a drop not committed yet fails
#      "not registered".
#  (3) The same idempotency key from two sessions at once: other branches
#      -> "already used for another transaction" naming the client's key;
#      the same branches with another timeout -> the same id (as one after
#      the other; before, the second failed on rig's internal key).
#  (4) rig_transaction_wait with a timeout beyond 64-bit microseconds is
#      out of range (it wrapped and returned at once), one past the last
#      timestamp waits; a wait cancelled by pg_cancel_backend leaves
#      its session usable; a start in a transaction that rolls back runs
#      nothing on any node.
#  (5) A client holding a lock that a branch on the coordinator itself
#      needs: the worker's call there waits at most 1 s (lock_timeout)
#      and is retried after a backoff, so other transactions go on and the
#      stuck one times out (before, the worker waited for the client, and every
#      transaction with it).
#  (6) A prepare refused because its data is too large for the branch
#      node (rig.max_payload): the abort's claim of the prepare's key
#      carried the same data, failed the same way, and the transaction
#      ended "failed"; now the claim carries only transaction and branch.
#  (7) rig_add_node of one name from two sessions at once: the second
#      says "already exists" (42710), not a unique violation of
#      rig.remote_nodes (23505).
#  (8) kill -9 of the coordinator after west's claim of a refused
#      prepare's key committed and before the coordinator recorded it (a
#      point TAP 036 does not reach: its claims there are on the
#      coordinator, undone by the crash): the retry finds the claim made,
#      west's branch is released, and nothing else of it is in west's log.
#  (9) A coordinator failover with a branch on the coordinator itself
#      (the bank example's east): the promoted replica east2 ran none of
#      east's branch calls (east is neither its name nor a registered
#      node: "will be retried" forever); a branch on the coordinator is now
#      marked on_coordinator and runs wherever the coordinator's log is
#      primary.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
rig.sync_timeout = 2000
log_min_messages = log
};

my ($east, $west) = rig_xfer_pair($conf);
my $total = 6000;

sub money_ok
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(rig_xfer_money($east, $west), "$total holds 0", "$what: the total is $total, no hold is left");
}

sub wait_final
{
	my ($id) = @_;
	return $east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')");
}

# west's prepare on account 6 waits while this session holds its row
sub hold_west
{
	my $locker = rig_session($west);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	return $locker;
}

sub release_lock
{
	my ($locker) = @_;
	$locker->query_safe('ROLLBACK');
	$locker->quit;
}

my $branches = rig_xfer_branches('east', 3, 'west', 6, 10);

# ---- (1) two client aborts at once
{
	my $locker = hold_west();
	my $id = rig_xfer_start($east, $branches, '10min');
	my $first = rig_session($east);
	my $second = rig_session($east);
	$first->query_safe("BEGIN; SELECT rig_transaction_abort($id, 'first');");
	rig_bg_send($second, "SELECT rig_transaction_abort($id, 'second')");
	ok(rig_waits_on_lock($east, 'rig_transaction_abort'), '(1) the second abort waits for the first');
	$first->query_safe('COMMIT');
	my ($out, $err) = rig_bg_result($second);
	is($err, '', '(1) the second abort does not raise');
	like($out, qr/^abort(ing|ed)$/m, '(1) ... it says aborting');
	$first->quit;
	$second->quit;
	release_lock($locker);
	is(wait_final($id), 'aborted', '(1) aborted');
	is($east->safe_psql('postgres', "SELECT reason || '|' || reason_detail FROM rig.transactions WHERE id = $id"),
		'client|first', "(1) with the first client's reason");
	money_ok('(1)');
}

# ---- (2) rig_drop_node racing a start
{
	my $locker = hold_west();
	my $starter = rig_session($east);
	my $dropper = rig_session($east);
	my $id = $starter->query_safe("BEGIN; SELECT rig_transaction_start(\$b\$$branches\$b\$, '10min');");
	rig_bg_send($dropper, "SELECT rig_drop_node('west')");
	ok(rig_waits_on_lock($east, 'rig_drop_node'), '(2) a drop waits for a start using the node');
	$starter->query_safe('COMMIT');
	my ($out, $err) = rig_bg_result($dropper);
	is(sqlstate_of($err), '55006', '(2) ... then refuses');
	like(message_of($err), qr/node "west" has a branch of unfinished transaction $id/, '(2) ... naming it');
	is($east->safe_psql('postgres', q{SELECT count(*) FROM rig.remote_nodes WHERE name = 'west'}), '1',
		'(2) west is still registered');
	release_lock($locker);
	is(wait_final($id), 'committed', '(2) the transaction ends: committed');

	# the other way round: a start waits for a drop, then finds no node
	$dropper->query_safe(q{BEGIN; SELECT rig_drop_node('west');});
	rig_bg_send($starter, "SELECT rig_transaction_start(\$b\$$branches\$b\$)");
	ok(rig_waits_on_lock($east, 'rig_transaction_start'), '(2) a start waits for a drop of its node');
	$dropper->query_safe('COMMIT');
	($out, $err) = rig_bg_result($starter);
	is(sqlstate_of($err), '42704', '(2) ... then fails');
	like(message_of($err), qr/node "west" is not registered/, '(2) ... west is not registered');
	is($east->safe_psql('postgres', q{SELECT count(*) FROM rig.transactions WHERE state NOT IN ('committed', 'aborted')}),
		'0', '(2) no transaction is left unfinished');
	$starter->quit;
	$dropper->quit;
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	money_ok('(2)');
}

# ---- (3) the same idempotency key from two sessions at once
{
	my $locker = hold_west();
	my $one = rig_session($east);
	my $two = rig_session($east);
	my $other = rig_xfer_branches('east', 3, 'west', 6, 20);
	my $id = $one->query_safe("BEGIN; SELECT rig_transaction_start(\$b\$$branches\$b\$, '10min', 'k1');");
	rig_bg_send($two, "SELECT rig_transaction_start(\$b\$$other\$b\$, '10min', 'k1')");
	ok(rig_waits_on_lock($east, 'rig_transaction_start'), '(3) a start with the same key waits for the first');
	$one->query_safe('COMMIT');
	my ($out, $err) = rig_bg_result($two);
	is(sqlstate_of($err), '22023', '(3) other branches with the same key: refused');
	like(message_of($err), qr/idempotency key "k1" was already used for another transaction/,
		"(3) ... naming the client's key");

	my $id2 = $one->query_safe("BEGIN; SELECT rig_transaction_start(\$b\$$branches\$b\$, '10min', 'k2');");
	rig_bg_send($two, "SELECT rig_transaction_start(\$b\$$branches\$b\$, '20min', 'k2')");
	ok(rig_waits_on_lock($east, 'rig_transaction_start'), '(3) the same branches and key wait for the first');
	$one->query_safe('COMMIT');
	($out, $err) = rig_bg_result($two);
	is($err, '', '(3) ... do not raise');
	is($out, $id2, '(3) ... and get the same transaction');
	$one->quit;
	$two->quit;
	release_lock($locker);
	is(wait_final($id), 'committed', '(3) the first transaction commits');
	is(wait_final($id2), 'committed', '(3) the second too');
	is($east->safe_psql('postgres', q{SELECT count(*) FROM rig.transactions WHERE idempotency_key IN ('k1', 'k2')}),
		'2', '(3) one transaction per key');
	money_ok('(3)');
}

# ---- (4) waits: a huge timeout, a cancel; a start rolled back
{
	my $locker = hold_west();
	my $id = rig_xfer_start($east, $branches, '10min');
	# 296520 years (of 360 days) fit in 64-bit microseconds, not added to now
	my $err = rig_psql_error($east,
		"SET statement_timeout = '1s'; SELECT rig_transaction_wait($id, '296520 years')");
	is(sqlstate_of($err), '57014', '(4) a wait with a timeout past the last timestamp waits (here until statement_timeout)');
	$err = rig_psql_error($east, "SELECT rig_transaction_wait($id, '100000000 years')");
	is(sqlstate_of($err), '22008', '(4) a timeout beyond 64-bit microseconds is out of range');

	my $waiter = rig_session($east);
	rig_bg_send($waiter, "SELECT rig_transaction_wait($id)");
	ok($east->poll_query_until('postgres',
			q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT rig_transaction_wait(%'}),
		'(4) a waiting rig_transaction_wait is cancelled');
	my ($out, $err2) = rig_bg_result($waiter);
	is(sqlstate_of($err2), '57014', '(4) ... it raises query_canceled');
	($out, $err2) = rig_bg_query($waiter, "SELECT rig_transaction_abort($id, 'cancelled')");
	is($out, 'aborting', '(4) ... and its session goes on');
	$waiter->quit;
	release_lock($locker);
	is(wait_final($id), 'aborted', '(4) aborted');

	my $west_log = $west->safe_psql('postgres', 'SELECT count(*) FROM rig.log');
	my $txns = $east->safe_psql('postgres', 'SELECT count(*) FROM rig.transactions');
	$east->safe_psql('postgres', "BEGIN; SELECT rig_transaction_start(\$b\$$branches\$b\$); ROLLBACK;");
	# the next transfer's prepare and commit are all that reach west
	is(wait_final(rig_xfer_start($east, $branches)), 'committed', '(4) a start after one rolled back commits');
	is($west->safe_psql('postgres', 'SELECT count(*) FROM rig.log') - $west_log, 2,
		'(4) a start rolled back: nothing of it ran on west');
	is($east->safe_psql('postgres', 'SELECT count(*) FROM rig.transactions') - $txns, 1,
		'(4) ... nor is it on east');
	money_ok('(4)');
}

# ---- (5) a client holds a lock that a branch on the coordinator needs
{
	# the row lock stops xfer.hold on account 1 (its foreign key check)
	my $locker = rig_session($east);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 1 FOR UPDATE;');
	my $stuck = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10), '3s');
	my $other = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 5, 10));
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($other, '20s')"), 'committed',
		'(5) a transfer between other accounts commits while a client holds account 1');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($stuck, '20s')"), 'aborted',
		'(5) the one that needs account 1 ends while the lock is held');
	is(rig_xnode_row($east, $stuck), 'aborted|timeout|', '(5) ... reason timeout');
	release_lock($locker);
	money_ok('(5)');
}

# ---- (6) a prepare refused for its size: the abort claims without the data
{
	$west->append_conf('postgresql.conf', 'rig.max_payload = 2000');
	$west->reload;
	ok($west->poll_query_until('postgres', q{SELECT current_setting('rig.max_payload') = '2000B'}),
		'(6) west takes at most 2000 bytes of data');
	my $big = $east->safe_psql('postgres', q{SELECT rig_transaction_start(jsonb_build_array(
		jsonb_build_object('node', 'east', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
			'data', jsonb_build_object('account', 1, 'amount', -10)),
		jsonb_build_object('node', 'west', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
			'data', jsonb_build_object('account', 4, 'amount', 10, 'memo', repeat('x', 3000)))))});
	is(wait_final($big), 'aborted', '(6) a branch too large for its node: aborted (not failed)');
	is($east->safe_psql('postgres', "SELECT reason || '|' || reason_branch || '|' || reason_detail FROM rig.transactions WHERE id = $big"),
		'branch|1|54000: operation data is too large', '(6) ... reason branch, the node\'s error');
	is($east->safe_psql('postgres', "SELECT string_agg(event, ',' ORDER BY seq) FROM rig.transaction_events WHERE id = $big AND branch = 1"),
		'refused,released', "(6) ... west's branch refused, then released (its key claimed)");
	is($west->safe_psql('postgres', "SELECT method FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$big:1:prepare'"),
		'rig.transaction.claim', "(6) west's prepare key is claimed");
	$west->adjust_conf('postgresql.conf', 'rig.max_payload', '1048576');
	$west->reload;
	money_ok('(6)');
}

# ---- (7) the same node added from two sessions at once
{
	my $west_conninfo = $west->connstr('postgres');
	$east->safe_psql('postgres', q{SELECT rig_drop_node('west')});
	my $one = rig_session($east);
	my $two = rig_session($east);
	$one->query_safe("BEGIN; SELECT rig_add_node('west', \$\$$west_conninfo\$\$);");
	rig_bg_send($two, "SELECT rig_add_node('west', \$\$$west_conninfo\$\$)");
	ok(rig_waits_on_lock($east, 'rig_add_node'), '(7) a second rig_add_node of west waits for the first');
	$one->query_safe('COMMIT');
	my ($out, $err) = rig_bg_result($two);
	is(sqlstate_of($err), '42710', '(7) ... then says it exists (not a unique violation)');
	like(message_of($err), qr/node "west" already exists/, '(7) ... node "west" already exists');
	$one->quit;
	$two->quit;
	is(wait_final(rig_xfer_start($east, $branches)), 'committed', '(7) west is usable');
	money_ok('(7)');
}

# ---- (8) kill -9 of the coordinator after another node's claim, before its record
{
	# west (branch 0) votes no: its abort claims the prepare's key there
	$east->append_conf('postgresql.conf', "rig.fault_point = 'xnode_after_abort'");
	$east->restart;
	my $offset = -s $east->logfile;
	my $id = rig_xfer_start($east, rig_xfer_branches('west', 6, 'east', 3, 100000));
	ok($east->wait_for_log(qr/rig: paused at fault point "xnode_after_abort"/, $offset),
		"(8) the worker paused after the abort calls");
	ok($west->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$id:0:prepare' "
			  . "AND method = 'rig.transaction.claim'"),
		"(8) west's claim of the prepare's key committed");
	$east->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	crash($east, 'all');
	$east->start;
	is(wait_final($id), 'aborted', '(8) after kill -9 the transaction ends: aborted');
	is($east->safe_psql('postgres', "SELECT string_agg(event, ',' ORDER BY seq) FROM rig.transaction_events WHERE id = $id AND branch = 0"),
		'refused,released', "(8) west's branch: refused, then released");
	is($west->safe_psql('postgres', "SELECT count(*) FROM rig.log WHERE idempotency_key LIKE 'rig:%:$id:%'"),
		'1', "(8) the claim is the only op of the transaction in west's log (the retry made no other)");
	money_ok('(8)');
}

# ---- (9) a coordinator failover with a branch on the coordinator itself
{
	my $east2 = rig_node('east2', conf => $conf);
	rig_load_sql($east2, ($ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..") . '/examples/transfer.sql');
	$east->safe_psql('postgres',
		"SELECT rig_add_peer('east2', \$\$" . $east2->connstr('postgres') . "\$\$, 'sync')");
	$east->append_conf('postgresql.conf', "rig.fault_point = 'xnode_after_prepare'");
	$east->restart;
	my $offset = -s $east->logfile;
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10), '10min');
	ok($east->wait_for_log(qr/rig: paused at fault point "xnode_after_prepare"/, $offset),
		'(9) the worker paused after the prepares');
	ok($east2->poll_query_until('postgres', "SELECT state = 'preparing' FROM rig.transactions WHERE id = $id"),
		'(9) east2 knows the transaction');
	crash($east, 'all');
	is($east2->safe_psql('postgres', 'SELECT rig_promote() > 1'), 't', '(9) east2 promoted');
	is($east2->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')"), 'committed',
		"(9) east2 runs the branch on east, its old primary, itself: committed");
	is($east2->safe_psql('postgres', "SELECT count(*) || ' ' || count(DISTINCT idempotency_key) FROM rig.log "
			  . "WHERE idempotency_key LIKE 'rig:%:$id:0:%'")
		  . ' / ' . $west->safe_psql('postgres', "SELECT count(*) || ' ' || count(DISTINCT idempotency_key) "
			  . "FROM rig.log WHERE idempotency_key LIKE 'rig:%:$id:1:%'"),
		'2 2 / 2 2', '(9) each branch prepared and committed once');
	is(rig_xfer_money($east2, $west), "$total holds 0", "(9) the total is $total, no hold is left");
}

done_testing();
