
# Copyright (c) 2026, rig developers

# Clients find the primary with stock libpq: a connection string listing
# both nodes, the replica first, with target_session_attrs=read-write lands
# on the primary, before and after the roles change.  On a node that is not
# the primary, ordinary sessions start with default_transaction_read_only =
# on (and neither a startup option nor RESET undoes it); superusers and
# members of rig_replication (directly or through another role) start with
# it off, and replication through such a role keeps working.  The role
# change is simulated with UPDATE rig.node (rig_promote is another part of
# issue 10) and nothing reads rig.node then: the worker publishes it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use RigTestLib;

my $node_a = rig_node('a');
my $node_b = rig_node('b');
my $host = $node_a->host;
is($node_b->host, $host, 'both nodes listen in the same socket directory');

for my $node ($node_a, $node_b)
{
	$node->safe_psql('postgres', rig_notes_sql() . q{
CREATE ROLE app LOGIN IN ROLE rig_writer;
CREATE ROLE rigrep LOGIN IN ROLE rig_replication;
CREATE ROLE rigrep2 LOGIN IN ROLE rigrep;
});
}

# What an ordinary or exempt session on $node starts with
sub read_only_of
{
	my ($node, $user, $extra) = @_;
	return $node->safe_psql('postgres', 'SHOW default_transaction_read_only',
		connstr => $node->connstr('postgres') . " user=$user" . ($extra // ''));
}

# The port of the node a multi-host connection string (b first) lands on,
# as user app, or psql's error
sub landing
{
	my ($attrs) = @_;
	my $connstr = "host=$host,$host port=" . $node_b->port . ',' . $node_a->port
	  . " dbname=postgres user=app target_session_attrs=$attrs";
	my ($ret, $out, $err) = $node_a->psql('postgres', 'SHOW port',
		connstr => $connstr, extra_params => ['-w']);
	return $ret == 0 ? $out : "error: $err";
}

###########################################################################
# Two primaries: nothing is routed
###########################################################################

is(read_only_of($node_b, 'app'), 'off', 'b, still a primary: an ordinary session writes');
is(landing('read-write'), $node_b->port, 'b, still a primary: the multi-host string takes b');

###########################################################################
# A change of role is published as it commits, not when undone
###########################################################################

# c: a third, empty node; nothing on it reads rig.node after the change
my $node_c = rig_node('c');
$node_c->safe_psql('postgres', 'CREATE ROLE app LOGIN IN ROLE rig_writer');
$node_c->safe_psql('postgres', q{BEGIN; SELECT rig_become_replica('a', 1); SELECT rig_node_info(); ROLLBACK});
is(read_only_of($node_c, 'app'), 'off', 'a rolled-back change of role publishes nothing');
$node_c->safe_psql('postgres', q{SELECT rig_become_replica('a', 1)});
is(read_only_of($node_c, 'app'), 'on', 'a committed change of role is published at once');
$node_c->stop;

###########################################################################
# b becomes a's replica
###########################################################################

# through a role that is a member of rig_replication only through rigrep
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . " user=rigrep2\$\$)");
is($node_b->safe_psql('postgres', 'SELECT role, primary_name FROM rig.node'),
	'replica|a', 'b is the replica of a');

is(read_only_of($node_b, 'app'), 'on',
	'replica: an ordinary session starts with default_transaction_read_only = on');
is(landing('read-write'), $node_a->port,
	'replica listed first, target_session_attrs=read-write: lands on the primary a');
is(landing('any'), $node_b->port, 'target_session_attrs=any still takes b first');
is(read_only_of($node_b, 'postgres'), 'off', 'replica: a superuser session writes');
is(read_only_of($node_b, 'rigrep'), 'off', 'replica: a rig_replication member writes');
is(read_only_of($node_b, 'rigrep2'), 'off',
	'replica: a member of rig_replication through another role writes');
is(read_only_of($node_a, 'app'), 'off', 'primary a: an ordinary session writes');
is(read_only_of($node_b, 'app', q{ options='-c default_transaction_read_only=off'}),
	'on', 'replica: a startup option does not undo it');
is( $node_b->safe_psql(
		'postgres', "RESET default_transaction_read_only; SHOW default_transaction_read_only",
		connstr => $node_b->connstr('postgres') . ' user=app'),
	'on', 'replica: RESET returns to on');

# replication through rigrep2 keeps working (writes on b through a
# rig_replication member); the client reaches a through the multi-host string
my $multi = "host=$host,$host port=" . $node_b->port . ',' . $node_a->port
  . ' dbname=postgres user=app target_session_attrs=read-write';
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "one"}')},
	connstr => $multi);
is($node_b->safe_psql('postgres', 'SELECT string_agg(body, \',\' ORDER BY id) FROM notes'),
	'one', 'an op written through the multi-host string reached the replica');

###########################################################################
# The roles change: b is the primary, a its replica (simulated)
###########################################################################

$node_a->safe_psql('postgres', "SELECT rig_drop_peer('b')");
$node_b->safe_psql('postgres', q{UPDATE rig.node SET role = 'primary', primary_name = NULL});
$node_a->safe_psql('postgres', q{UPDATE rig.node SET role = 'replica', primary_name = 'b'});

# nobody read rig.node since: the worker's round publishes it, even with
# its work off (rig.resolver_interval = -1); a reload wakes it at once
$_->reload for ($node_a, $node_b);
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
usleep(100_000) while landing('read-write') ne $node_b->port && time < $deadline;
is(landing('read-write'), $node_b->port,
	'after the role change the same multi-host string lands on the new primary b');
is(read_only_of($node_a, 'app'), 'on', 'the old primary a: an ordinary session is read-only');
is(read_only_of($node_b, 'app'), 'off', 'the new primary b: an ordinary session writes');
is(read_only_of($node_a, 'rigrep'), 'off', 'the old primary a: a rig_replication member writes');

done_testing();
