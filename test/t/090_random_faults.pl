
# Copyright (c) 2026, rig developers

# Randomized faults (issue 8): concurrent bank transfers on primary "a"
# with peer "b", while a script, round after round, randomly kills -9 the
# primary or the peer, switches the peer's mode, drops and re-adds it,
# compacts the log and cancels catch-up.  After each round, once the peer
# is back in sync, both nodes must hold the same log (above what was
# compacted) and the same tables, money must be conserved on both, and no
# prepared transaction may be left behind.
#
# RIG_FAULT_SECONDS (default 60: what CI runs) bounds the run;
# RIG_FAULT_SEED (default fixed) makes it repeatable: the seed is printed,
# so any failure can be replayed.  `make faultcheck` runs it for 10 minutes
# with a random seed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $seconds = $ENV{RIG_FAULT_SECONDS} // 60;
my $seed    = $ENV{RIG_FAULT_SEED}    // 20261130;
srand($seed);
diag("random faults: seed $seed, $seconds s (replay: RIG_FAULT_SEED=$seed)");

my $naccounts = 8;
my $initial   = 1000;
my $total     = $naccounts * $initial;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 2000
rig.resolver_interval = 200
};
my $a = rig_node('a', conf => $conf);
my $b = rig_node('b', conf => $conf);
rig_bank_setup($_) for ($a, $b);
my $b_conninfo = $b->connstr('postgres');
my $mode       = 'sync';
$a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$b_conninfo\$\$, '$mode')");
rig_bank_open($a, $naccounts, $initial);
my $scripts = rig_bank_scripts(PostgreSQL::Test::Utils::tempdir,
	naccounts => $naccounts, max_amount => 300, distinct => 1);

my %faults;
my $peer_added = 1;

# One fault, chosen at random, while the transfers run.
sub inject
{
	my @kinds = qw(kill_peer kill_primary mode drop_readd compact cancel_catchup);
	my $kind = $kinds[ int(rand(@kinds)) ];
	$faults{$kind}++;
	if ($kind eq 'kill_peer')
	{
		crash($b);
		usleep(int(rand(500_000)));
		$b->start;
	}
	elsif ($kind eq 'kill_primary')
	{
		crash($a);
		$a->start;
	}
	elsif ($kind eq 'mode')
	{
		my @modes = grep { $_ ne $mode } qw(sync semisync async);
		$mode = $modes[ int(rand(@modes)) ];
		$kind .= " to $mode";
		$a->psql('postgres', "SELECT rig_set_peer_mode('b', '$mode')") if $peer_added;
	}
	elsif ($kind eq 'drop_readd')
	{
		$a->psql('postgres', "SELECT rig_drop_peer('b')");
		$peer_added = 0;
		my ($ret) = $a->psql('postgres', "SELECT rig_add_peer('b', \$\$$b_conninfo\$\$, '$mode')");
		$peer_added = 1 if $ret == 0;
	}
	elsif ($kind eq 'compact')
	{
		$a->psql('postgres', 'SELECT rig_compact(rig_watermark() - 20)');
	}
	else
	{
		$a->psql('postgres', "SET statement_timeout = 30; SELECT rig_sync_peer('b')");
	}
	return $kind;
}

# Bring the pair back to a settled state: peer added and in sync, nothing
# in doubt.  Returns a description of what did not settle, or ''.
sub settle
{
	my $deadline = time + 60;

	# pgbench may leave a commit running when its time is up
	$a->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgbench'})
	  or return 'pgbench sessions did not end';
	while (time < $deadline)
	{
		if (!$peer_added)
		{
			my ($ret) = $a->psql('postgres',
				"SELECT rig_add_peer('b', \$\$$b_conninfo\$\$, '$mode')");
			$peer_added = 1 if $ret == 0;
		}
		if ($peer_added)
		{
			$a->psql('postgres', 'SELECT rig_resolve()');
			my ($ret) = $a->psql('postgres', "SELECT rig_sync_peer('b')");
			my $state = $a->safe_psql('postgres',
				"SELECT state FROM rig.peer_status WHERE name = 'b'");
			my $prepared = $b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts');
			return '' if $ret == 0 && $state eq 'in_sync' && $prepared eq '0';
		}
		usleep(200_000);
	}
	return 'the peer did not return to in_sync with nothing in doubt within 60 s';
}

# What both nodes must hold alike: the log above what either compacted,
# and the bank's tables.
sub dump_above
{
	my ($node, $from) = @_;
	return $node->safe_psql(
		'postgres', qq{
SET TimeZone = 'UTC';
COPY (SELECT version, epoch, method, data, idempotency_key, op_time, origin
		FROM rig.log WHERE version >= $from ORDER BY version) TO STDOUT;
\\echo ----
COPY (SELECT * FROM accounts ORDER BY id) TO STDOUT;
\\echo ----
COPY (SELECT * FROM history WHERE version >= $from ORDER BY version) TO STDOUT;
});
}

my $start  = time;
my $rounds = 0;
while (time - $start < $seconds)
{
	$rounds++;
	my ($out, $err) = ('', '');
	my $bench = rig_pgbench($a, \$out, \$err, '-c', 4, '-T', 2, '-f', $scripts->{single});
	usleep(int(rand(1_500_000)));
	my $kind = inject();
	$bench->finish;

	my $unsettled = settle();
	is($unsettled, '', "round $rounds ($kind): the pair settles");
	last if $unsettled;
	my $from = $a->safe_psql('postgres',
		'SELECT greatest(min(version), 0) FROM rig.log') + 0;
	my $from_b = $b->safe_psql('postgres', 'SELECT greatest(min(version), 0) FROM rig.log') + 0;
	$from = $from_b if $from_b > $from;
	my ($dump_a, $dump_b) = (dump_above($a, $from), dump_above($b, $from));
	ok($dump_a eq $dump_b, "round $rounds ($kind): the peer holds the primary's log and tables")
	  or diag(rig_dump_difference($dump_a, $dump_b, 'the primary', 'the peer'));
	is($a->safe_psql('postgres', q{SELECT count(*) FROM rig_verify_peer('b')}),
		'0', "round $rounds ($kind): rig_verify_peer finds no difference");
	rig_bank_total_ok($_, $total, "round $rounds ($kind): money is conserved on " . $_->name)
	  for ($a, $b);
}

diag("random faults: seed $seed, $rounds rounds, faults: "
	  . join(', ', map { "$_ $faults{$_}" } sort keys %faults));
ok($rounds > 0, "ran $rounds rounds");

done_testing();
