
# Copyright (c) 2026, rig developers

# Break-it pass 13b: snapshots that carry rig's own tables (rig.transactions,
# rig.transaction_events, rig.remote_nodes without the conninfos' secrets)
# and the bootstrap of a coordinator's new peer from them.  The bank
# transfer of examples/transfer.sql: "east" coordinates (accounts 1-3, a
# sync peer east2 that follows all along), "west" (4-6) and "south" (7)
# are branch nodes.
#
#  (1) secrets: west added with password= and sslpassword=, south by a URI
#      with a password: no secret is in rig.snapshot_chunks on east or on
#      the bootstrapped node, nor in the latter's rig.remote_nodes.
#  (2) transactions in every state at the snapshot (committed, aborted,
#      preparing, committing, aborting), two more decided while
#      rig_snapshot() waits for a lock on rig.snapshot_chunks (after its
#      MVCC snapshot), then
#      rig_transaction_prune, rig_drop_node and rig_add_node after it, and
#      compaction: the node bootstrapped from it (east4) ends with the same
#      transactions, events and nodes as east2, and every transaction ends
#      the same.
#  (3) rig_rebuild() on east and on east4 after such a snapshot: no error,
#      rig's tables unchanged, a transfer afterwards commits.
#  (4) a new node with a row of its own in rig.remote_nodes (or
#      rig.transactions) is refused (55000) with nothing loaded, and it
#      stays a primary: it was not made a replica before the refusal.
#  (5) chunk_rows 1: a bootstrap cancelled while rig.transaction_events
#      loads, a newer snapshot taken meanwhile (the half-load is dropped),
#      then a kill -9 of the new node, then one of east (the primary),
#      while the newer one's events load, and the resumed bootstrap: nothing of the older snapshot is left,
#      and the node (east5) agrees with east2 row by row.
#  (6) failover to the bootstrapped east5 (kill -9 of east, rig_promote)
#      while a transaction the snapshot carried is still preparing: east5
#      finishes it, the money adds up.
#  (7) a snapshot on east5 while a rig_do is open (W stays below it) that
#      includes later transaction ops: east7 bootstrapped from it holds
#      east5's transactions, events and nodes.
#  (8) a snapshot without rig's tables (as an earlier build took it):
#      rig_add_peer still refuses the bootstrap (0A000), and the node
#      stays a primary.
#  (9) a snapshot whose handler fingerprint is not this node's: refused
#      (55000), the node stays a primary; after a new snapshot it is
#      bootstrapped.

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
my $transfer = ($ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..") . '/examples/transfer.sql';
my $tables = q{SELECT rig_register_table('xfer.accounts'); SELECT rig_register_table('xfer.holds');
	SELECT rig_register_table('xfer.history')};

# a node of east's shard with the handlers and the registered tables, empty
# a node's role and the primary it follows
my $role = q{SELECT role || '|' || coalesce(primary_name, '') FROM rig.node};

sub east_node
{
	my ($name) = @_;
	my $n = rig_node($name, conf => $conf);
	rig_load_sql($n, $transfer);
	$n->safe_psql('postgres', $tables);
	return $n;
}

my $east = rig_node('east', conf => $conf);
my $west = rig_node('west', conf => $conf);
my $south = rig_node('south', conf => $conf);
rig_xfer_setup($east, { 1 => 1000, 2 => 1000, 3 => 1000 });
rig_xfer_setup($west, { 4 => 1000, 5 => 1000, 6 => 1000 });
rig_xfer_setup($south, { 7 => 1000 });
my $east2 = east_node('east2');
$east->safe_psql('postgres', $tables);
$east->safe_psql('postgres',
	"SELECT rig_add_peer('east2', \$\$" . $east2->connstr('postgres') . "\$\$, 'sync')");

# trust authentication ignores the passwords
my $west_ci = $west->connstr('postgres') . " password=s3cr3t-pw sslpassword=s3cr3t-ssl";
my ($south_host, $south_port) = ($south->host, $south->port);
my $south_uri = "postgresql:///postgres?host=$south_host&port=$south_port&password=s3cr3t-uri";
$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$$west_ci\$\$)");
$east->safe_psql('postgres', "SELECT rig_add_node('south', \$\$$south_uri\$\$)");
like($east->safe_psql('postgres', "SELECT string_agg(conninfo, ' ') FROM rig.remote_nodes"),
	qr/s3cr3t-pw.*s3cr3t-uri/s, 'east keeps the passwords of its nodes');

sub wait_final
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres', "SELECT rig_transaction_wait($id, '120s')");
}

sub caught_up
{
	my ($from, $to) = @_;
	$to->poll_query_until('postgres',
		'SELECT coalesce(max(version), 0) >= ' . $from->safe_psql('postgres', 'SELECT max(version) FROM rig.log')
		  . ' FROM rig.log') or die $to->name . ' did not catch up';
}

my $txn_rows = q{SELECT coalesce((SELECT string_agg(format('%s %s %s %s %s %s %s %s %s %s %s %s', id, state, reason,
		reason_branch, reason_detail, created, deadline, finished, branch_count, idempotency_key, coordinator, branches),
		E'\n' ORDER BY id) FROM rig.transactions), '')
	|| E'\n--\n' || coalesce((SELECT string_agg(format('%s %s %s %s %s %s %s', id, seq, event, branch, detail, at, version),
		E'\n' ORDER BY id, seq) FROM rig.transaction_events), '')};
my $node_rows = q{SELECT coalesce(string_agg(name || ' ' || conninfo || ' ' || added_at, E'\n' ORDER BY name), '')
	FROM rig.remote_nodes};
my $secrets = q{SELECT (SELECT count(*) FROM rig.snapshot_chunks WHERE rows::text LIKE '%s3cr3t%') || ' '
	|| (SELECT count(*) FROM rig.remote_nodes WHERE conninfo LIKE '%s3cr3t%')};
my $accounts = q{SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM xfer.accounts};
my $unfinished = q{SELECT count(*) FROM rig.transactions WHERE state IN ('preparing', 'committing', 'aborting')};
my $all_final = q{SELECT count(*) = 0 FROM rig.transactions WHERE state IN ('preparing', 'committing', 'aborting')};

# ---- (1) + (2) transactions in every state, a snapshot, a new peer bootstrapped from it
my $east4;
my @ids;
{
	my $t1 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10));
	is(wait_final($east, $t1), 'committed', '(2) a transfer east -> west committed');
	my $t2 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 5000));
	is(wait_final($east, $t2), 'aborted', '(2) a transfer beyond the balance aborted');
	my $t3 = rig_xfer_start($east, rig_xfer_branches('east', 2, 'south', 7, 20));
	is(wait_final($east, $t3), 'committed', '(2) a transfer east -> south committed');

	# west: posts wait (committing), then holds wait too (preparing, aborting)
	my $hist = rig_session($west);
	$hist->query_safe('BEGIN; LOCK TABLE xfer.history IN ACCESS EXCLUSIVE MODE');
	my $t4 = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 5, 7), '10min');
	$east->poll_query_until('postgres', "SELECT state = 'committing' FROM rig.transactions WHERE id = $t4")
	  or die 't4 did not reach committing';
	my $holds = rig_session($west);
	$holds->query_until(qr/locking/, "\\echo locking\nBEGIN; LOCK TABLE xfer.holds IN ACCESS EXCLUSIVE MODE;\n");
	$west->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE relation = 'xfer.holds'::regclass AND mode = 'AccessExclusiveLock' AND granted")
	  or die 'no lock on xfer.holds';
	my $t5 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 6, 3), '10min');
	my $t6 = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 6, 4), '10min');
	$east->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM rig.transaction_events WHERE id IN ($t5, $t6) AND event = 'prepared'")
	  or die 'east did not prepare its branches';
	my $ab = $east->safe_psql('postgres', "SELECT rig_transaction_abort($t6)");
	ok($ab eq 'aborting' || $ab eq 'aborted', "(2) the client's abort of a preparing transaction: $ab");

	# rig_snapshot() waits to store its first chunk, after its MVCC snapshot; two transfers end meanwhile
	my $pad = rig_session($east);
	$pad->query_safe('BEGIN; LOCK TABLE rig.snapshot_chunks IN EXCLUSIVE MODE');
	my $snapper = rig_session($east);
	rig_bg_send($snapper, 'SELECT rig_snapshot(2)');
	ok(rig_waits_on_lock($east, 'SELECT rig_snapshot(2)'), '(2) rig_snapshot() waits for the lock on rig.snapshot_chunks');
	my $t7 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'east', 2, 30));
	is(wait_final($east, $t7), 'committed', '(2) a transfer within east commits while rig_snapshot() waits');
	my $t8 = rig_xfer_start($east, rig_xfer_branches('south', 7, 'east', 3, 40));
	is(wait_final($east, $t8), 'committed', '(2) a transfer south -> east commits while rig_snapshot() waits');
	$pad->query_safe('ROLLBACK');
	my ($snap, $serr) = rig_bg_result($snapper);
	like($snap, qr/^\d+$/, '(2) rig_snapshot() returns') or diag $serr;
	$snapper->quit;
	$pad->quit;
	diag $east->safe_psql('postgres', "SELECT string_agg(id || ' ' || state, ', ' ORDER BY id) FROM rig.transactions");
	is($east->safe_psql('postgres', "SELECT tables[4:] FROM rig.snapshots WHERE id = $snap"),
		'{rig.transactions,rig.transaction_events,rig.remote_nodes}', '(2) the snapshot lists rig\'s three tables');
	is($east->safe_psql('postgres',
			"SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = $snap AND relation = 'rig.transactions'"),
		$east->safe_psql('postgres',
			"SELECT ceil(count(*) / 2.0)::int FROM rig.transactions WHERE id < $t7"),
		'(2) it holds the transactions of its MVCC snapshot (not those started while it waited)');
	is($east->safe_psql('postgres', $secrets), '0 2', '(1) no secret in east\'s rig.snapshot_chunks');

	# after the snapshot: a prune, a node dropped and added again, compaction
	ok($east->safe_psql('postgres', "SELECT rig_transaction_prune('0s')") > 0, '(2) rig_transaction_prune after the snapshot');
	$east->safe_psql('postgres', "SELECT rig_drop_node('south')");
	$east->safe_psql('postgres', "SELECT rig_add_node('south', \$\$"
		  . $south->connstr('postgres') . " password=s3cr3t-again\$\$)");
	$east->safe_psql('postgres', 'SELECT rig_compact(pg_catalog.max(version) + 1) FROM rig.log');
	ok($east->safe_psql('postgres', 'SELECT compacted_below > 1 FROM rig.node'), '(2) east compacted its log');

	$east4 = east_node('east4');
	my ($rc, $out, $err) = $east->psql('postgres',
		"SELECT rig_add_peer('east4', \$\$" . $east4->connstr('postgres') . "\$\$, 'sync')");
	is($rc, 0, '(2) east4 is bootstrapped from the snapshot') or diag $err;
	like($err, qr/bootstrapping peer "east4" from snapshot $snap/, '(2) ... the one taken above');
	is($east4->safe_psql('postgres', $secrets), '0 0', '(1) no secret in east4\'s rig.snapshot_chunks or rig.remote_nodes');

	$hist->query_safe('ROLLBACK');
	$holds->query_safe('ROLLBACK');
	$hist->quit;
	$holds->quit;
	is(wait_final($east, $t4), 'committed', '(2) the committing transfer commits');
	is(wait_final($east, $t5), 'committed', '(2) the preparing transfer commits');
	is(wait_final($east, $t6), 'aborted', '(2) the aborting transfer aborts');
	my $t9 = rig_xfer_start($east, rig_xfer_branches('west', 4, 'south', 7, 9));
	is(wait_final($east, $t9), 'committed', '(2) a transfer west -> south after the bootstrap commits');
	$east->poll_query_until('postgres', $all_final) or die 'transactions did not end';
	caught_up($east, $east2);
	caught_up($east, $east4);
	my $want = $east->safe_psql('postgres', $txn_rows);
	is($east2->safe_psql('postgres', $txn_rows), $want, '(2) east2 holds east\'s transactions and events');
	is($east4->safe_psql('postgres', $txn_rows), $want, '(2) east4 holds them too, row by row');
	is($east4->safe_psql('postgres', $node_rows), $east2->safe_psql('postgres', $node_rows),
		'(1)(2) east4 holds the nodes as east2 does (names, conninfos without secrets, added_at)');
	is($east4->safe_psql('postgres', $secrets), '0 0', '(1) ... still without a secret');
	rig_verify_ok($east, 'east4', '(2) rig_verify_peer finds nothing on east4');
	is(rig_xfer_money($east, $west, $south), '7000 holds 0', '(2) the total is 7000, no hold is left');
}

# ---- (3) rig_rebuild after a snapshot that carries rig's tables
{
	for my $n ($east4, $east)
	{
		my $name = $n->name;
		my ($txns, $nodes) = map { $n->safe_psql('postgres', $_) } ($txn_rows, $node_rows);
		my $acc = $n->safe_psql('postgres', $accounts);
		my ($rc, $out, $err) = $n->psql('postgres', 'SELECT rig_rebuild() >= 0');
		is($rc, 0, "(3) rig_rebuild() on $name succeeds") or diag $err;
		is($n->safe_psql('postgres', $txn_rows), $txns, "(3) ... ${name}'s transactions and events are unchanged");
		is($n->safe_psql('postgres', $node_rows), $nodes, "(3) ... and its nodes");
		is($n->safe_psql('postgres', $accounts), $acc, "(3) ... and its accounts");
	}
	my $t = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 1));
	is(wait_final($east, $t), 'committed', '(3) a transfer after the rebuilds commits');
}

# ---- (4) a new node with rig rows of its own is refused, nothing loaded
{
	my $east6 = east_node('east6');
	$east6->safe_psql('postgres', "INSERT INTO rig.remote_nodes (name, conninfo) VALUES ('ghost', 'dbname=postgres')");
	my $err = rig_psql_error($east,
		"SELECT rig_add_peer('east6', \$\$" . $east6->connstr('postgres') . "\$\$, 'sync')");
	is(sqlstate_of($err), '55000', '(4) rig_add_peer of a node with a registered node of its own: 55000');
	like($err, qr/node "east6" has a registered node of its own/, '(4) ... saying why') or diag $err;
	is($east6->safe_psql('postgres',
			'SELECT (SELECT count(*) FROM rig.snapshots) || \' \' || (SELECT count(*) FROM rig.snapshot_chunks) '
			. '|| \' \' || (SELECT count(*) FROM xfer.accounts) || \' \' || (SELECT count(*) FROM rig.transactions) '
			. '|| \' \' || (SELECT string_agg(name, \',\') FROM rig.remote_nodes)'),
		'0 0 0 0 ghost', '(4) ... east6 holds no snapshot, no chunk, no row but its own');
	is($east->safe_psql('postgres', "SELECT count(*) FROM rig.peers WHERE name = 'east6'"), '0',
		'(4) ... and east has no peer east6');
	is($east6->safe_psql('postgres', $role), 'primary|', '(4) ... and east6 follows nobody');
	$east6->safe_psql('postgres', 'DELETE FROM rig.remote_nodes');
	$east6->safe_psql('postgres', "INSERT INTO rig.transaction_events VALUES (1, 1, 'started', NULL, NULL, now(), 1)");
	$err = rig_psql_error($east,
		"SELECT rig_add_peer('east6', \$\$" . $east6->connstr('postgres') . "\$\$, 'sync')");
	like($err, qr/node "east6" has transactions across nodes of its own/, '(4) ... and one with an event of its own') or diag $err;
	$east6->stop;
	my $t = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 1));
	is(wait_final($east, $t), 'committed', '(4) east goes on: a transfer commits');
}

# ---- (5) chunk_rows 1: cancelled mid-events, a newer snapshot, kill -9 mid-events, resumed
my $east5;
my $carried;
{
	for my $i (1 .. 4)
	{
		my $t = rig_xfer_start($east, rig_xfer_branches('east', 1 + $i % 3, 'west', 4 + $i % 3, $i));
		is(wait_final($east, $t), 'committed', "(5) transfer $i committed");
	}
	my $s1 = $east->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	$east->safe_psql('postgres', 'SELECT rig_compact(pg_catalog.max(version) + 1) FROM rig.log');
	ok($east->safe_psql('postgres',
			"SELECT count(*) > 5 FROM rig.snapshot_chunks WHERE snapshot_id = $s1 AND relation = 'rig.transaction_events'"),
		'(5) the events span several chunks');
	$east5 = east_node('east5');
	my $add5 = "SELECT rig_add_peer('east5', \$\$" . $east5->connstr('postgres') . "\$\$, 'sync')";

	my $adder = rig_session($east);
	my $pid = $adder->query_safe('SELECT pg_backend_pid()');
	$adder->query_safe("SET rig.bootstrap_max_rate = '2kB'");
	rig_bg_send($adder, $add5);
	$east5->poll_query_until('postgres',
		"SELECT count(*) >= 2 FROM rig.snapshot_chunks WHERE relation = 'rig.transaction_events'")
	  or die 'east5 did not load events';
	$east->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my ($o, $e) = rig_bg_result($adder);
	like($e, qr/cancel/i, '(5) the first bootstrap is cancelled while the events load');
	ok($east5->safe_psql('postgres', "SELECT count(*) > 0 FROM rig.transaction_events"),
		'(5) ... east5 holds some of them');

	# a newer snapshot: one more transaction, one prepared (it stays unfinished)
	my $t = rig_xfer_start($east, rig_xfer_branches('west', 5, 'east', 2, 6));
	is(wait_final($east, $t), 'committed', '(5) a transfer between the snapshots committed');
	my $holds = rig_session($west);
	$holds->query_until(qr/locking/, "\\echo locking\nBEGIN; LOCK TABLE xfer.holds IN ACCESS EXCLUSIVE MODE;\n");
	$west->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE relation = 'xfer.holds'::regclass AND mode = 'AccessExclusiveLock' AND granted")
	  or die 'no lock on xfer.holds';
	$carried = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 11), '10min');
	$east->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM rig.transaction_events WHERE id = $carried AND event = 'prepared'")
	  or die 'east did not prepare';
	my $s2 = $east->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	$east->safe_psql('postgres', 'SELECT rig_compact(pg_catalog.max(version) + 1) FROM rig.log');

	# the newer one, cut by a kill -9 of east5 while its events load
	rig_bg_send($adder, $add5);
	$east5->poll_query_until('postgres',
		"SELECT count(*) >= 2 FROM rig.snapshot_chunks WHERE snapshot_id = $s2 AND relation = 'rig.transaction_events'")
	  or die 'east5 did not load the newer events';
	is($east5->safe_psql('postgres', "SELECT complete FROM rig.snapshots WHERE id = $s2"), 'f',
		'(5) east5 is killed in the middle of the events of the newer snapshot');
	crash($east5);
	($o, $e) = rig_bg_result($adder);
	isnt($e, '', '(5) the bootstrap fails with east5 killed');
	$adder->quit;
	$east5->start;
	is($east5->safe_psql('postgres', 'SELECT string_agg(id::text, \',\') FROM rig.snapshots'), $s2,
		'(5) east5 holds the newer snapshot only');

	# then east (the primary) is killed while the events go on loading
	my $have = $east5->safe_psql('postgres',
		"SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = $s2 AND relation = 'rig.transaction_events'");
	my $adder2 = rig_session($east);
	$adder2->query_safe("SET rig.bootstrap_max_rate = '2kB'");
	rig_bg_send($adder2, $add5);
	$east5->poll_query_until('postgres',
		"SELECT count(*) >= $have + 2 FROM rig.snapshot_chunks WHERE snapshot_id = $s2 AND relation = 'rig.transaction_events'")
	  or die 'east5 did not load more events';
	is($east5->safe_psql('postgres', "SELECT complete FROM rig.snapshots WHERE id = $s2"), 'f',
		'(5) east is killed in the middle of the events too');
	crash($east);
	eval { $adder2->quit; };
	$east->start;
	my ($rc, $out, $err) = $east->psql('postgres', $add5);
	is($rc, 0, '(5) rig_add_peer then finishes the bootstrap') or diag $err;
	like($err, qr/from snapshot $s2 .*resuming at chunk [1-9]/, '(5) ... resuming the newer snapshot') or diag $err;
	is($east5->safe_psql('postgres',
			"SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id <> $s2"), '0',
		'(5) nothing of the older snapshot is left on east5');
	is($east5->safe_psql('postgres', $secrets), '0 0', '(1)(5) no secret on east5');
	my $t2 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'south', 7, 2));
	is(wait_final($east, $t2), 'committed', '(5) a transfer east -> south after the bootstrap commits');
	caught_up($east, $east2);
	caught_up($east, $east5);
	is($east5->safe_psql('postgres', $txn_rows), $east2->safe_psql('postgres', $txn_rows),
		'(5) east5 holds the transactions and events east2 holds, row by row');
	is($east5->safe_psql('postgres', $node_rows), $east2->safe_psql('postgres', $node_rows),
		'(5) ... and the nodes');
	rig_verify_ok($east, 'east5', '(5) rig_verify_peer finds nothing on east5');

	# ---- (6) failover to east5 while the carried transaction is preparing
	is($east5->safe_psql('postgres', "SELECT state FROM rig.transactions WHERE id = $carried"), 'preparing',
		'(6) east5 knows the carried transaction, preparing');
	crash($east);
	my $epoch = $east5->safe_psql('postgres', 'SELECT rig_promote()');
	ok($epoch > 1, '(6) east5 promoted');
	$holds->query_safe('ROLLBACK');
	$holds->quit;
	my $end = wait_final($east5, $carried);
	ok($end eq 'committed' || $end eq 'aborted', "(6) east5 finishes the carried transaction: $end");
	$east5->poll_query_until('postgres', $all_final) or diag 'east5: transactions did not end';
	is($east5->safe_psql('postgres', $unfinished), '0', '(6) no transaction is left unfinished on east5');
	$west->poll_query_until('postgres', 'SELECT count(*) = 0 FROM xfer.holds');
	is(rig_xfer_money($east5, $west, $south), '7000 holds 0', '(6) the total is 7000, no hold is left');
	my $t3 = rig_xfer_start($east5, rig_xfer_branches('west', 4, 'east5', 1, 3));
	is(wait_final($east5, $t3), 'committed', '(6) the promoted east5 coordinates a new transfer');
}

# ---- (7) rig's ops after W that the snapshot includes (recorded on the new node, not applied)
{
	my $open = rig_session($east5);
	$open->query_safe(q{BEGIN; SELECT rig_do('xfer.open', '{"account": 99, "balance": 5}')});
	my $ta = rig_xfer_start($east5, rig_xfer_branches('east5', 2, 'west', 5, 3));
	is(wait_final($east5, $ta), 'committed', '(7) a transfer commits past an open rig_do');
	my $tb = rig_xfer_start($east5, rig_xfer_branches('south', 7, 'east5', 3, 2), '10min');
	my $s = $east5->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	ok($east5->safe_psql('postgres', "SELECT cardinality(included) > 0 FROM rig.snapshots WHERE id = $s"),
		'(7) the snapshot includes later versions');
	$open->query_safe('ROLLBACK');
	$open->quit;
	is(wait_final($east5, $tb), 'committed', '(7) a second transfer commits');
	$east5->safe_psql('postgres', 'SELECT rig_compact(pg_catalog.max(version) + 1) FROM rig.log');
	my $east7 = east_node('east7');
	my ($rc, $out, $err) = $east5->psql('postgres',
		"SELECT rig_add_peer('east7', \$\$" . $east7->connstr('postgres') . "\$\$, 'sync')");
	is($rc, 0, '(7) east7 is bootstrapped from it') or diag $err;
	like($err, qr/from snapshot $s \(every version up to \d+ and [1-9]\d* later\)/, '(7) ... with later versions') or diag $err;
	my $tc = rig_xfer_start($east5, rig_xfer_branches('east5', 1, 'west', 6, 1));
	is(wait_final($east5, $tc), 'committed', '(7) a transfer after the bootstrap commits');
	caught_up($east5, $east7);
	is($east7->safe_psql('postgres', $txn_rows), $east5->safe_psql('postgres', $txn_rows),
		'(7) east7 holds east5\'s transactions and events, row by row');
	is($east7->safe_psql('postgres', $node_rows), $east5->safe_psql('postgres', $node_rows),
		'(7) ... and its nodes');
	rig_verify_ok($east5, 'east7', '(7) rig_verify_peer finds nothing on east7');
}

# ---- (8) a snapshot as an earlier build took it (no rig tables): still refused
{
	my $s = $east5->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	$east5->safe_psql('postgres', qq{
		DELETE FROM rig.snapshot_chunks WHERE snapshot_id = $s AND relation LIKE 'rig.%' AND relation <> 'rig.idempotency_keys';
		UPDATE rig.snapshots SET tables = tables[1:3],
			chunks = (SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = $s) WHERE id = $s});
	my $east8 = east_node('east8');
	my $err = rig_psql_error($east5,
		"SELECT rig_add_peer('east8', \$\$" . $east8->connstr('postgres') . "\$\$, 'sync')");
	is(sqlstate_of($err), '0A000', '(8) from a snapshot without rig\'s tables the bootstrap is refused: 0A000');
	like(message_of($err), qr/cannot bootstrap peer "east8" from snapshot $s: this node has a registered node/,
		'(8) ... saying why') or diag $err;
	is($east8->safe_psql('postgres', 'SELECT count(*) FROM rig.snapshots'), '0', '(8) ... east8 holds no snapshot');
	is($east8->safe_psql('postgres', $role), 'primary|', '(8) ... and follows nobody: the refusal came before it was made a replica');

	# ---- (9) a snapshot taken with other handlers: refused before east8
	# follows east5, and a new snapshot bootstraps it
	my $s9 = $east5->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	$east5->safe_psql('postgres', "UPDATE rig.snapshots SET handler_fingerprint = md5('other') WHERE id = $s9");
	$err = rig_psql_error($east5,
		"SELECT rig_add_peer('east8', \$\$" . $east8->connstr('postgres') . "\$\$, 'sync')");
	is(sqlstate_of($err), '55000', '(9) from a snapshot of other handlers the bootstrap is refused: 55000');
	like(message_of($err), qr/cannot bootstrap peer "east8" from snapshot $s9: the handlers changed since it was taken/,
		'(9) ... saying why') or diag $err;
	is($east8->safe_psql('postgres', $role), 'primary|', '(9) ... east8 follows nobody');
	my $s10 = $east5->safe_psql('postgres', 'SELECT rig_snapshot(1)');
	my ($rc, $out);
	($rc, $out, $err) = $east5->psql('postgres',
		"SELECT rig_add_peer('east8', \$\$" . $east8->connstr('postgres') . "\$\$, 'sync')");
	is($rc, 0, '(9) after a new snapshot east8 is added') or diag $err;
	like($err, qr/bootstrapping peer "east8" from snapshot $s10 /, '(9) ... bootstrapped from it') or diag $err;
	is($east8->safe_psql('postgres', $role), 'replica|east5', '(9) ... and follows east5');
	rig_verify_ok($east5, 'east8', '(9) rig_verify_peer finds nothing on east8');
}

done_testing();
