
# Copyright (c) 2026, rig developers

# Break-it pass 12b: the coordinator's one event op per transaction and
# pass (coord.c rig_coord_settle), on the bank transfer of
# examples/transfer.sql between "east" (the coordinator, accounts 1-3,
# with a sync peer east2) and "west" (accounts 4-6).
#
#  (1) rig_rebuild() on a coordinator and on its sync peer, after
#      transfers across nodes and within east: it failed at the first
#      rig.node.add op ("duplicate key value violates unique constraint
#      remote_nodes_pkey"; a rig.transaction.start would have failed the
#      same way): it emptied only the registered tables and applied rig's
#      own ops again.  Now it passes over rig.transaction.* and rig.node.*
#      ops (rig's tables, which no snapshot holds, keep what they did), and
#      rig.remote_nodes keeps this node's conninfo.
#  (2) 8 clients of transfers (across, and all on east) with a sync peer:
#      rig.transactions and rig.transaction_events are the same row by row
#      on east and east2 (seq, event, branch, detail, version), and on a
#      peer added afterwards, which copies the batched event ops by
#      catch-up.  (Held.)
#  (3) rig_add_peer of an empty node after rig_snapshot + rig_compact,
#      while a transaction is unfinished: the node was bootstrapped from
#      the snapshot, which held no rig.transactions nor rig.remote_nodes
#      rows; as a sync peer it refused the transaction's event ops
#      ("transaction N does not exist"), so the coordinator could never
#      record the decision (its own commit rolled back with it, pass after
#      pass) and the transaction stayed preparing for good.  Session 12
#      refused such a bootstrap (0A000); session 13's snapshots carry rig's
#      own tables: the node is bootstrapped, the transaction commits, and
#      the new peer holds the same transactions, events and nodes.
#  (4) ALTER TABLE of an unregistered table making its foreign key to a
#      registered table DEFERRABLE (ALTER CONSTRAINT) went through (only
#      rig_ddl and rig_register_table checked); now refused.
#  (5) every branch on the coordinator, with a commit that raises, and with
#      a no vote and an abort that raises: failed, each in one event op
#      with every answer in order, the same on the sync peer.  (Held.)
#  (6) kill -9 of the coordinator under 8 clients of transfers (across and
#      within), with two sync peers: every transaction ends, none failed,
#      both peers hold the same transactions and events, the money adds
#      up.  (Held.)

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

my ($east, $west) = rig_xfer_pair($conf);
my $east2 = rig_node('east2', conf => $conf);
rig_load_sql($east2, $transfer);
$east->safe_psql('postgres',
	"SELECT rig_add_peer('east2', \$\$" . $east2->connstr('postgres') . "\$\$, 'sync')");
for my $n ($east, $east2)
{
	$n->safe_psql('postgres', q{SELECT rig_register_table('xfer.accounts');
		SELECT rig_register_table('xfer.holds'); SELECT rig_register_table('xfer.history')});
}

sub wait_final
{
	my ($id) = @_;
	return $east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')");
}

# rig's transaction tables and the xfer tables of a node, as text
my $txn_rows = q{SELECT (SELECT string_agg(format('%s %s %s %s %s %s %s', id, state, created, finished, reason,
		reason_branch, reason_detail), E'\n' ORDER BY id) FROM rig.transactions)
	|| E'\n--\n' || (SELECT string_agg(format('%s %s %s %s %s %s %s', id, seq, event, branch, detail, at, version),
		E'\n' ORDER BY id, seq) FROM rig.transaction_events)};
my $node_rows = q{SELECT string_agg(name || ' ' || conninfo || ' ' || added_at, E'\n' ORDER BY name) FROM rig.remote_nodes};
my $xfer_rows = q{SELECT (SELECT string_agg(format('%s', a), ',' ORDER BY a.id) FROM xfer.accounts a)
	|| ' / ' || coalesce((SELECT string_agg(format('%s', h), ',' ORDER BY h.transaction, h.branch) FROM xfer.history h), '')
	|| ' / ' || (SELECT count(*) FROM xfer.holds)};

my $east3;

# ---- (1) rig_rebuild() on a coordinator and on its sync peer
{
	my $id1 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10));
	is(wait_final($id1), 'committed', '(1) a transfer across nodes committed');
	my $id2 = rig_xfer_start($east, rig_xfer_branches('east', 1, 'east', 2, 5));
	is(wait_final($id2), 'committed', '(1) a transfer within east committed');
	$east->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM rig.transactions WHERE state NOT IN ('committed', 'aborted', 'failed')")
	  or die 'transactions did not end';
	for my $n ($east, $east2)
	{
		my $name = $n->name;
		my ($txns, $nodes, $xfer) = map { $n->safe_psql('postgres', $_) } ($txn_rows, $node_rows, $xfer_rows);
		my ($rc, $out, $err) = $n->psql('postgres', 'SELECT rig_rebuild() > 0');
		is($rc, 0, "(1) rig_rebuild() on $name succeeds") or diag $err;
		is($n->safe_psql('postgres', $txn_rows), $txns, "(1) ... ${name}'s transactions and events are as before");
		is($n->safe_psql('postgres', $node_rows), $nodes, "(1) ... and its remote nodes");
		is($n->safe_psql('postgres', $xfer_rows), $xfer, "(1) ... and the accounts, history and holds");
	}
	my $id3 = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 5, 7));
	is(wait_final($id3), 'committed', '(1) a transfer after the rebuilds commits');
}

# ---- (2) many clients: east and its sync peer agree row by row; so does a new peer
{
	my ($out, $err);
	my $dir = PostgreSQL::Test::Utils::tempdir;
	xfer_mix_script("$dir/mix.sql", ':amt', q{CASE WHEN random() < 0.1 THEN interval '30ms' END});
	my $h = rig_pgbench($east, \$out, \$err, '-c', 8, '-j', 2, '-t', 15, '-f', "$dir/mix.sql");
	ok($h->finish, '(2) pgbench ran') or diag $err;
	$east->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM rig.transactions WHERE state NOT IN ('committed', 'aborted', 'failed')")
	  or die 'transactions did not end';
	ok($east->safe_psql('postgres', 'SELECT count(*) FROM rig.transactions') >= 120, '(2) 120 transactions ran');
	my $want = $east->safe_psql('postgres', $txn_rows);
	$east2->poll_query_until('postgres',
		'SELECT max(version) = ' . $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log')
		  . ' FROM rig.log') or die 'east2 did not catch up';
	is($east2->safe_psql('postgres', $txn_rows), $want, '(2) east2 has the same transactions and events, row by row');
	$east3 = rig_node('east3', conf => $conf);
	rig_load_sql($east3, $transfer);
	$east->safe_psql('postgres',
		"SELECT rig_add_peer('east3', \$\$" . $east3->connstr('postgres') . "\$\$, 'sync')");
	$east3->poll_query_until('postgres',
		'SELECT max(version) = ' . $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log')
		  . ' FROM rig.log') or die 'east3 did not catch up';
	is($east3->safe_psql('postgres', $txn_rows), $want, '(2) a peer added afterwards has them too');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(2) the total is 6000, no hold is left');
}

# ---- (3) a peer bootstrapped from a snapshot while a transaction is unfinished
{
	# west's prepare waits for a client's lock on the table it writes
	my $blocker = rig_session($west);
	$blocker->query_safe('BEGIN; LOCK TABLE xfer.holds IN ACCESS EXCLUSIVE MODE');
	my $id = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 3), '10min');
	$east->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM rig.transaction_events WHERE id = $id AND event = 'prepared'")
	  or die 'east did not prepare';
	$east->safe_psql('postgres', 'SELECT rig_snapshot(100)');
	$east->safe_psql('postgres', 'SELECT rig_compact(pg_catalog.max(version) + 1) FROM rig.log');
	ok($east->safe_psql('postgres', 'SELECT compacted_below > 1 FROM rig.node'), '(3) east compacted its log');
	my $east4 = rig_node('east4', conf => $conf);
	rig_load_sql($east4, $transfer);
	$east4->safe_psql('postgres', q{SELECT rig_register_table('xfer.accounts');
		SELECT rig_register_table('xfer.holds'); SELECT rig_register_table('xfer.history')});
	my ($rc, $out, $err) = $east->psql('postgres',
		"SELECT rig_add_peer('east4', \$\$" . $east4->connstr('postgres') . "\$\$, 'sync')");
	is($rc, 0, '(3) rig_add_peer of an empty node bootstraps it from the snapshot') or diag $err;
	ok($east4->safe_psql('postgres', 'SELECT count(*) > 0 FROM rig.snapshots WHERE complete'),
		'(3) ... east4 holds the snapshot');
	$blocker->query_safe('ROLLBACK');
	$blocker->quit;
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '20s')"), 'committed',
		'(3) the unfinished transaction commits once west lets go (its events reach the bootstrapped sync peer)');
	my $id2 = rig_xfer_start($east, rig_xfer_branches('west', 5, 'east', 2, 4));
	is(wait_final($id2), 'committed', '(3) a transfer started after the bootstrap commits');
	$east4->poll_query_until('postgres',
		'SELECT max(version) = ' . $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log')
		  . ' FROM rig.log') or die 'east4 did not catch up';
	is($east4->safe_psql('postgres', $txn_rows), $east->safe_psql('postgres', $txn_rows),
		'(3) east4 has the same transactions and events as east, row by row (from the snapshot and after it)');
	my $names = q{SELECT string_agg(name || ' ' || conninfo, E'\n' ORDER BY name) FROM rig.remote_nodes};
	is($east4->safe_psql('postgres', $names), $east2->safe_psql('postgres', $names),
		'(3) east4 knows the nodes east knows, by the conninfo a peer has');
	rig_verify_ok($east, 'east4', '(3) rig_verify_peer finds nothing on east4');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(3) the total is 6000, no hold is left');
	# the later parts count east's sync peers
	$east->safe_psql('postgres', "SELECT rig_drop_peer('east4')");
	$east4->stop;
}

# ---- (4) a foreign key of another table to a registered one made deferrable afterwards
{
	$west->safe_psql('postgres', q{
CREATE TABLE public.par (id int PRIMARY KEY);
CREATE TABLE public.chi (id int PRIMARY KEY, par int REFERENCES public.par);
SELECT rig_register_table('public.par');
});
	my ($rc, $out, $err) = $west->psql('postgres',
		q{SELECT rig_ddl('ALTER TABLE public.chi ALTER CONSTRAINT chi_par_fkey DEFERRABLE INITIALLY DEFERRED')});
	like($err, qr/ERROR:  table public\.par has a deferrable constraint "chi_par_fkey"/,
		'(4) rig_ddl may not make it deferrable (held)');
	($rc, $out, $err) = $west->psql('postgres',
		'ALTER TABLE public.chi ALTER CONSTRAINT chi_par_fkey DEFERRABLE INITIALLY DEFERRED');
	like($err, qr/ERROR:  table public\.par has a deferrable constraint "chi_par_fkey" \(on public\.chi\)/,
		'(4) nor may ALTER TABLE of the other table');
	is($west->safe_psql('postgres', q{SELECT condeferrable FROM pg_constraint WHERE conname = 'chi_par_fkey'}),
		'f', '(4) the foreign key stays NOT DEFERRABLE');
	$west->safe_psql('postgres', 'ALTER TABLE public.chi ALTER CONSTRAINT chi_par_fkey NOT DEFERRABLE');
	pass('(4) ALTER TABLE ... NOT DEFERRABLE of it is let through');
	# a deferrable constraint elsewhere (no registered table) stops no ALTER TABLE
	$west->safe_psql('postgres', q{CREATE TABLE public.other (id int PRIMARY KEY, k int UNIQUE DEFERRABLE);
		ALTER TABLE public.other ADD COLUMN note text; ALTER TABLE public.chi ADD COLUMN note text});
	pass('(4) ALTER TABLE of unrelated tables is let through');
}

# ---- (5) every branch on the coordinator: a commit that raises, a no vote
{
	my $fail = q{
CREATE SCHEMA brk;
CREATE FUNCTION brk.fail_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the books are closed' USING ERRCODE = 'P0001'; END $$;
};
	for my $peer ($east2, $east3)
	{
		$peer->safe_psql('postgres', $fail);
		$peer->safe_psql('postgres', "ALTER SYSTEM SET rig.ddl_role = 'postgres'");
		$peer->reload;
	}
	$east->safe_psql('postgres', $fail . q{SELECT rig_register('brk.fail', 'brk.fail_apply(bigint, jsonb)');});
	my $before = rig_xfer_money($east, $west);
	my $id = $east->safe_psql('postgres', q{SELECT rig_transaction_start('[
		{"node": "east", "prepare": "xfer.hold", "commit": "brk.fail", "abort": "xfer.release",
		 "data": {"account": 2, "amount": -10}},
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 3, "amount": 10}}]')});
	is(wait_final($id), 'failed', '(5) all on east, a commit raises: failed');
	is($east->safe_psql('postgres', "SELECT string_agg(event || coalesce(':' || branch, ''), ',' ORDER BY seq) FROM rig.transaction_events WHERE id = $id"),
		'started,prepared:0,prepared:1,committing,commit failed:0,committed:1,failed',
		'(5) ... its events, in order');
	is($east->safe_psql('postgres', "SELECT count(DISTINCT version) FROM rig.transaction_events WHERE id = $id AND seq > 1"),
		'1', '(5) ... recorded by one op');
	is($east->safe_psql('postgres', "SELECT count(*) FROM xfer.holds WHERE transaction = $id"), '1',
		"(5) ... branch 0's hold stays for the human, branch 1 posted");
	$id = $east->safe_psql('postgres', q{SELECT rig_transaction_start('[
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "brk.fail",
		 "data": {"account": 2, "amount": -10}},
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 3, "amount": -100000}}]')});
	is(wait_final($id), 'failed', '(5) all on east, a no vote and an abort that raises: failed');
	is($east->safe_psql('postgres', "SELECT string_agg(event || coalesce(':' || branch, ''), ',' ORDER BY seq) FROM rig.transaction_events WHERE id = $id"),
		'started,prepared:0,refused:1,aborting,abort failed:0,released:1,failed',
		'(5) ... its events, in order');
	my $last = $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
	$east2->poll_query_until('postgres', "SELECT max(version) >= $last FROM rig.log") or die;
	is($east2->safe_psql('postgres', $txn_rows), $east->safe_psql('postgres', $txn_rows),
		'(5) east2 has the same transactions and events');
}

my $before_money;
# ---- (6) kill -9 of the coordinator under 8 clients, with two sync peers
{
	$before_money = rig_xfer_money($east, $west);
	rig_set_resolver($east, 200);
	my ($out, $err);
	my $dir = PostgreSQL::Test::Utils::tempdir;
	xfer_mix_script("$dir/x.sql", '1', undef);
	my $first = $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
	my $h = rig_pgbench($east, \$out, \$err, '-c', 8, '-j', 2, '-t', 200, '-f', "$dir/x.sql");
	$east->poll_query_until('postgres', "SELECT max(version) > $first + 150 FROM rig.log") or die;
	crash($east, 'all');
	$h->finish;
	$east->start;
	ok($east->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM rig.transactions WHERE state NOT IN ('committed', 'aborted', 'failed')"),
		'(6) after kill -9 every transaction ends');
	is($east->safe_psql('postgres', "SELECT count(*) FROM rig.transactions WHERE state = 'failed' AND id > $first"),
		'0', '(6) none failed');
	my $last = $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
	for my $peer ($east2, $east3)
	{
		ok($peer->poll_query_until('postgres', "SELECT max(version) >= $last FROM rig.log"),
			'(6) ' . $peer->name . ' has every op');
		is($peer->safe_psql('postgres', $txn_rows), $east->safe_psql('postgres', $txn_rows),
			'(6) ' . $peer->name . ' has the same transactions and events');
	}
	is(rig_xfer_money($east, $west), $before_money, '(6) the total is unchanged, no hold is left');
}


# A pgbench script of transfers: east to west or within east (half each),
# $amount moved, $timeout the start's timeout argument (SQL, or undef)
sub xfer_mix_script
{
	my ($path, $amount, $timeout) = @_;
	my $t = defined $timeout ? ",\n  $timeout" : '';
	PostgreSQL::Test::Utils::append_to_file($path, qq{\\set a random(1, 3)
\\set b random(1, 3)
\\set w random(4, 6)
\\set amt random(1, 20)
\\set local random(0, 1)
SELECT rig_transaction_start(jsonb_build_array(
  jsonb_build_object('node', 'east', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', :a, 'amount', -$amount)),
  jsonb_build_object('node', CASE :local WHEN 1 THEN 'east' ELSE 'west' END,
                     'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', CASE :local WHEN 1 THEN :b ELSE :w END, 'amount', $amount)))$t) AS id \\gset
SELECT rig_transaction_wait(:id, '60s');
});
	return;
}

done_testing();
