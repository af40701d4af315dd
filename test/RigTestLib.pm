
# Copyright (c) 2026, rig developers

=pod

=head1 NAME

RigTestLib - small helpers shared by rig's TAP tests (test/t/*.pl)

=head1 SYNOPSIS

  use lib ...;    # the Makefile's tapcheck runs prove with -I test/
  use RigTestLib;

  my $node = rig_node('primary');            # initdb, rig preloaded, started,
                                             # CREATE EXTENSION rig in postgres
  rig_load_sql($node, "$ENV{RIG_SRCDIR}/examples/metadata.sql");

  # the bank: accounts and transfers between them (see THE BANK)
  rig_bank_setup($_) for ($node, $peer);
  rig_bank_open($node, 6, 1000);             # accounts 1..6, 1000 each
  my $scripts = rig_bank_scripts(PostgreSQL::Test::Utils::tempdir,
      naccounts => 6, max_amount => 500);
  my ($out, $err) = ('', '');
  rig_pgbench($node, \$out, \$err, '-c', 8, '-t', 100,
      '-f', $scripts->{single})->finish;
  is(rig_bank_dump($peer), rig_bank_dump($node), 'the peer has what the node has');
  rig_bank_total_ok($peer, 6000, 'money is conserved on the peer');
  rig_bank_history_ok($peer, 'every transfer on the peer has its history row');

=cut

package RigTestLib;

use strict;
use warnings;

use Exporter 'import';
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(rig_node rig_load_sql crash poll_for rig_pgbench sqlstate_of message_of
  rig_set_resolver rig_notes_sql rig_acct_sql rig_notes_pair rig_log_dump rig_bank_setup rig_bank_open rig_bank_scripts rig_bank_dump
  rig_bank_total_ok rig_bank_history_ok rig_verify_ok rig_start_paused rig_client_end rig_psql_error
  rig_node_pids rig_proc_alive rig_session rig_bg_query rig_bg_send rig_bg_result rig_waits_on_lock rig_prepared_xacts rig_peer_state
  rig_query_each rig_same_ok rig_dump_difference rig_freeze rig_thaw rig_keyed_load
  rig_keyed_outcomes rig_keyed_retry rigctl_run rigctl_cmd rigctl_run_within rig_stop_walwriter rig_where_is rig_incarnation
  rig_xfer_setup rig_xfer_pair rig_xfer_branches rig_xfer_start rig_xfer_money rig_xnode_row rig_xnode_lose_final rig_xfer_pgbench
  rig_start_paused_sql rig_snapshot_rows rig_table_rows rig_replay_into
  rig_ledger_load rig_ledger_retry rig_transient_sqlstate);

# The database rig lives in (rig.database) on every test node.
our $dbname = 'postgres';

=pod

=over

=item rig_node($name, %params)

Create a node called $name with rig in shared_preload_libraries,
rig.database = 'postgres', rig.node_name = $name, max_prepared_transactions
and the in-doubt resolver off (rig.resolver_interval = -1); start it and
CREATE EXTENSION rig in database postgres.  Parameters:

=over

=item conf => string

more postgresql.conf lines, appended after rig's

=item extension => 0

start the node but do not create the extension

=back

=cut

sub rig_node
{
	my ($name, %params) = @_;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'rig'
rig.database = '$dbname'
rig.node_name = '$name'
max_prepared_transactions = 10
rig.resolver_interval = -1
});
	$node->append_conf('postgresql.conf', $params{conf})
	  if defined $params{conf};
	$node->start;
	$node->safe_psql($dbname, 'CREATE EXTENSION rig')
	  unless defined $params{extension} && !$params{extension};
	return $node;
}

=pod

=item rig_load_sql($node, $file [, $db])

Run an SQL file on $node with psql, stopping at the first error (the test
dies then).  Returns psql's standard output.

=back

=cut

sub rig_load_sql
{
	my ($node, $file, $db) = @_;

	die "SQL file \"$file\" not found" unless -f $file;
	return $node->safe_psql($db // $dbname, slurp_file($file));
}

=pod

=over

=item rig_node_pids($node)

The pids of a running node: its postmaster (from postmaster.pid) first,
then the postmaster's children.

=item rig_proc_alive($pid)

Whether process $pid exists and is not a zombie.

=item crash($node, $how)

SIGKILL a node ('postmaster': only the postmaster; 'all', the default:
every process at once, like a power loss) and wait until all its processes
are gone (the postmaster too: as a zombie it still owns the pid in
postmaster.pid).

=back

=cut

sub rig_node_pids
{
	my ($node) = @_;
	my ($pm) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	return ($pm, @children);
}

sub rig_proc_alive
{
	my ($pid) = @_;
	my $stat = -e "/proc/$pid/stat" ? eval { slurp_file("/proc/$pid/stat") } : undef;
	return defined $stat && $stat !~ /^\d+ \(.*\) Z/;
}

sub crash
{
	my ($node, $how) = @_;
	$how //= 'all';
	my ($pm, @children) = rig_node_pids($node);
	if ($how eq 'all')
	{
		# freeze them all first, so that none reacts to another's death
		kill 'STOP', $pm;
		(undef, @children) = rig_node_pids($node);
		kill 'STOP', @children;
		kill 'KILL', @children;
	}
	$node->kill9;
	for (1 .. 1200)
	{
		# (a zombie postmaster still owns its pid in postmaster.pid)
		my @alive = grep { $_ == $pm ? -e "/proc/$_/stat" : rig_proc_alive($_) } ($pm, @children);
		return unless @alive;
		usleep(100_000);
	}
	die 'processes of ' . $node->name . ' did not exit after SIGKILL';
}

=pod

=over

=item rig_stop_walwriter($node)

SIGSTOP the WAL writer of a running node, so that a transaction's WAL
stays in shared memory (with autovacuum off and bgwriter_lru_maxpages =
0) and a crash loses it.  A crash (or the postmaster's SIGKILL after a
backend crashed) ends it.

=back

=cut

sub rig_stop_walwriter
{
	my ($node) = @_;
	my $pid = $node->safe_psql($dbname,
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'});
	kill 'STOP', $pid;
	return;
}

=pod

=over

=item rig_where_is($node, $body)

Where the note with this body (rig_notes_sql) is on $node: "log/table",
its count in rig.log and in the notes table.

=item rig_incarnation($node)

The incarnation recorded in $node's data directory (rig_incarnation).

=back

=cut

sub rig_where_is
{
	my ($node, $body) = @_;
	return $node->safe_psql($dbname, qq{
SELECT (SELECT count(*) FROM rig.log WHERE data->>'body' = '$body') || '/' ||
       (SELECT count(*) FROM notes WHERE body = '$body')});
}

sub rig_incarnation
{
	my ($node) = @_;
	my $inc = slurp_file($node->data_dir . '/rig_incarnation');
	chomp $inc;
	return $inc;
}

=pod

=over

=item rig_freeze($node), rig_thaw($node)

SIGSTOP every process of a running node (a hung node: connections and
sends succeed, nothing answers), and SIGCONT them again.  A node still
frozen when the test ends is thawed.

=back

=cut

my %rig_frozen;

sub rig_freeze
{
	my ($node) = @_;
	my ($pm) = rig_node_pids($node);
	kill 'STOP', $pm;    # first, so it forks nothing new
	my (undef, @children) = rig_node_pids($node);
	kill 'STOP', @children;
	$rig_frozen{ $node->name } = [ $pm, @children ];
	return;
}

sub rig_thaw
{
	my ($node) = @_;
	my $pids = delete $rig_frozen{ $node->name } or return;
	kill 'CONT', reverse @$pids;
	return;
}

END
{
	kill 'CONT', @$_ for values %rig_frozen;
}

=pod

=over

=item rigctl_run($stdin, @args)

Run the installed rigctl (PostgreSQL's bindir is on PATH in tapcheck) with
@args and $stdin (undef: nothing) as a user would; returns its exit code,
standard output and standard error.

=item rigctl_cmd(@args)

The command line that runs rigctl with @args: under valgrind when
RIGCTL_VALGRIND is set (`make valgrind-rigctl`), so that a memory error or
a definite leak turns into exit code 97 (its report goes to
valgrind-<pid>.log in the test's directory, never to rigctl's output).

=item rigctl_run_within($secs, $stdin, @args)

The same, but rigctl is killed if it has not finished within $secs
seconds; returns its exit code (undef when it was killed), standard
output, standard error and the seconds it ran.

=back

=cut

sub rigctl_cmd
{
	my @args = @_;
	return ('rigctl', @args) unless $ENV{RIGCTL_VALGRIND};
	return (
		'valgrind', '--quiet', '--error-exitcode=97', '--leak-check=full',
		'--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
		"--log-file=$PostgreSQL::Test::Utils::tmp_check/valgrind-%p.log",
		'rigctl', @args);
}

sub rigctl_run
{
	my ($in, @args) = @_;
	my ($out, $err) = ('', '');
	$in //= '';
	IPC::Run::run([ rigctl_cmd(@args) ], '<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($? >> 8, $out, $err);
}

sub rigctl_run_within
{
	my ($secs, $in, @args) = @_;
	my ($out, $err) = ('', '');
	$in //= '';
	my $t0 = time;
	my $h = IPC::Run::start([ 'rigctl', @args ], '<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout($secs));
	my $rc = eval { $h->finish; $? >> 8 };
	$h->kill_kill unless defined $rc;
	return ($rc, $out, $err, time - $t0);
}

# Poll a boolean query for at most $secs seconds.
sub poll_for
{
	my ($node, $sql, $secs) = @_;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		my ($ret, $out) = $node->psql('postgres', $sql);
		return 1 if $ret == 0 && $out eq 't';
		usleep(100_000);
	}
	return 0;
}

=pod

=over

=item rig_set_resolver($node, $ms)

Set rig.resolver_interval on $node (ALTER SYSTEM and a reload) and wait
until its worker has taken it (rig.status.worker_state); dies otherwise.

=item rig_notes_sql()

SQL for a "note" method: table notes (id = version, body; '' when the
data has none), resource "note:<body>".  For rig_bank_setup's "more", or on its own.

=back

=cut

=pod

=over

=item sqlstate_of($stderr)

The SQLSTATE of the first error in psql's verbose (\set VERBOSITY verbose)
stderr, or "(none)".

=item message_of($stderr)

The primary message of that error, or "(none)".

=back

=cut

sub sqlstate_of
{
	my ($err) = @_;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '(none)';
}

sub message_of
{
	my ($err) = @_;
	return $err =~ /ERROR:\s+[0-9A-Z]{5}: ([^\n]*)/ ? $1 : '(none)';
}

=pod

=over

=item rig_verify_ok($node, $peer, $test_name)

A test: rig_verify_peer($peer) on the primary $node finds no difference
(the rows it returns are shown otherwise).  Returns what is() returns.

=back

=cut

sub rig_verify_ok
{
	my ($node, $peer, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	return is(
		$node->safe_psql(
			$dbname, "SELECT relation, first_version, last_version, key_range, problem "
			  . "FROM rig_verify_peer('$peer')"),
		'', $test_name);
}

sub rig_set_resolver
{
	my ($node, $ms) = @_;
	$node->safe_psql($dbname,
		"ALTER SYSTEM SET rig.resolver_interval = $ms; SELECT pg_reload_conf()");
	my $idle = q{'idle (rig.resolver_interval = -1)'};
	my $cond = $ms < 0 ? "worker_state = $idle" : "worker_state <> $idle";
	$node->poll_query_until($dbname, "SELECT $cond FROM rig.status")
	  or die 'the worker of ' . $node->name . " did not take rig.resolver_interval = $ms";
	return;
}

sub rig_notes_sql
{
	return q{
CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);
CREATE FUNCTION note_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['note:' || coalesce(d->>'body', '')] $$;
CREATE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.notes VALUES (v, coalesce(d->>'body', '')) $$;
SELECT rig_register('note', 'note_apply(bigint,jsonb)', NULL, 'note_resources(jsonb)');
};
}

=pod

=over

=item rig_acct_sql()

SQL for an "acct_open" method on a table acct (id int PRIMARY KEY,
balance bigint) that must exist already: its handler inserts {"id",
"balance"}, resource "acct:<id>"; acct is registered.

=back

=cut

sub rig_acct_sql
{
	return q{
CREATE FUNCTION acct_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'id')] $$;
CREATE FUNCTION acct_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.acct VALUES ((d->>'id')::int, (d->>'balance')::bigint) $$;
SELECT rig_register('acct_open', 'acct_apply(bigint,jsonb)', NULL, 'acct_resources(jsonb)');
SELECT rig_register_table('acct');
};
}

=pod

=over

=item rig_notes_pair($conf)

Two nodes, a and b, each with $conf and the notes table of rig_notes_sql,
b a sync peer of a.  Returns ($a, $b).

=back

=cut

sub rig_notes_pair
{
	my ($conf) = @_;
	my $a = rig_node('a', conf => $conf);
	my $b = rig_node('b', conf => $conf);

	$_->safe_psql($dbname, rig_notes_sql()) for ($a, $b);
	$a->safe_psql($dbname,
		"SELECT rig_add_peer('b', \$\$" . $b->connstr($dbname) . "\$\$, 'sync')");
	return ($a, $b);
}

=pod

=over

=item rig_pgbench($node, $out, $err, @args)

Start pgbench -n @args against database postgres of $node, its standard
output going to $out and its standard error to $err (references to
scalars, as IPC::Run takes them), with the tests' default timeout.
Returns the IPC::Run harness: ->finish waits for pgbench and is true if it
exited successfully.

=back

=cut

sub rig_pgbench
{
	my ($node, $out, $err, @args) = @_;

	return IPC::Run::start(
		[
			'pgbench', '-n', @args,
			'-h', $node->host, '-p', $node->port, $dbname
		],
		'>', $out, '2>', $err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}

=pod

=head1 THE BANK

An application for load tests: accounts, and transfers between them
through rig_do.  A transfer reads both balances, moves at most what the
payer holds (the amount is clamped, so the outcome of conflicting
transfers depends on their order: a replica only ends up identical if it
applies them in the primary's order), writes the balances computed from
what it read, and records what it saw in a history row.  Money is
conserved, and a CHECK keeps every balance >= 0.

Tables (in schema public):

  accounts (id, balance, last_version)
  history  (version, from_id, to_id, requested, moved,
            from_before, to_before, op_time)

Methods:

  open      {"id": 1, "balance": 1000}            resource acct:<id>
  transfer  {"from": 1, "to": 2, "amount": 10}    resources acct:<from>, acct:<to>

A transfer from an account to itself moves nothing; other keys in its data
(a "tag", say) are ignored.

=cut

my $bank_sql = q{
CREATE TABLE accounts (
	id				int PRIMARY KEY,
	balance			bigint NOT NULL CHECK (balance >= 0),
	last_version	bigint NOT NULL
);
CREATE TABLE history (
	version			bigint PRIMARY KEY,
	from_id			int NOT NULL,
	to_id			int NOT NULL,
	requested		bigint NOT NULL,
	moved			bigint NOT NULL,
	from_before		bigint NOT NULL,
	to_before		bigint NOT NULL,
	op_time			timestamptz NOT NULL
);

CREATE FUNCTION open_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'id')] $$;
CREATE FUNCTION open_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.accounts VALUES ((d->>'id')::int, (d->>'balance')::bigint, v) $$;

CREATE FUNCTION transfer_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['acct:' || (d->>'from'), 'acct:' || (d->>'to')] $$;
-- Read both balances, move at most what the payer has (the result depends
-- on the order of ops), write the balances computed from what was read.
CREATE FUNCTION transfer_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	f		int := (d->>'from')::int;
	t		int := (d->>'to')::int;
	fb		bigint;
	tb		bigint;
	moved	bigint;
BEGIN
	SELECT balance INTO STRICT fb FROM public.accounts WHERE id = f;
	SELECT balance INTO STRICT tb FROM public.accounts WHERE id = t;
	moved := CASE WHEN f = t THEN 0 ELSE least((d->>'amount')::bigint, fb) END;
	UPDATE public.accounts SET balance = balance - moved, last_version = v WHERE id = f;
	UPDATE public.accounts SET balance = balance + moved, last_version = v WHERE id = t;
	INSERT INTO public.history
		VALUES (v, f, t, (d->>'amount')::bigint, moved, fb, tb, rig_op_time());
END $$;

SELECT rig_register('open', 'open_apply(bigint,jsonb)', NULL, 'open_resources(jsonb)');
SELECT rig_register('transfer', 'transfer_apply(bigint,jsonb)', NULL, 'transfer_resources(jsonb)');
};

=pod

=over

=item rig_bank_setup($node, %params)

Create the bank's tables and handler functions in database postgres of
$node and register its methods (do it on every node before it becomes a
peer or a follower: they must have the same handlers).  Parameters:

=over

=item more => string

more SQL run after the bank's, in the same session: other tables and
methods of the test

=back

=cut

sub rig_bank_setup
{
	my ($node, %params) = @_;

	$node->safe_psql($dbname, $bank_sql . ($params{more} // ''));
	return;
}

=pod

=item rig_bank_open($node, $naccounts, $balance)

Open accounts 1 to $naccounts with $balance each, one rig_do('open') per
account, all in one transaction on $node.

=cut

sub rig_bank_open
{
	my ($node, $naccounts, $balance) = @_;

	$node->safe_psql($dbname,
		"SELECT rig_do('open', jsonb_build_object('id', i, 'balance', $balance)) "
		  . "FROM generate_series(1, $naccounts) i");
	return;
}

=pod

=item rig_bank_scripts($dir, %params)

Write pgbench scripts of random transfers between accounts 1 to naccounts
into directory $dir and return a reference to a hash of their paths:

=over

=item single => "$dir/single.sql"

one transfer

=item pair => "$dir/pair.sql"

a transfer and, in the same transaction, half its amount back (both take
the same locks, so they cannot deadlock with anything)

=item rollback => "$dir/rollback.sql"

a transfer in a transaction that is rolled back

=back

Parameters:

=over

=item naccounts => number

the accounts to choose from (required)

=item max_amount => number

amounts are random between 1 and this (required); they often exceed
the payer's balance when it is larger than the initial balances

=item distinct => 1

from and to are different accounts (default: any two, maybe the same)

=back

=cut

sub rig_bank_scripts
{
	my ($dir, %params) = @_;
	my $n = $params{naccounts};

	die 'rig_bank_scripts needs naccounts and max_amount'
	  unless defined $n && defined $params{max_amount};
	my $to = $params{distinct} ? "1 + (:from + random(0, $n - 2)) % $n" : "random(1, $n)";
	my $vars =
	    "\\set from random(1, $n)\n"
	  . "\\set to $to\n"
	  . "\\set amount random(1, $params{max_amount})\n";
	my $transfer =
	  q{SELECT rig_do('transfer', jsonb_build_object('from', :from, 'to', :to, 'amount', :amount));}
	  . "\n";
	my $back =
	  q{SELECT rig_do('transfer', jsonb_build_object('from', :to, 'to', :from, 'amount', :amount / 2));}
	  . "\n";
	my %script = (
		single   => $vars . $transfer,
		pair     => $vars . "BEGIN;\n" . $transfer . $back . "COMMIT;\n",
		rollback => $vars . "BEGIN;\n" . $transfer . "ROLLBACK;\n");
	my %path;

	for my $name (sort keys %script)
	{
		$path{$name} = "$dir/$name.sql";
		die "$path{$name} exists already" if -e $path{$name};
		append_to_file($path{$name}, $script{$name});
	}
	return \%path;
}

=pod

=item rig_bank_dump($node, @queries)

What two nodes that replicate each other must hold alike: rig.log (but for
the columns local to a node), accounts and history, as COPY output in a
fixed order (TimeZone UTC), then the output of COPY (query) for each of
@queries (other tables of the test; give them an ORDER BY).  Compare the
dumps of two nodes with is().

=cut

sub rig_bank_dump
{
	my ($node, @queries) = @_;
	return rig_log_dump($node, 'SELECT * FROM accounts ORDER BY id',
		'SELECT * FROM history ORDER BY version', @queries);
}

=pod

=over

=item rig_log_dump($node, @queries)

rig.log of $node (but for the columns local to a node) as COPY output in
version order (TimeZone UTC), then the output of COPY (query) for each of
@queries (the test's tables; give them an ORDER BY).  Two nodes that
replicate each other must give the same dump.

=back

=cut

sub rig_log_dump
{
	my ($node, @queries) = @_;
	my $sql = q{
SET TimeZone = 'UTC';
COPY (SELECT version, epoch, method, data, idempotency_key, op_time, origin
		FROM rig.log ORDER BY version) TO STDOUT;
};

	$sql .= "\\echo ----\nCOPY ($_) TO STDOUT;\n" for @queries;
	return $node->safe_psql($dbname, $sql);
}

=pod

=item rig_bank_total_ok($node, $total, $test_name)

A test: the balances on $node add up to $total and none is negative.
Returns what is() returns.

=cut

sub rig_bank_total_ok
{
	my ($node, $total, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	return is(
		$node->safe_psql(
			$dbname, q{SELECT sum(balance) || ' ' || (min(balance) >= 0) FROM accounts}),
		"$total true", $test_name);
}

=pod

=item rig_bank_history_ok($node, $test_name)

A test: every transfer in the rig.log of $node has its history row (it
was applied; history's key, the version, allows one row a transfer).
Returns what is() returns.

=back

=cut

sub rig_bank_history_ok
{
	my ($node, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	return is(
		$node->safe_psql(
			$dbname, q{
SELECT count(*) FROM rig.log l WHERE method = 'transfer'
   AND NOT EXISTS (SELECT 1 FROM history h WHERE h.version = l.version)}),
		'0', $test_name);
}


=pod

=over

=item rig_start_paused($node, $point, $body [, $args])

Start rig_do('note', {"body": $body}) (the method of rig_notes_sql), or
rig_do($args) when given ($body must then appear in $args), in a
background session of $node that stops at fault point $point
(rig.fault_point), and wait until the backend is paused there (two tests).
Returns the session and its backend's pid.

=item rig_client_end($session)

The server of a background session died: wait for its psql to exit and
return what it printed.

=back

=cut

sub rig_start_paused
{
	my ($node, $point, $body, $args) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$args //= qq{'note', '{"body": "$body"}'};
	my $s = rig_session($node);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe("SET rig.fault_point = '$point'");
	my $offset = -s $node->logfile;
	$s->query_until(qr/sent/,
		qq{\\echo sent\nSELECT 'version=' || rig_do($args);\n\\echo done\n});
	ok( $node->poll_query_until(
			$dbname, qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE pid = $pid AND wait_event_type = 'Extension' AND query LIKE '%$body%'}),
		"$body: the committing backend is paused (wait_event_type Extension)");
	ok($node->wait_for_log(qr/rig: paused at fault point "$point"/, $offset),
		"$body: the server log says it paused at $point");
	return ($s, $pid);
}

=pod

=over

=item rig_start_paused_sql($node, $point, $sql)

Run $sql in a background session of $node that stops at fault point
$point (rig.fault_point), and wait until the server log says it paused
there.  Returns the session and its backend's pid; the statement's output
and errors stay in the session.

=item rig_snapshot_rows($node, $id, $relation)

The rows snapshot $id of $node stores for $relation (as rig.snapshot_chunks
holds them, one jsonb text per line, in chunk and key order).

=item rig_table_rows($node, $relation, $order)

The rows of table $relation of $node, one to_jsonb text per line, ordered by
$order (its primary key): the form of rig_snapshot_rows.

=item rig_replay_into($from, $to, $where)

Apply the records of $from's rig.log that match $where (an SQL condition
on its columns), in version order, to the standalone primary $to through
its handlers (rig_import, with their versions and op times).  Returns how
many.

=back

=cut

sub rig_start_paused_sql
{
	my ($node, $point, $sql) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $s = rig_session($node);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe("SET rig.fault_point = '$point'");
	my $offset = -s $node->logfile;
	$s->query_until(qr/sent/, qq{\\echo sent\n$sql;\n\\echo done\n});
	ok($node->wait_for_log(qr/rig: paused at fault point "$point"/, $offset),
		"the backend running the statement paused at $point");
	return ($s, $pid);
}

sub rig_snapshot_rows
{
	my ($node, $id, $relation) = @_;
	return $node->safe_psql($dbname, qq{
SELECT string_agg(e.r::text, E'\n' ORDER BY c.chunk, e.o)
  FROM rig.snapshot_chunks c, jsonb_array_elements(c.rows) WITH ORDINALITY e(r, o)
 WHERE c.snapshot_id = $id AND c.relation = '$relation'});
}

sub rig_table_rows
{
	my ($node, $relation, $order) = @_;
	return $node->safe_psql($dbname,
		"SELECT string_agg(to_jsonb(t)::text, E'\n' ORDER BY $order) FROM $relation t");
}

sub rig_replay_into
{
	my ($from, $to, $where) = @_;
	my $script = $from->safe_psql($dbname, qq{
SELECT format('SELECT rig_import(%s, %s, %L, %L, %L, %L, %L);',
              version, epoch, method, data, idempotency_key, op_time, origin)
  FROM rig.log WHERE $where ORDER BY version});
	my @lines = grep { length } split /\n/, $script;
	$to->safe_psql($dbname, join("\n", @lines)) if @lines;
	return scalar @lines;
}

sub rig_client_end
{
	my ($s) = @_;
	eval { $s->{run}->finish };
	return $s->{stdout};
}


=pod

=over

=item rig_psql_error($node, $sql, $user)

Run $sql on $node (as $user when given) in a new psql process, with
verbose errors, expecting it to fail (a test says so); returns psql's
standard error, for sqlstate_of and message_of, and in list context also
the seconds psql took.

=back

=cut

sub rig_psql_error
{
	my ($node, $sql, $user) = @_;
	my ($out, $err) = ('', '');
	my %conn = defined $user ? (connstr => $node->connstr($dbname) . " user=$user") : ();
	my $t0  = time;
	my $ret = $node->psql(
		$dbname, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		%conn);
	my $el = time - $t0;
	isnt($ret, 0, 'fails: ' . (split /\n/, $sql)[0]) or diag "stdout: $out";
	return wantarray ? ($err, $el) : $err;
}

=pod

=over

=item rig_session($node)

A background psql session (PostgreSQL::Test::BackgroundPsql) in database
postgres of $node that goes on after an error, with verbose errors (the
SQLSTATE, for sqlstate_of).

=item rig_bg_query($session, $sql)

Run $sql in a background session; returns its standard output, its
standard error (cleared in the session) and the seconds it took.

=item rig_bg_send($session, $sql)

Send $sql (one statement, no trailing semicolon) to a background session
and return at once, while it runs (e.g. waits for a lock); rig_bg_result
collects its outcome.

=item rig_bg_result($session)

Wait for what rig_bg_send sent to end; returns its standard output and
standard error, like rig_bg_query.

=item rig_waits_on_lock($node, $pattern)

Poll (up to the default timeout) until a backend of $node whose query
contains $pattern (SQL LIKE) waits for a lock; true then.

=back

=cut

sub rig_session
{
	my ($node) = @_;
	my $s = $node->background_psql($dbname, on_error_stop => 0);
	$s->query_safe('\set VERBOSITY verbose');
	return $s;
}

sub rig_bg_query
{
	my ($s, $sql) = @_;
	my $t0  = time;
	my $out = $s->query($sql);
	my $el  = time - $t0;
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return ($out, $err, $el);
}

sub rig_bg_send
{
	my ($s, $sql) = @_;
	my $out = $s->query_until(qr/rig_bg_sent\r?\n/, "\\echo rig_bg_sent\n$sql;\n");
	# what came after the marker, read with it, is $sql's own output (a
	# query that returns at once): keep it for rig_bg_result, which
	# query_until's clearing of stdout would otherwise lose
	$out =~ s/^.*?rig_bg_sent\r?\n//s;
	$s->{stdout} = $out . $s->{stdout};
	return;
}

sub rig_bg_result
{
	my ($s) = @_;
	my ($out, $err) = rig_bg_query($s, '');
	return ($out, $err);
}

sub rig_waits_on_lock
{
	my ($node, $pattern) = @_;
	return $node->poll_query_until($dbname,
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
		  . "AND query LIKE '%$pattern%' AND pid <> pg_backend_pid()");
}

=pod

=over

=item rig_prepared_xacts($node)

The prepared transactions on $node (all of them, rig's or not): their
count, then ": " and their GIDs if there are any.  "0" when none is left.

=item rig_peer_state($node, $peer, @columns)

Columns of the row of peer $peer in rig.peer_status on $node (default:
state), as text joined by one space, a NULL as ''.

=item rig_query_each(\@nodes, $sql)

The output of $sql on each of @nodes, joined by " / " (e.g. "1 / 1").

=back

=cut

sub rig_prepared_xacts
{
	my ($node) = @_;
	return $node->safe_psql($dbname,
		q{SELECT count(*) || coalesce(': ' || string_agg(gid, ', '), '') FROM pg_prepared_xacts});
}

sub rig_peer_state
{
	my ($node, $peer, @columns) = @_;
	@columns = ('state') unless @columns;
	my $expr = join(q{ || ' ' || }, map { "coalesce(${_}::text, '')" } @columns);
	return $node->safe_psql($dbname, "SELECT $expr FROM rig.peer_status WHERE name = '$peer'");
}

sub rig_query_each
{
	my ($nodes, $sql) = @_;
	return join(' / ', map { $_->safe_psql($dbname, $sql) } @$nodes);
}

=pod

=over

=item rig_same_ok($node, \@peers, $what, @queries)

Tests: each of @peers has the same rig_log_dump($peer, @queries) as $node
(one test per peer; the lines that differ are shown otherwise), and
nothing is prepared on $node nor on any peer (one test per node, $node
first).

=item rig_dump_difference($dump_a, $dump_b, $name_a, $name_b)

The first (up to 5) lines only in dump $dump_a, and those only in
$dump_b, for a failure message; $name_a and $name_b say where the dumps
come from (default: "the first", "the second").

=back

=cut

sub rig_same_ok
{
	my ($node, $peers, $what, @queries) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $dump = rig_log_dump($node, @queries);
	my ($name, $ok) = ($node->name, 1);

	for my $peer (@$peers)
	{
		my $peer_dump = rig_log_dump($peer, @queries);
		next
		  if is($peer_dump, $dump,
			"$what: " . $peer->name . " has the same rig.log and tables as $name");
		diag(rig_dump_difference($dump, $peer_dump, $name, $peer->name));
		$ok = 0;
	}
	for my $n ($node, @$peers)
	{
		is(rig_prepared_xacts($n), '0', "$what: nothing prepared on " . $n->name) or $ok = 0;
	}
	return $ok;
}

sub rig_dump_difference
{
	my ($dump_a, $dump_b, $name_a, $name_b) = @_;
	my %in_a = map { $_ => 1 } split /\n/, $dump_a;
	my %in_b = map { $_ => 1 } split /\n/, $dump_b;
	my @only_a = grep { !$in_b{$_} } split /\n/, $dump_a;
	my @only_b = grep { !$in_a{$_} } split /\n/, $dump_b;
	splice(@only_a, 5) if @only_a > 5;
	splice(@only_b, 5) if @only_b > 5;
	return 'only on ' . ($name_a // 'the first') . ":\n  " . join("\n  ", @only_a)
	  . "\nonly on " . ($name_b // 'the second') . ":\n  " . join("\n  ", @only_b);
}


=pod

=head1 KEYED LOAD

Bank transfers where every op carries an idempotency key (its "tag" in
the data too), run by psql clients that print, for each op, the version
rig_do returned or the SQLSTATE it failed with, so a test knows which
outcomes a client saw (pgbench cannot say which op failed).

=over

=item rig_keyed_load($node, $dir, $name, %params)

Start $params{clients} psql processes against $node, each running
$params{ops} random transfers between accounts 1 to $params{naccounts}
(amounts 1 to $params{max_amount}, default 500), one rig_do per
transaction, with key "<name>c<client>-<n>".  Files go to $dir.  Returns
the load (a hash reference) for rig_keyed_outcomes and rig_keyed_retry.

=item rig_keyed_outcomes($load)

Wait for the clients (their server may have died) and return three hash
references: key => version of every op whose client got a version; key
=> SQLSTATE of every op whose client got an error; key => 1 of every op
whose outcome the client never saw (in flight when the connection was
lost, or never sent).

=item rig_keyed_retry($node, $load, @keys)

What a client does with the ops whose outcome it did not see: send each
again, with the same key and data, to $node (one psql, one rig_do per
transaction).  Returns a hash reference: key => the version rig_do
returned, or "ERROR <SQLSTATE>".

=item rig_ledger_load($node, $dir, $name, %params)

Like rig_keyed_load, for the ledger example (examples/ledger.sql): each
op is a ledger.transfer() (whose idempotency key is the transfer id)
between accounts 1 to $params{naccounts}, ids from $params{first_id}
(default 1) on, named "<name>c<client>-<n>" as keys for
rig_keyed_outcomes; $load->{data}{$key} is the transfer's JSON and
$load->{id}{$key} its id.  A client prints the transfer's version.

=item rig_ledger_retry($node, $load, $secs, @keys)

What an application's retry loop does with transfers it did not see
acknowledged: send each again through ledger.transfer() with the same
data, again while the error is transient (rig_transient_sqlstate, or no
SQLSTATE: the connection failed), for up to $secs seconds each.  Returns
a hash reference: key => the version, or "ERROR <SQLSTATE> <message>"
for the last error.

=item rig_transient_sqlstate($sqlstate)

Whether a retry loop retries an error with this SQLSTATE: connection
(08), transaction rollback (40), operator intervention (57P: shutdown,
starting up), and rig's own RG codes (a superseded primary, a node not
ready yet).

=back

=cut

sub rig_keyed_load
{
	my ($node, $dir, $name, %params) = @_;
	my $n   = $params{naccounts} or die 'rig_keyed_load needs naccounts';
	my $max = $params{max_amount} // 500;
	my %load = (name => $name, dir => $dir, clients => $params{clients}, ops => $params{ops},
		data => {}, handles => []);

	for my $c (1 .. $params{clients})
	{
		my $sql = '';
		for my $i (1 .. $params{ops})
		{
			my $key  = "${name}c$c-$i";
			my $data = sprintf('{"from": %d, "to": %d, "amount": %d, "tag": "%s"}',
				1 + int(rand($n)), 1 + int(rand($n)), 1 + int(rand($max)), $key);
			$load{data}{$key} = $data;
			$sql .= "SELECT 'V $key ' || rig_do('transfer', '$data', '$key');\n"
			  . "\\echo R $key :SQLSTATE\n";
		}
		push @{ $load{handles} }, rig_start_script($node, $dbname, "$dir/${name}c$c", $sql);
	}
	return \%load;
}

# Write $sql to "$path.sql" and run it in the background with psql on
# $node ($dbname): output to "$path.out", errors to "$path.err"; returns
# the IPC::Run handle.
sub rig_start_script
{
	my ($node, $dbname, $path, $sql) = @_;

	append_to_file("$path.sql", $sql);
	return IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr($dbname), '-f', "$path.sql" ],
		'>', "$path.out", '2>', "$path.err");
}

sub rig_keyed_outcomes
{
	my ($load) = @_;
	my (%ok, %failed, %unseen);

	$_->finish for @{ $load->{handles} };
	for my $c (1 .. $load->{clients})
	{
		my $base = "$load->{dir}/$load->{name}c$c";
		my (%v, %code);
		for (split /\n/, slurp_file("$base.out"))
		{
			$v{$1}    = $2 if /^V (\S+) (\d+)$/;
			$code{$1} = $2 if /^R (\S+) (\S+)$/;
		}
		for my $i (1 .. $load->{ops})
		{
			my $key = "$load->{name}c$c-$i";
			if (!defined $code{$key})     { $unseen{$key} = 1; }
			elsif ($code{$key} eq '00000') { $ok{$key} = $v{$key}; }
			else                           { $failed{$key} = $code{$key}; }
		}
	}
	return (\%ok, \%failed, \%unseen);
}

sub rig_keyed_retry
{
	my ($node, $load, @keys) = @_;
	my %got;
	return \%got unless @keys;

	my $sql = join '', map {
		"SELECT 'V $_ ' || rig_do('transfer', '$load->{data}{$_}', '$_');\n\\echo R $_ :SQLSTATE\n"
	} @keys;
	my ($out, $err) = ('', '');
	$node->psql($dbname, $sql, stdout => \$out, stderr => \$err, extra_params => ['-A', '-t']);
	my %code;
	for (split /\n/, $out)
	{
		$got{$1}  = $2 if /^V (\S+) (\d+)$/;
		$code{$1} = $2 if /^R (\S+) (\S+)$/;
	}
	$got{$_} //= 'ERROR ' . ($code{$_} // '(no answer)') for @keys;
	return \%got;
}

sub rig_ledger_load
{
	my ($node, $dir, $name, %params) = @_;
	my $n  = $params{naccounts} or die 'rig_ledger_load needs naccounts';
	my $id = $params{first_id} // 1;
	my %load = (name => $name, dir => $dir, clients => $params{clients}, ops => $params{ops},
		data => {}, id => {}, handles => []);

	for my $c (1 .. $params{clients})
	{
		my $sql = '';
		for my $i (1 .. $params{ops})
		{
			my $key = "${name}c$c-$i";
			my $dr  = 1 + int(rand($n));
			my $cr  = 1 + ($dr + int(rand($n - 1))) % $n;
			$load{id}{$key} = $id;
			$load{data}{$key} = sprintf(
				'{"id": %d, "debit_account": %d, "credit_account": %d, "amount": %d, "ledger": 1}',
				$id++, $dr, $cr, 1 + int(rand(100)));
			$sql .= "SELECT 'V $key ' || (ledger.transfer('$load{data}{$key}') ->> 'version');\n"
			  . "\\echo R $key :SQLSTATE\n";
		}
		push @{ $load{handles} }, rig_start_script($node, $dbname, "$dir/${name}c$c", $sql);
	}
	return \%load;
}

sub rig_transient_sqlstate
{
	my ($code) = @_;
	return $code =~ /^(08|40|57P|RG)/ ? 1 : 0;
}

sub rig_ledger_retry
{
	my ($node, $load, $secs, @keys) = @_;
	my %got;

	for my $key (@keys)
	{
		my $deadline = time + $secs;
		while (1)
		{
			my ($out, $err) = ('', '');
			$node->psql($dbname,
				"\\set VERBOSITY verbose\nSELECT ledger.transfer('$load->{data}{$key}') ->> 'version'",
				stdout => \$out, stderr => \$err);
			if ($out =~ /^(\d+)$/) { $got{$key} = $1; last; }
			my $code = sqlstate_of($err);
			$got{$key} = "ERROR $code " . message_of($err);
			last if ($code ne '(none)' && !rig_transient_sqlstate($code)) || time > $deadline;
			usleep(100_000);
		}
	}
	return \%got;
}

=pod

=over

=item rig_xfer_setup($node, \%balances)

Load examples/transfer.sql (the bank transfer across nodes) on $node and
open the accounts given as { id => balance }, one xfer.open op each.

=item rig_xfer_pair($conf)

Two shard primaries for transfers across nodes, east (accounts 1, 2 and 3)
and west (4, 5 and 6), 1000 each, with $conf in both servers'
configurations and west registered on east (rig_add_node).  Returns
($east, $west).

=item rig_xfer_branches($from_node, $from, $to_node, $to, $amount)

The branches (JSON text) of a transfer of $amount from account $from on
node $from_node to account $to on node $to_node.

=item rig_xfer_start($coordinator, $branches, $timeout, $key)

rig_transaction_start on $coordinator; returns the id.  $timeout (an
interval's text) and $key are optional.

=item rig_xfer_pgbench($coordinator, $out, $err, $node_a, $range_a, $node_b, $range_b, $max, $clients, $txns)

Start pgbench on $coordinator: $clients clients run $txns transfers each,
of a random amount up to $max between a random account of $node_a (ids
in $range_a, e.g. '1, 3') and one of $node_b, in a random direction:
rig_transaction_start, then rig_transaction_wait.  Returns rig_pgbench's
harness.

=item rig_xfer_money(@nodes)

The sum of balances over @nodes, then " holds " and the number of holds
left on them, e.g. "6000 holds 0".

=item rig_xnode_row($node, $id)

The row of transaction $id in rig.transactions on $node: state, reason,
reason_branch, joined by "|" (a NULL as "").

=item rig_xnode_lose_final($node, $id, $phase)

With $node's WAL writer stopped (rig_stop_walwriter) and transaction $id's
final state visible there: kill -9 $node and start it with the fault
point xnode_before_$phase set, so that its worker pauses before it sends
that phase's calls again.  Returns whether it paused there and the
transaction's state then.  The fault point is cleared in the
configuration: the caller's $node->restart lets the worker go on.

=back

=cut

sub rig_xfer_setup
{
	my ($node, $balances) = @_;
	rig_load_sql($node, ($ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..") . "/examples/transfer.sql");
	$node->safe_psql($dbname,
		join('', map { "SELECT rig_do('xfer.open', '{\"account\": $_, \"balance\": $balances->{$_}}');\n" }
			  sort keys %$balances));
	return;
}

sub rig_xfer_pair
{
	my ($conf) = @_;
	my $east = rig_node('east', conf => $conf);
	my $west = rig_node('west', conf => $conf);
	rig_xfer_setup($east, { 1 => 1000, 2 => 1000, 3 => 1000 });
	rig_xfer_setup($west, { 4 => 1000, 5 => 1000, 6 => 1000 });
	$east->safe_psql($dbname, "SELECT rig_add_node('west', \$\$" . $west->connstr($dbname) . "\$\$)");
	return ($east, $west);
}

sub rig_xfer_branches
{
	my ($from_node, $from, $to_node, $to, $amount) = @_;
	my $b = '{"node": "%s", "prepare": "xfer.hold", "commit": "xfer.post", '
	  . '"abort": "xfer.release", "data": {"account": %d, "amount": %d}}';
	return '[' . sprintf($b, $from_node, $from, -$amount) . ', '
	  . sprintf($b, $to_node, $to, $amount) . ']';
}

sub rig_xfer_start
{
	my ($node, $branches, $timeout, $key) = @_;
	my $t = defined $timeout ? "'$timeout'" : 'NULL';
	my $k = defined $key ? "'$key'" : 'NULL';
	return $node->safe_psql($dbname,
		"SELECT rig_transaction_start(\$b\$$branches\$b\$, $t, $k)");
}

sub rig_xfer_pgbench
{
	my ($node, $out, $err, $na, $ra, $nb, $rb, $max, $clients, $txns) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir;
	PostgreSQL::Test::Utils::append_to_file("$dir/xfer.sql", qq{
\\set a random($ra)
\\set b random($rb)
\\set amt random(1, $max)
\\set s 1 - 2 * random(0, 1)
SELECT rig_transaction_start(jsonb_build_array(
  jsonb_build_object('node', '$na', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', :a, 'amount', -:amt * :s)),
  jsonb_build_object('node', '$nb', 'prepare', 'xfer.hold', 'commit', 'xfer.post', 'abort', 'xfer.release',
                     'data', jsonb_build_object('account', :b, 'amount', :amt * :s)))) AS id \\gset
SELECT rig_transaction_wait(:id, '60s');
});
	return rig_pgbench($node, $out, $err, '-c', $clients, '-j', 2, '-t', $txns, '-f', "$dir/xfer.sql");
}

sub rig_xfer_money
{
	my (@nodes) = @_;
	my ($sum, $holds) = (0, 0);
	for my $n (@nodes)
	{
		my ($s, $h) = split /\|/, $n->safe_psql($dbname,
			'SELECT (SELECT coalesce(sum(balance), 0) FROM xfer.accounts), (SELECT count(*) FROM xfer.holds)');
		$sum += $s;
		$holds += $h;
	}
	return "$sum holds $holds";
}

sub rig_xnode_lose_final
{
	my ($node, $id, $phase) = @_;
	$node->append_conf('postgresql.conf', "rig.fault_point = 'xnode_before_$phase'");
	my $offset = -s $node->logfile;
	crash($node, 'all');
	$node->start;
	my $paused = $node->wait_for_log(qr/rig: paused at fault point "xnode_before_$phase"/, $offset);
	my $state = $node->safe_psql($dbname, "SELECT state FROM rig.transactions WHERE id = $id");
	$node->adjust_conf('postgresql.conf', 'rig.fault_point', "''");
	return ($paused, $state);
}

sub rig_xnode_row
{
	my ($node, $id) = @_;
	return $node->safe_psql($dbname,
		"SELECT state || '|' || coalesce(reason, '') || '|' || coalesce(reason_branch::text, '') "
		  . "FROM rig.transactions WHERE id = $id");
}

1;

