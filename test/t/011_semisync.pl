
# Copyright (c) 2026, rig developers

# A semisync peer that crashes under load (DESIGN.md §2 "semisync", §5.3,
# §6).  Primary "a" with one SEMISYNC peer "b"; 8 pgbench clients run
# transfers between a few accounts (every op overlaps others; the handler
# clamps the amount to the payer's balance, so the result depends on the
# order of conflicting ops, and money is conserved).  While pgbench runs,
# b is killed with SIGKILL and restarted three times.
#
#  - pgbench never fails because of b: commits go on without it (a WARNING
#    says b is degraded);
#  - rig.peer_status shows b 'degraded' while it is down (after a commit
#    noticed), then 'in_sync' once a's worker has caught it up;
#  - with the worker held back by a lock on b, a large backlog shows b as
#    'catching_up';
#  - first, deterministically: a commit that finishes on b after another
#    commit degraded b must not make b 'in_sync' again (b still lacks the
#    other commit's op); the worker catches b up.
#  - at the end both nodes hold the same rig.log, accounts and history,
#    nothing is prepared anywhere, and the total balance is unchanged.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $naccounts = 8;
my $initial   = 1000;
my $total     = $naccounts * $initial;
my $clients   = 8;
my $run_secs  = 10;    # pgbench -T of each run; runs follow each other until the crashes are done
my $rate      = 400;   # pgbench -R: bounded load, so that catch-up keeps pace on a slow machine
my $crashes   = 3;

my $conf = q{
max_prepared_transactions = 30
max_connections = 40
rig.sync_timeout = 3000
rig.resolver_interval = 200
log_statement = none
};

###########################################################################
# Helpers
###########################################################################

# (crash(), poll_for(), rig_set_resolver(), rig_peer_state() and
# rig_proc_alive() come from RigTestLib.)

my $notes = 'SELECT * FROM notes ORDER BY id';
my @behind = qw(state versions_behind);    # rig_peer_state: "in_sync 0"

my ($node_a, $node_b);

# What the peer lacks or has extra, in a few words (for failures).
sub log_diff
{
	my $va = $node_a->safe_psql('postgres', 'SELECT string_agg(version::text, \' \' ORDER BY version) FROM rig.log');
	my $vb = $node_b->safe_psql('postgres', 'SELECT string_agg(version::text, \' \' ORDER BY version) FROM rig.log');
	my %a = map { $_ => 1 } split / /, $va;
	my %b = map { $_ => 1 } split / /, $vb;
	my @missing = sort { $a <=> $b } grep { !$b{$_} } keys %a;
	my @extra   = sort { $a <=> $b } grep { !$a{$_} } keys %b;
	return sprintf('a has %d versions, b %d; missing on b: %s; only on b: %s',
		scalar(keys %a), scalar(keys %b),
		(@missing > 20 ? join(' ', @missing[0 .. 19]) . ' ...' : join(' ', @missing)) || '-',
		join(' ', @extra) || '-');
}

# Both nodes identical, nothing prepared, the invariant intact on both.
sub check_both
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $dump_a = rig_bank_dump($node_a, $notes);
	is(rig_bank_dump($node_b, $notes), $dump_a,
		"$what: b has the same rig.log, accounts and history as a")
	  or diag log_diff();
	for my $node ($node_a, $node_b)
	{
		my $n = $node->name;
		is(rig_prepared_xacts($node), '0', "$what: nothing prepared on $n");
		rig_bank_total_ok($node, $total, "$what: on $n the total balance is still $total, none negative");
		rig_bank_history_ok($node, "$what: on $n every transfer in the log was applied once");
	}
}

###########################################################################
# Nodes and the application
###########################################################################

# the bank of RigTestLib, and notes
my $notes_sql = rig_notes_sql();

$node_a = rig_node('a', conf => $conf);
$node_b = rig_node('b', conf => $conf);
rig_bank_setup($_, more => $notes_sql) for ($node_a, $node_b);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'semisync')");
rig_bank_open($node_a, $naccounts, $initial);
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'b starts in_sync');
check_both('before the load');

###########################################################################
# A commit that finishes on b after another commit degraded it
###########################################################################

# t1 prepares on b (held back there by a lock), t2 then finds b unreachable
# (b refuses new connections) and degrades it, committing without b; then
# t1 finishes on b.  b still lacks t2.
rig_set_resolver($node_a, -1);
my $lock = $node_b->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
my $s1 = $node_a->background_psql('postgres', on_error_stop => 0);
$s1->query_safe(q{SET rig.sync_timeout = '60s'});
$s1->query_until(qr/sent/, qq{\\echo sent\nSELECT 'version=' || rig_do('note', '{"body": "t1"}');\n\\echo done\n});
ok($node_b->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'rig' AND wait_event_type = 'Lock'}),
	'race: t1 is preparing on b, held back by a lock');
$node_b->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false');
my ($r, $o, $e) = $node_a->psql('postgres', q{SELECT 'version=' || rig_do('note', '{"body": "t2"}')});
like($o, qr/version=\d+/, 'race: t2 commits while b refuses connections');
like($e, qr/WARNING:  semisync peer "b" is degraded/, 'race: t2 warns that b is degraded');
is(rig_peer_state($node_a, 'b'), 'degraded', 'race: rig.peer_status shows b degraded');
$node_b->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true');
$lock->query_safe('COMMIT');
$lock->quit;
my $res = $s1->query_until(qr/done/, '');
like($res, qr/version=\d+/, 'race: t1 commits, on b too');
$s1->quit;
is($node_b->safe_psql('postgres', q{SELECT string_agg(body, ',' ORDER BY id) FROM notes}), 't1',
	'race: b has t1, not t2');
is(rig_peer_state($node_a, 'b'), 'degraded',
	'race: b, which lacks t2, is still shown degraded after t1 finished on it');
rig_set_resolver($node_a, 200);
ok(poll_for($node_b, q{SELECT count(*) = 1 FROM notes WHERE body = 't2'}, 15),
	"race: a's worker catches b up with t2");
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'race: b is in_sync again');
check_both('after the race');

###########################################################################
# The load, and b crashing under it
###########################################################################

my $scripts = rig_bank_scripts(PostgreSQL::Test::Utils::tempdir,
	naccounts  => $naccounts,
	max_amount => 400);

# pgbench runs of $run_secs follow each other until $load_done: every run
# is recorded, and a run whose clients aborted is replaced by a new one as
# well, so that the crashes still happen under load (the test then fails
# on the aborted run, not on a lack of load).
my $t0        = time;
my $load_done = 0;
my @runs;
my ($bench, $bench_t0, $bout, $berr);

sub keep_load
{
	if ($bench && !rig_proc_alive($bench->{KIDS}[0]{PID}))
	{
		my $ok = eval { $bench->finish } // 0;
		push @runs, { ok => $ok, out => $bout, err => $berr, secs => time - $bench_t0 };
		note sprintf('pgbench run %d ended after %.1fs, %s', scalar(@runs), time - $bench_t0,
			$ok ? 'successfully' : 'with a failure');
		$bench = undef;
	}
	return if $bench || $load_done;
	($bout, $berr) = ('', '');
	$bench_t0 = time;
	$bench    = rig_pgbench(
		$node_a, \$bout, \$berr,
		'-c', $clients, '-j', '2', '-T', $run_secs, '-R', $rate,
		'-f', $scripts->{single});
}

# Poll a boolean query on a for at most $secs, keeping the load going.
sub poll_a
{
	my ($sql, $secs) = @_;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		keep_load();
		my ($ret, $out) = $node_a->psql('postgres', $sql);
		return 1 if $ret == 0 && $out eq 't';
		usleep(100_000);
	}
	return 0;
}

sub last_version
{
	return $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
}

keep_load();
my %seen = (degraded => 0, writes => 0, in_sync => 0);
my @states;
for my $round (1 .. $crashes)
{
	# b in sync and the load flowing through it
	my $v = last_version();
	ok( poll_a(
			qq{SELECT rig_last_version() > $v + 50 AND
		          (SELECT state FROM rig.peer_status WHERE name = 'b') = 'in_sync'}, 60),
		"crash $round: b is in sync and the load flows before b is killed");
	note sprintf('crash %d at %.1fs: a at version %s, b %s', $round, time - $t0, last_version(),
		rig_peer_state($node_a, 'b', @behind));

	crash($node_b);
	my $v_down = last_version();
	# a commit while b is down finds it gone and marks it degraded
	$seen{degraded}++ if poll_a(q{SELECT state = 'degraded' FROM rig.peer_status WHERE name = 'b'}, 15);
	push @states, rig_peer_state($node_a, 'b', @behind);
	# writes go on without b
	$seen{writes}++ if poll_a("SELECT rig_last_version() > $v_down + 30", 30);
	note sprintf('crash %d: while b was down a went from %s to %s; b %s', $round, $v_down,
		last_version(), rig_peer_state($node_a, 'b', @behind));

	$node_b->start;
	$seen{in_sync}++ if poll_a(q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'b'}, 60);
	note sprintf('crash %d: b in sync again at %.1fs', $round, time - $t0);
}
ok($bench, 'the load was still running after the last crash');
$load_done = 1;
is($seen{writes}, $crashes, 'a kept committing while b was down, after each crash');
is($seen{in_sync}, $crashes, "a's worker brought b back to in_sync under load after each crash");
{
	is($seen{degraded}, $crashes, 'rig.peer_status showed b degraded after each crash')
	  or diag 'states seen while b was down: ' . join(', ', @states);
}

# the last run ends by itself
while ($bench)
{
	keep_load();
	usleep(200_000);
}
my ($processed, @errors, @warnings) = (0);
for my $run (@runs)
{
	note sprintf("pgbench ran %.1fs; output:\n%s", $run->{secs}, $run->{out});
	$processed += $1 while $run->{out} =~ /number of transactions actually processed: (\d+)/g;
	push @warnings, $run->{err} =~ /(WARNING:[^\n]*)/g;
	push @errors, grep { /ERROR|aborted/ } split /\n/, $run->{err};
}
note scalar(@warnings) . ' WARNING(s) from pgbench, e.g. ' . ($warnings[0] // '(none)');
{
	is(scalar(grep { !$_->{ok} } @runs), 0,
		'every pgbench run (' . scalar(@runs) . ') exited successfully (no client aborted)');
	is(join("\n", @errors), '', 'pgbench reported no error, only WARNINGs');
}
cmp_ok($processed, '>', 100, "pgbench committed $processed transfers");
like(join("\n", @warnings), qr/semisync peer "b" is degraded/,
	'clients were warned that b is degraded');

# In the end the worker has shipped b everything.
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'after the load: b is in_sync with versions_behind = 0')
  or diag rig_peer_state($node_a, 'b', @behind);
is($node_a->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE method = 'transfer'}),
	$processed, 'every transfer pgbench counted is in a\'s log, once');
check_both('after the load');

###########################################################################
# catching_up: a backlog that the worker ships while b is held back
###########################################################################

rig_set_resolver($node_a, -1);
my $missed = $node_a->safe_psql('postgres', q{SELECT commits_missed FROM rig.peer_status WHERE name = 'b'});
crash($node_b);
# a big backlog while b is down; the commit warns that b is degraded
my ($ret, $blog_out, $blog_err) = $node_a->psql('postgres', q{
SELECT count(rig_do('transfer', jsonb_build_object('from', 1 + i % 8, 'to', 1 + (i * 7) % 8, 'amount', i % 50)))
  FROM generate_series(1, 3000) i});
is($ret, 0, 'backlog: 3000 ops committed while b is down');
like($blog_err, qr/WARNING:  semisync peer "b" is degraded/, 'backlog: the commit warned that b is degraded');
like(rig_peer_state($node_a, 'b', @behind), qr/^degraded \d+$/, 'backlog: rig.peer_status shows b degraded');
# every commit that leaves b behind is counted, not only the one that degraded it
($ret, $blog_out, $blog_err) = $node_a->psql('postgres',
	join("\n", map { qq{SELECT rig_do('note', '{"body": "missed $_"}');} } 1 .. 3));
is($blog_err, '', 'backlog: later commits go on without b silently');
is($node_a->safe_psql('postgres', q{SELECT commits_missed FROM rig.peer_status WHERE name = 'b'}) - $missed,
	4, 'backlog: rig.peer_status counts the 4 commits that went on without b');
is($node_a->safe_psql('postgres', q{SELECT connection FROM rig.peer_status WHERE name = 'b'}),
	'unreachable', 'backlog: rig.peer_status shows b unreachable');

$node_b->start;
# hold b's apply back: the worker's first batch waits for this lock
$lock = $node_b->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE history IN ACCESS EXCLUSIVE MODE');
rig_set_resolver($node_a, 200);
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'catching_up' AND versions_behind > 0 FROM rig.peer_status WHERE name = 'b'}),
	'backlog: rig.peer_status shows b catching_up while the worker ships it');
note 'while catching up: ' . rig_peer_state($node_a, 'b', @behind);
$lock->query_safe('COMMIT');
$lock->quit;
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'backlog: b back in_sync with versions_behind = 0')
  or diag rig_peer_state($node_a, 'b', @behind);
my ($ret2, $o2, $e2) = $node_a->psql('postgres',
	q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}')});
is($e2, '', 'backlog: a commits on b again without a warning');
check_both('after the backlog');

###########################################################################
# What a DBA reads in rig.peer_status after a commit
###########################################################################

my $last = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
is( $node_a->safe_psql(
		'postgres', qq{
SELECT connection, acked_version = $last, acked_at > now() - interval '1 min',
       prepare_ms > 0, prepare_avg_ms > 0
  FROM rig.peer_status WHERE name = 'b'}),
	'reachable|t|t|t|t',
	'peer_status: b is reachable, acknowledged the last version just now, with a PREPARE round trip');

# with rig.commit_wait = off the commit does not wait for COMMIT PREPARED,
# and b is still not shown behind
rig_set_resolver($node_a, -1);
($ret, $o2, $e2) = $node_a->psql('postgres', "SET rig.commit_wait = off;\n"
	  . join("\n", map { qq{SELECT rig_do('note', '{"body": "no wait $_"}');} } 1 .. 3));
is($e2, '', 'commit_wait off: 3 commits');
is(rig_peer_state($node_a, 'b', @behind), 'in_sync 0', 'commit_wait off: b is in_sync, 0 versions behind');
rig_set_resolver($node_a, 200);

###########################################################################
# A peer that goes down while it catches up shows degraded, not catching_up
###########################################################################

rig_set_resolver($node_a, -1);
crash($node_b);
($ret, $blog_out, $blog_err) = $node_a->psql('postgres', q{
SELECT count(rig_do('transfer', jsonb_build_object('from', 1 + i % 8, 'to', 1 + (i * 5) % 8, 'amount', i % 40)))
  FROM generate_series(1, 3000) i});
is($ret, 0, 'down while catching up: a backlog of 3000 ops');
$node_b->start;
$lock = $node_b->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE history IN ACCESS EXCLUSIVE MODE');
rig_set_resolver($node_a, 200);
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'catching_up' FROM rig.peer_status WHERE name = 'b'}),
	'down while catching up: b is catching_up');
crash($node_b);
eval { $lock->quit };
ok(poll_for($node_a,
		q{SELECT state = 'degraded' AND connection = 'unreachable' FROM rig.peer_status WHERE name = 'b'}, 20),
	'down while catching up: rig.peer_status shows b degraded and unreachable')
  or diag rig_peer_state($node_a, 'b', @behind);
$node_b->start;
ok($node_a->poll_query_until('postgres',
		q{SELECT state = 'in_sync' AND versions_behind = 0 FROM rig.peer_status WHERE name = 'b'}),
	'down while catching up: b back in_sync once it is up');
check_both('after b went down while catching up');

done_testing();
