
# Copyright (c) 2026, rig developers

# No role goes around the log (issue 8, section 3), on a primary a and its
# sync replica b:
#  - an apply handler cannot be called directly on either node; one that
#    a role other than its owner may EXECUTE is refused by rig_do (on a)
#    and by the replica's apply (on b), and nothing is committed anywhere;
#  - a prepared transaction with a GID shaped like rig's, made by an
#    ordinary role or naming another primary, does not hold the replica's
#    watermark back (a real one does: 010 section d);
#  - rig_apply_remote refuses versions and epochs below 1, and a call that
#    rolls back leaves the replica's watermark as it was;
#  - rig.peer_status is readable by rig_reader and pg_monitor roles;
#  - a node started with an invalid rig.node_name refuses to start.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

# Run SQL on $node as $user; dies on error.
sub psql_as
{
	my ($node, $user, $sql) = @_;
	return $node->safe_psql('postgres', $sql,
		connstr => $node->connstr('postgres') . " user=$user");
}

# The handler is SECURITY DEFINER, as rig once advised: called directly, it
# could write notes for any role holding EXECUTE.
my $roles = q{
ALTER FUNCTION note_apply(bigint, jsonb) SECURITY DEFINER;
CREATE ROLE app LOGIN IN ROLE rig_writer;
CREATE ROLE plain LOGIN;
CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
CREATE ROLE reader LOGIN IN ROLE rig_reader;
GRANT SELECT ON notes TO app;
};

my $node_a = rig_node('a');
my $node_b = rig_node('b');
for my $node ($node_a, $node_b)
{
	$node->safe_psql('postgres', rig_notes_sql() . $roles);
}
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$)");
psql_as($node_a, 'app', q{SELECT rig_do('note', '{"body": "one"}')});
is($node_b->safe_psql('postgres', 'SELECT string_agg(body, \',\') FROM notes'),
	'one', 'a writer without EXECUTE on the handlers wrote through rig_do; b has it');

###########################################################################
# Apply handlers are not callable around the log
###########################################################################

for my $node ($node_a, $node_b)
{
	my $name = $node->name;
	my $err = rig_psql_error($node, q{SELECT note_apply(1000, '{"body": "direct"}')}, 'app');
	is(sqlstate_of($err), '42501', "$name: a rig_writer calling the apply handler directly: 42501");
	like($err, qr/permission denied for function note_apply/,
		"$name: the writer may not execute it");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM notes WHERE id = 1000'),
		'0', "$name: the direct call changed nothing");
}

my $count_notes = 'SELECT count(*) FROM notes';

# EXECUTE for PUBLIC on the primary's apply handler: rig_do refuses.
$node_a->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION note_apply(bigint, jsonb) TO PUBLIC');
my $err = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "public on a"}')}, 'app');
is(sqlstate_of($err), '42501', 'a: apply handler executable by PUBLIC: rig_do refuses with 42501');
like($err, qr/apply handler note_apply\(bigint,jsonb\) of method "note" can be called directly/,
	'a: the message names the handler');
like($err, qr/HINT:  Run: REVOKE EXECUTE ON FUNCTION note_apply\(bigint,jsonb\) FROM PUBLIC;/,
	'a: the hint gives the REVOKE');
$node_a->safe_psql('postgres', 'REVOKE EXECUTE ON FUNCTION note_apply(bigint, jsonb) FROM PUBLIC');
is(rig_query_each([ $node_a, $node_b ], $count_notes), '1 / 1', 'nothing was committed on either node');

# The same on the replica: its apply refuses, so the commit fails.
$node_b->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION note_apply(bigint, jsonb) TO app');
$err = rig_psql_error($node_a, q{SELECT rig_do('note', '{"body": "granted on b"}')}, 'app');
is(sqlstate_of($err), '42501', 'b: apply handler executable by another role: the commit fails with 42501');
like($err, qr/can be called directly/, 'b: the peer\'s message comes through');
is(rig_query_each([ $node_a, $node_b ], $count_notes), '1 / 1', 'nothing was committed on either node');
$node_b->safe_psql('postgres', 'REVOKE EXECUTE ON FUNCTION note_apply(bigint, jsonb) FROM app');
psql_as($node_a, 'app', q{SELECT rig_do('note', '{"body": "two"}')});
is(rig_query_each([ $node_a, $node_b ], $count_notes), '2 / 2', 'after the REVOKE rig_do commits on both nodes again');

###########################################################################
# Only rig's own prepared transactions hold the replica's watermark
###########################################################################

my $last = $node_b->safe_psql('postgres', 'SELECT rig_last_version()');
psql_as($node_b, 'plain', q{BEGIN; PREPARE TRANSACTION 'rig_a_1_1_1_1_1';});
$node_b->safe_psql('postgres', q{BEGIN; PREPARE TRANSACTION 'rig_x_1_1_2_1_1';});
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), $last,
	'b: GIDs like rig\'s from an ordinary role or naming another primary do not hold the watermark');
$node_b->safe_psql('postgres', q{BEGIN; PREPARE TRANSACTION 'rig_a_1_1_3_1_1';});
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), '0',
	'b: a superuser\'s transaction naming the primary does');
$node_b->safe_psql('postgres', q{
ROLLBACK PREPARED 'rig_a_1_1_1_1_1';
ROLLBACK PREPARED 'rig_x_1_1_2_1_1';
ROLLBACK PREPARED 'rig_a_1_1_3_1_1';
});
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), $last,
	'b: the watermark is back once it is rolled back');

###########################################################################
# rig_apply_remote: version range, and no trace of a rolled-back call
###########################################################################

my $apply = q{SELECT rig_apply_remote('a', 1, %s, %s, 'note', '{"body": "forged"}', NULL, now(), 'a')};
for my $args ([ 0, 1 ], [ -5, 1 ], [ 5, 0 ])
{
	$err = rig_psql_error($node_b, sprintf($apply, @$args));
	is(sqlstate_of($err), '22023', "rig_apply_remote version $args->[0], epoch $args->[1]: 22023");
}
$node_b->safe_psql('postgres',
	"BEGIN; " . sprintf($apply, 1000000000, 1) . "; ROLLBACK;");
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), $last,
	'b: a rolled-back rig_apply_remote of version 1e9 leaves the watermark alone');
is($node_b->safe_psql('postgres', 'SELECT watermark FROM rig.status'), $last,
	'b: and rig.status says the same');
my $v = psql_as($node_a, 'app', q{SELECT rig_do('note', '{"body": "three"}')});
is($node_b->safe_psql('postgres', 'SELECT rig_watermark()'), $v,
	'b: a committed op still moves the watermark');

###########################################################################
# Monitoring without superuser
###########################################################################

for my $user ('reader', 'monitor')
{
	is(psql_as($node_a, $user, 'SELECT name, state, versions_behind FROM rig.peer_status'),
		'b|in_sync|0', "a: $user reads rig.peer_status");
	is(psql_as($node_b, $user, 'SELECT role, primary_name FROM rig.status'),
		'replica|a', "b: $user reads rig.status");
	is(psql_as($node_b, $user, 'SELECT count(*) FROM rig.in_doubt'),
		'0', "b: $user reads rig.in_doubt");
}

###########################################################################
# An invalid rig.node_name stops the server
###########################################################################

my $bad = PostgreSQL::Test::Cluster->new('bad');
$bad->init;
$bad->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'rig'
rig.node_name = 'bad name'
});
ok(!$bad->start(fail_ok => 1), 'a node with rig.node_name = \'bad name\' does not start');
like(slurp_file($bad->logfile),
	qr/FATAL:  invalid value for parameter "rig.node_name": "bad name"/,
	'its log says why it stopped, naming the setting and the value');

done_testing();
