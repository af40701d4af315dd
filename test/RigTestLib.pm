
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

=cut

package RigTestLib;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(rig_node rig_load_sql crash poll_for);

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

# SIGKILL a node ('postmaster': only the postmaster; 'all', the default:
# every process at once, like a power loss) and wait until all its processes are gone (the postmaster too:
# as a zombie it still owns the pid in postmaster.pid).
sub crash
{
	my ($node, $how) = @_;
	$how //= 'all';
	my ($pm) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	my @children;
	if ($how eq 'all')
	{
		# freeze them all first, so that none reacts to another's death
		kill 'STOP', $pm;
		@children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
		kill 'STOP', @children;
		kill 'KILL', @children;
	}
	else
	{
		@children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pm`;
	}
	$node->kill9;
	for (1 .. 1200)
	{
		my @alive = grep {
			my $stat = -e "/proc/$_/stat" ? eval { slurp_file("/proc/$_/stat") } : undef;
			defined $stat && ($_ == $pm || $stat !~ /^\d+ \(.*\) Z/)
		} ($pm, @children);
		return unless @alive;
		usleep(100_000);
	}
	die 'processes of ' . $node->name . ' did not exit after SIGKILL';
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

1;
