
# Copyright (c) 2026, rig developers

# Transactions across nodes under attack, second pass (issue 12): what the
# coordinator's latest changes promise (docs/design.md, "Transactions
# across nodes"), on the bank transfer of examples/transfer.sql between
# "east" (the coordinator, accounts 1-3) and "west" (accounts 4-6).
#
#  (1) The coordinator's own branch raises in the commit phase, which it
#      runs in the transaction that records the decision: the transaction
#      ends failed with that error, and west's branch still gets its
#      commit (before, "failed" was recorded in that same transaction and
#      west's hold stayed forever, never posted nor released).
#  (2) The same in the abort phase (west refused): west's abort (the
#      claim of its prepare's key) still runs before "failed".
#  (3) A caller's search_path does not reach the statements rig runs as
#      its tables' owner (here the lookup of a branch node's conninfo, from
#      a plan kept for the session): an "=" of a rig_writer's own, first in
#      its path, ran as the owner (a superuser) before.
#  (4) Transaction ids start again after DROP EXTENSION rig + CREATE
#      EXTENSION rig while the server (and its shared memory) stays up:
#      rig_transaction_wait on the new transaction N, still committing,
#      returned the old transaction N's outcome from the shared-memory ring
#      ("committed") before; now the ring names a transaction by id and
#      creation time.  And the new transaction N's branch on west got the
#      old N's idempotency keys (the system identifier and the id): west
#      answered each phase with the old one's version and applied nothing,
#      while the transaction said committed; now the keys also carry a
#      number drawn when the transaction starts.  Also (passing before):
#      a session that kept plans of rig's statements reinstalls rig and
#      waits again, and columns added to rig.transactions and
#      rig.transaction_events (as by an upgrade) stop nothing.
#  (5) Six commits of branches on east wait for a row lock a client holds:
#      a transaction between other accounts still commits within 4 s
#      (before, each pass waited lock_timeout for each of them in turn, and
#      east as a whole backed off, so every branch on east waited too);
#      now this node's calls back off per branch, and a pass's calls wait
#      for locks 1 s in all.
#  (6) Three clients hold rig_transaction_abort open (BEGIN, not yet
#      COMMIT) while west's votes for their transactions come in: a
#      transaction between other accounts still commits within 4 s
#      (before, each pass waited 1 s for each event op it could not record
#      -- six here -- so the others' steps waited as long); the event ops
#      share the pass's lock budget now.  The pass that could not record
#      the decision had run east's commits with it, in the same
#      subtransaction: none of them took effect.
#  (7) The database's search_path (which its owner, not a superuser, may
#      set) puts an "=" of its own first: rig's worker, a superuser, ran
#      it in the coordinator's statements (40 times for one transaction);
#      the driver's transactions now use pg_catalog, pg_temp, and so does
#      the whole worker session (with an async peer the worker also catches
#      up, under the same path).
#  (8) rig_transaction_wait is stopped (SIGSTOP) between two reads while
#      the transaction it watches ends and rig_transaction_prune removes
#      it: it said "transaction N does not exist" before; now it returns
#      the outcome, from the coordinator's memory (committed) or, once 64
#      later outcomes pushed it out of there, from the transaction's final
#      event in rig.log (aborted by a client).
#  Parts (5) and (6) run before (4), which drops the extension.

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

# a method whose every op raises: a branch's commit or abort that fails
$east->safe_psql('postgres', q{
CREATE SCHEMA brk;
CREATE FUNCTION brk.fail_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the books are closed' USING ERRCODE = 'P0001'; END $$;
SELECT rig_register('brk.fail', 'brk.fail_apply(bigint, jsonb)');
});

sub wait_final
{
	my ($id) = @_;
	return $east->safe_psql('postgres', "SELECT rig_transaction_wait($id, '60s')");
}

# the events of one branch of a transaction on east, in order
sub branch_events
{
	my ($id, $branch) = @_;
	return $east->safe_psql('postgres',
		"SELECT string_agg(event, ',' ORDER BY seq) FROM rig.transaction_events WHERE id = $id AND branch = $branch");
}

# ---- (1) east's own commit raises, in the transaction of the decision
{
	my $id = $east->safe_psql('postgres', q{SELECT rig_transaction_start('[
		{"node": "east", "prepare": "xfer.hold", "commit": "brk.fail", "abort": "xfer.release",
		 "data": {"account": 1, "amount": -10}},
		{"node": "west", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 4, "amount": 10}}]')});
	is(wait_final($id), 'failed', '(1) a commit that raises on the coordinator: failed');
	is(rig_xnode_row($east, $id), 'failed|branch|0', '(1) ... reason branch 0');
	like($east->safe_psql('postgres', "SELECT reason_detail FROM rig.transactions WHERE id = $id"),
		qr/^P0001: the books are closed$/, "(1) ... with the branch's error");
	is(branch_events($id, 1), 'prepared,committed', "(1) west's branch got its commit");
	is($west->safe_psql('postgres', "SELECT outcome || ' ' || amount FROM xfer.history WHERE transaction = $id"),
		'posted 10', '(1) ... posted on west');
	is($west->safe_psql('postgres', 'SELECT count(*) FROM xfer.holds'), '0', '(1) ... no hold left on west');
	is($east->safe_psql('postgres', "SELECT count(*) FROM rig.transaction_events WHERE id = $id AND event = 'failed'"),
		'1', '(1) failed is recorded once');

	# settled by hand: east's debit posted, then resolved
	$east->safe_psql('postgres',
		"SELECT rig_do('xfer.post', '{\"transaction\": $id, \"branch\": 0, \"account\": 1}');"
		  . "SELECT rig_transaction_resolve($id, 'committed', 'posted by hand')");
	is(rig_xfer_money($east, $west), '6000 holds 0', '(1) settled: the total is 6000, no hold is left');
}

# ---- (2) east's own abort raises (west refused): west's abort still runs
{
	my $id = $east->safe_psql('postgres', q{SELECT rig_transaction_start('[
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "brk.fail",
		 "data": {"account": 2, "amount": 10}},
		{"node": "west", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 5, "amount": -100000}}]')});
	is(wait_final($id), 'failed', '(2) an abort that raises on the coordinator: failed');
	is(rig_xnode_row($east, $id), 'failed|branch|0', '(2) ... reason branch 0');
	is(branch_events($id, 1), 'refused,released', "(2) west's branch got its abort");
	like($west->safe_psql('postgres',
			"SELECT method FROM rig.idempotency_keys WHERE idempotency_key LIKE 'rig:%:$id:1:prepare'"),
		qr/^rig\.transaction\.claim$/, "(2) ... west's prepare key is claimed");
	$east->safe_psql('postgres',
		"SELECT rig_do('xfer.release', '{\"transaction\": $id, \"branch\": 0, \"account\": 2}');"
		  . "SELECT rig_transaction_resolve($id, 'aborted', 'released by hand')");
	is(rig_xfer_money($east, $west), '6000 holds 0', '(2) settled: the total is 6000, no hold is left');
}

# ---- (3) a hostile search_path and statements run as the tables' owner
{
	$east->safe_psql('postgres', q{
CREATE ROLE evil IN ROLE rig_writer;
CREATE SCHEMA evil AUTHORIZATION evil;
SET ROLE evil;
CREATE FUNCTION evil.eq(text, text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'evil.eq ran as %', current_user;
	RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
});
	my $start = q{SELECT rig_transaction_start('[{"node": "mars", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]');};
	# one session: the superuser's call keeps the plan, the writer's reuses it
	my $s = rig_session($east);
	my ($out, $err) = rig_bg_query($s, $start);
	like($err, qr/node "mars" is not registered/, '(3) a start with an unknown node fails (superuser)');
	($out, $err) = rig_bg_query($s, "SET ROLE evil; SET search_path = evil, pg_catalog; $start");
	like($err, qr/node "mars" is not registered/, '(3) ... as a writer with its own "=" first in its path too');
	unlike($err, qr/evil\.eq ran as/, "(3) ... the writer's operator did not run (it ran as the owner)");
	($out, $err) = rig_bg_query($s, "SET ROLE evil; SET search_path = evil, pg_catalog; $start");
	like($err, qr/node "mars" is not registered/, '(3) ... again');
	unlike($err, qr/evil\.eq ran as/, "(3) ... and again the writer's operator did not run");
	# the writer's operator is its own to use
	($out, $err) = rig_bg_query($s, "SET ROLE evil; SET search_path = evil, pg_catalog; SELECT 'a' = 'a'");
	like($err, qr/evil\.eq ran as evil/, "(3) ... while its own statements use it, as itself");
	$s->quit;
	$east->safe_psql('postgres', 'DROP SCHEMA evil CASCADE; DROP ROLE evil');
}

# ---- (5) commits on east stuck behind a client's lock; another transaction goes on
{
	# xfer.post updates the balance (waits); xfer.hold only checks the key
	my $locker = rig_session($east);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 2 FOR NO KEY UPDATE;');
	my @stuck = map { rig_xfer_start($east, rig_xfer_branches('west', 5, 'east', 2, 1), '10min') } 1 .. 6;
	$east->poll_query_until('postgres',
		"SELECT count(*) = 6 FROM rig.transactions WHERE state = 'committing' AND id IN (" . join(',', @stuck) . ')')
	  or die 'the stuck transactions do not reach committing';
	my $other = rig_xfer_start($east, rig_xfer_branches('east', 3, 'west', 6, 10), '10min');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($other, '4s')"), 'committed',
		'(5) a transfer between other accounts commits within 4 s while six commits on east wait for a lock');
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	is(join(',', map { wait_final($_) } @stuck), join(',', ('committed') x 6), '(5) the six commit once the lock is gone');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(5) the total is 6000, no hold is left');
}

# ---- (6) client aborts held open while the worker records votes; another goes on
{
	# west's prepares wait for this lock, so the aborts come before the votes
	my $westlock = rig_session($west);
	$westlock->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
	my @held = map { rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 6, 1), '10min') } 1 .. 3;
	$east->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM rig.transaction_events WHERE event = 'prepared' AND branch = 0 AND id IN ("
		  . join(',', @held) . ')')
	  or die "east's branches do not prepare";
	my @clients = map { rig_session($east) } @held;
	$clients[$_]->query_safe("BEGIN; SELECT rig_transaction_abort($held[$_], 'held open')") for 0 .. 2;
	$westlock->query_safe('ROLLBACK');
	$westlock->quit;
	# west's votes come now; recording them waits for each client's abort
	$east->wait_for_log(qr/rig transaction $held[2]: could not record/)
	  or die 'the worker does not try to record the votes';
	my $other = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 5, 10), '10min');
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($other, '4s')"), 'committed',
		'(6) a transfer commits within 4 s while three client aborts hold their transactions');
	$_->query_safe('COMMIT') for @clients;
	$_->quit for @clients;
	is(join(',', map { wait_final($_) } @held), 'aborted,aborted,aborted', '(6) the three abort once their clients commit');
	is(rig_xfer_money($east, $west), '6000 holds 0', '(6) the total is 6000, no hold is left');
	# the pass that could not record the decision had run east's commits
	# with it: they went with the event op, not one applied
	is($east->safe_psql('postgres',
		"SELECT count(*) FROM rig.idempotency_keys WHERE idempotency_key ~ ':(" . join('|', @held) . "):0:commit\$'"),
		'0', '(6) no commit of the three took effect on east');
}

# ---- (4) ids start again after DROP EXTENSION; shared memory stays
{
	# on west, a method that notes each op it applies
	$west->safe_psql('postgres', q{
CREATE SCHEMA cnt;
CREATE TABLE cnt.applied (version bigint PRIMARY KEY, data jsonb NOT NULL);
CREATE FUNCTION cnt.note_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE sql SET search_path = pg_catalog, pg_temp
	AS $$ INSERT INTO cnt.applied VALUES (v, d) $$;
SELECT rig_register('cnt.note', 'cnt.note_apply(bigint, jsonb)');
});
	my $noted = q{[{"node": "west", "prepare": "cnt.note", "commit": "cnt.note", "abort": "cnt.note"}]};
	my $local = q{[
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 1, "amount": -10}},
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 2, "amount": 10}}]};
	my $recorded = sub {
		my ($id) = @_;
		$east->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $id")
		  or die "transaction $id is not recorded committed";
	};
	# ops until the next version, the next transaction's id, is $id
	my $pad_to = sub {
		my ($id, $from) = @_;
		my $last = $east->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
		die "the log is at $last, past " . ($id - 1) if $last > $id - 1;
		$east->safe_psql('postgres', join('', map { "SELECT rig_do('xfer.open', '{\"account\": $_, \"balance\": 0}');\n" }
				($from .. $from + $id - $last - 2)));
	};
	my $applied = sub {
		my ($id) = @_;
		return $west->safe_psql('postgres', "SELECT count(*) FROM cnt.applied WHERE data->>'transaction' = '$id'");
	};

	my $old_noted = rig_xfer_start($east, $noted, '10min');
	is(wait_final($old_noted), 'committed', '(4) a transaction with one branch on west commits');
	$recorded->($old_noted);
	is($applied->($old_noted), '2', '(4) ... west applied its prepare and its commit');
	# room for the new log's own ops
	$east->safe_psql('postgres', join('', map { "SELECT rig_do('xfer.open', '{\"account\": $_, \"balance\": 0}');\n" } (200 .. 209)));
	# with a branch on west: its outcome goes to shared memory
	my $old = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 10), '10min');
	is(wait_final($old), 'committed', '(4) a transfer commits');
	$recorded->($old);

	# a session whose plans of rig's statements are kept across the reinstall
	my $kept = rig_session($east);
	is($kept->query_safe("SELECT rig_transaction_wait($old, '1s')"), 'committed', '(4) a session waits (its plan kept)');
	$kept->query_safe(q{SELECT rig_drop_node('west')});
	$kept->query_safe('SET client_min_messages = warning; DROP EXTENSION rig CASCADE; DROP SCHEMA xfer CASCADE; CREATE EXTENSION rig; RESET client_min_messages');
	rig_xfer_setup($east, { 1 => 1000, 2 => 1000 });
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");

	# the same branch again, with the old transaction's id: west applies it
	$pad_to->($old_noted, 100);
	my $new_noted = rig_xfer_start($east, $noted, '10min');
	is($new_noted, $old_noted, "(4) a new transaction has an old one's id");
	is(wait_final($new_noted), 'committed', '(4) ... it commits');
	$recorded->($new_noted);
	is($applied->($new_noted), '4',
		"(4) ... and west applied its prepare and commit too (not answered with the old one's, by their keys)");

	# east's commit of account 2 waits for this client (its prepare does not)
	$pad_to->($old, 10000);
	my $locker = rig_session($east);
	$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 2 FOR NO KEY UPDATE;');
	my $new = rig_xfer_start($east, $local, '10min');
	is($new, $old, "(4) another new transaction has the old transfer's id");
	$east->poll_query_until('postgres', "SELECT state = 'committing' FROM rig.transactions WHERE id = $new")
	  or die 'the new transaction does not reach committing';
	is($east->safe_psql('postgres', "SELECT rig_transaction_wait($new, '3s')"), 'committing',
		"(4) a wait on it, still committing, times out: not the old transaction's outcome");
	$locker->query_safe('ROLLBACK');
	$locker->quit;
	is(wait_final($new), 'committed', '(4) then it commits');
	is($kept->query_safe("SELECT rig_transaction_wait($new, '1s')"), 'committed',
		'(4) the session that reinstalled rig waits on it too, its kept plan on the new table');

	# a column added to rig's tables (as an upgrade would): kept plans go on
	$kept->query_safe('ALTER TABLE rig.transactions ADD COLUMN note text; '
		  . 'ALTER TABLE rig.transaction_events ADD COLUMN note text');
	my $after = rig_xfer_start($east, $local, '10min');
	is($kept->query_safe("SELECT rig_transaction_wait($after, '60s')"), 'committed',
		'(4) after a column was added to rig.transactions, a transaction commits');
	$kept->quit;
	is($east->safe_psql('postgres', 'SELECT sum(balance) || \' \' || (SELECT count(*) FROM xfer.holds) FROM xfer.accounts'),
		'2000 0', '(4) the total is 2000, no hold is left');
}

# ---- (7) the database's search_path and the worker's statements
{
	# as a database owner may: a schema of its own first in the database's path
	$east->safe_psql('postgres', q{
CREATE SCHEMA evil2;
CREATE FUNCTION evil2.eq(text, text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
	RAISE LOG 'evil2.eq ran in %', (SELECT backend_type FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid());
	RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR evil2.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil2.eq);
ALTER DATABASE postgres SET search_path = evil2, pg_catalog;
});
	# and an async peer the worker catches up (resolver on), so its
	# catch-up and verification run under that path too
	my $er = rig_node('east_r', conf => $conf);
	rig_xfer_setup($er, {});
	$er->safe_psql('postgres', q{
CREATE SCHEMA brk;
CREATE FUNCTION brk.fail_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the books are closed' USING ERRCODE = 'P0001'; END $$;
});
	$east->safe_psql('postgres', "SELECT rig_add_peer('east_r', \$\$" . $er->connstr('postgres') . "\$\$, 'async')");
	$east->restart;
	my $offset = -s $east->logfile;
	rig_set_resolver($east, 200);
	my $local = q{[
		{"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 1, "amount": -10}},
		{"node": "west", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
		 "data": {"account": 4, "amount": 10}}]};
	my $id = rig_xfer_start($east, $local, '10min');
	is(wait_final($id), 'committed', "(7) with the database's search_path set, a transaction commits");
	$east->poll_query_until('postgres', "SELECT state = 'committed' FROM rig.transactions WHERE id = $id")
	  or die 'not recorded';
	ok( $er->poll_query_until('postgres',
			"SELECT count(*) = " . $east->safe_psql('postgres', 'SELECT count(*) FROM rig.log') . " FROM rig.log"),
		'(7) the worker caught the async peer up meanwhile');
	my $log = PostgreSQL::Test::Utils::slurp_file($east->logfile, $offset);
	my @worker = grep { !/ran in client backend/ } ($log =~ /(evil2\.eq ran in [^\n]*)/g);
	is(join('; ', @worker), '', "(7) the database owner's operator never ran in rig's worker (as superuser)");
	rig_set_resolver($east, -1);
	$east->safe_psql('postgres', "ALTER DATABASE postgres RESET search_path; DROP SCHEMA evil2 CASCADE; SELECT rig_drop_peer('east_r')");
	$er->stop;
}

# ---- (8) a transaction pruned while rig_transaction_wait watches it
{
	# stop the waiter while it sleeps between two reads (inside its latch
	# wait: no lock or buffer held), never in the middle of a read
	my $stop_sleeping = sub {
		my ($pid) = @_;
		for (1 .. 100)
		{
			kill 'STOP', $pid;
			return 1
			  if $east->safe_psql('postgres',
				"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid") eq 't';
			kill 'CONT', $pid;
			select(undef, undef, undef, 0.05);
		}
		return 0;
	};
	foreach my $outcome ('committed', 'aborted')
	{
		# west's branch waits for a row lock on account 6: the transaction prepares
		my $locker = rig_session($west);
		$locker->query_safe('BEGIN; SELECT * FROM xfer.accounts WHERE id = 6 FOR UPDATE;');
		my $id = rig_xfer_start($east, rig_xfer_branches('east', 2, 'west', 6, 1), '10min');
		my $waiter = rig_session($east);
		rig_bg_send($waiter, "SELECT rig_transaction_wait($id)");
		$east->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT rig_transaction_wait($id)%' "
			  . "AND wait_event_type = 'Extension'")
		  or die 'the waiter does not wait';
		my $pid = $east->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT rig_transaction_wait($id)%'");
		ok($stop_sleeping->($pid), "(8) $outcome: the waiter is stopped between two reads");
		is($east->safe_psql('postgres', "SELECT rig_transaction_abort($id, 'pruned while watched')"),
			'aborting', '(8) aborted: a client aborts it meanwhile')
		  if $outcome eq 'aborted';
		$locker->query_safe('COMMIT');
		$locker->quit;
		$east->poll_query_until('postgres', "SELECT state = '$outcome' FROM rig.transactions WHERE id = $id")
		  or die "transaction $id did not end $outcome";
		if ($outcome eq 'aborted')
		{
			# 64 later outcomes push this one out of the coordinator's memory
			my $fill = rig_xfer_branches('east', 1, 'east', 3, 1);
			$east->safe_psql('postgres',
				"SELECT count(rig_transaction_start(\$b\$$fill\$b\$, '10min')) FROM generate_series(1, 65)");
			$east->poll_query_until('postgres',
				"SELECT count(*) = 0 FROM rig.transactions WHERE state NOT IN ('committed', 'aborted', 'failed')")
			  or die 'the 65 transactions did not end';
		}
		ok($east->safe_psql('postgres', "SELECT rig_transaction_prune('0')") >= 1,
			"(8) $outcome: rig_transaction_prune removed it");
		is($east->safe_psql('postgres', "SELECT count(*) FROM rig.transactions WHERE id = $id"), '0',
			"(8) $outcome: it is gone from rig.transactions");
		kill 'CONT', $pid;
		my ($out, $err) = rig_bg_result($waiter);
		is($out, $outcome, "(8) rig_transaction_wait returns $outcome for the transaction pruned meanwhile");
		is($err, '', "(8) $outcome: and no error");
		$waiter->quit;
	}
}

done_testing();
