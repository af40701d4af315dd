
# Copyright (c) 2026, rig developers

# rig_add_peer() refuses nodes that cannot be a replica of this primary,
# each with a clear error and without changing either node: no extension,
# a connecting role outside rig_replication, max_prepared_transactions = 0,
# different handlers, a primary with its own log, an unreachable conninfo.
# On a replica, rig_apply_remote() accepts operations only from roles in
# rig_replication, only from its primary, only in the primary's epoch.
# A password in rig.peers' conninfo is not readable by ordinary roles.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = qq{max_prepared_transactions = 20\nrig.sync_timeout = 3000\n};

###########################################################################
# Helpers
###########################################################################

my $node_a;

# rig_add_peer() must fail with $state and a message matching $re, and
# leave both nodes as they were.
sub add_peer_refused
{
	my ($what, $peer, $conninfo, $state, $re) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $peer_node_before = $peer
	  ? $peer->safe_psql('postgres',
		q{SELECT coalesce((SELECT role || '/' || coalesce(primary_name, '-') FROM rig.node), 'no rig')
		   FROM (SELECT 1) x WHERE true})
	  : undef;
	my $err = rig_psql_error($node_a, "SELECT rig_add_peer('p', \$\$$conninfo\$\$)");
	note "$what: $err";
	is(sqlstate_of($err), $state, "$what: SQLSTATE $state");
	like($err, $re, "$what: the message says why");
	is($node_a->safe_psql('postgres', 'SELECT count(*) FROM rig.peers'),
		'0', "$what: no peer recorded");
	if ($peer)
	{
		is( $peer->safe_psql(
				'postgres',
				q{SELECT coalesce((SELECT role || '/' || coalesce(primary_name, '-') FROM rig.node), 'no rig')
				   FROM (SELECT 1) x WHERE true}),
			$peer_node_before,
			"$what: the peer's role did not change");
	}
	return $err;
}

###########################################################################
# Nodes
###########################################################################

# The handlers; $body is the apply handler's SQL.
my $good_body = q{INSERT INTO notes VALUES (v, coalesce(d->>'body', ''))};
my $bad_body  = q{INSERT INTO notes VALUES (v, upper(coalesce(d->>'body', '')))};

sub handlers
{
	my ($body) = @_;
	return qq{
CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);
CREATE FUNCTION note_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS \$\$ SELECT ARRAY['note:' || coalesce(d->>'body', '')] \$\$;
CREATE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
	AS \$\$ $body \$\$;
SELECT rig_register('note', 'note_apply(bigint,jsonb)', NULL, 'note_resources(jsonb)');
};
}

$node_a = rig_node('a', conf => $conf);
$node_a->safe_psql('postgres', handlers($good_body));
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "one"}')});

# b: rig loaded, but no extension yet
my $node_b = rig_node('b', conf => $conf, extension => 0);
my $conn_b = $node_b->connstr('postgres');

# the test clusters trust local connections: a connstr with user=x logs in as x
is( $node_b->safe_psql(
		'postgres',
		q{SELECT count(*) > 0 AND bool_and(auth_method = 'trust') FROM pg_hba_file_rules WHERE type = 'local'}),
	't', 'b trusts local connections');

###########################################################################
# Refusals
###########################################################################

add_peer_refused('peer without the extension', undef, $conn_b, '55000',
	qr/peer "p" does not have the rig extension/);

$node_b->safe_psql('postgres', 'CREATE EXTENSION rig');
$node_b->safe_psql('postgres', handlers($bad_body));
$node_b->safe_psql('postgres', q{
CREATE ROLE norep LOGIN;
CREATE ROLE rigrep LOGIN PASSWORD 'rep-secret-pw' IN ROLE rig_replication;
CREATE ROLE plain LOGIN;
});

my $err = add_peer_refused("connecting role not in rig_replication",
	$node_b, "$conn_b user=norep", '42501',
	qr/role "norep" on peer "p" is not a member of rig_replication/);
like($err, qr/GRANT rig_replication TO norep/, 'not in rig_replication: the hint says what to run');

$err = add_peer_refused('different handlers (same method, other body)',
	$node_b, "$conn_b user=rigrep", '55000',
	qr/"p" does not have the same handlers/);
like($err, qr/note=/, 'different handlers: the detail names the method');

# a node that cannot prepare transactions
my $node_c = rig_node('c', conf => "${conf}max_prepared_transactions = 0\n");
$node_c->safe_psql('postgres', handlers($good_body));
add_peer_refused('max_prepared_transactions = 0', $node_c, $node_c->connstr('postgres'),
	'55000', qr/max_prepared_transactions/);

# a primary with its own log
my $node_d = rig_node('d', conf => $conf);
$node_d->safe_psql('postgres', handlers($good_body));
$node_d->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "d own"}')});
add_peer_refused('a primary with its own log', $node_d, $node_d->connstr('postgres'),
	'55000', qr/peer "p" is a primary with its own log/);

# nothing listens there
my $free_port = PostgreSQL::Test::Cluster::get_free_port();
add_peer_refused('unreachable conninfo', undef,
	'host=' . $node_b->host . " port=$free_port dbname=postgres", '08001',
	qr/could not connect to .*peer "p"/);
add_peer_refused('conninfo with a missing socket directory', undef,
	"host=/nonexistent/rig/dir port=$free_port dbname=postgres", '08001',
	qr/could not connect to .*peer "p"/);

###########################################################################
# A proper replica, joined through a rig_replication role with a password
###########################################################################

$node_b->safe_psql('postgres',
	qq{CREATE OR REPLACE FUNCTION note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
	AS \$\$ $good_body \$\$});
my $peer_conninfo = "$conn_b user=rigrep password=rep-secret-pw";
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$peer_conninfo\$\$)");
is($node_b->safe_psql('postgres', 'SELECT role, primary_name, epoch FROM rig.node'),
	'replica|a|1', 'b is the replica of a, in epoch 1');
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "two"}')});
is($node_b->safe_psql('postgres', 'SELECT string_agg(body, \',\' ORDER BY id) FROM notes'),
	'one,two', 'b got the old op (catch-up) and the new one');

###########################################################################
# Adding the same node again
###########################################################################

# under the same name
$err = rig_psql_error($node_a, "SELECT rig_add_peer('b', \$\$$peer_conninfo\$\$)");
note "the same peer again: $err";
{

	like(message_of($err), qr/peer "b" already exists|"b" is already/,
		'the same peer again: a clear message naming the peer');
}
is($node_a->safe_psql('postgres', 'SELECT count(*) FROM rig.peers'), '1',
	'the same peer again: still one peer');

# under another name: every commit would prepare twice, with the same GID,
# on the same node
my ($ret, $o, $e) = $node_a->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT rig_add_peer('b2', \$\$$peer_conninfo\$\$)");
note "the same node under another name: ret=$ret $e";
{

	isnt($ret, 0, 'the same node under another name: refused');
}
if ($ret == 0)
{
	# show what it does to writes, then undo it
	my ($r2, $o2, $e2) = $node_a->psql('postgres',
		qq{\\set VERBOSITY verbose\nSELECT rig_do('note', '{"body": "twice"}')});
	note "a write with b added twice: ret=$r2 $e2";
	note 'prepared on b afterwards: '
	  . $node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts');
	$node_a->safe_psql('postgres', "SELECT rig_drop_peer('b2')");
	$node_a->safe_psql('postgres', 'SELECT rig_resolve()');
}
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'nothing left prepared on b');

###########################################################################
# rig_apply_remote() on the replica
###########################################################################

my $log_b = $node_b->safe_psql('postgres', 'SELECT count(*) || \'/\' || max(version) FROM rig.log');
my $apply = q{SELECT rig_apply_remote('%s', %d, 1000, 1, 'note', '{"body": "forged"}', NULL, now(), 'a')};

$err = rig_psql_error($node_b, sprintf($apply, 'a', 1), 'plain');
note "apply_remote by a plain role: $err";
is(sqlstate_of($err), '42501', 'rig_apply_remote by a role outside rig_replication: 42501');
like($err, qr/permission denied for function rig_apply_remote/,
	'rig_apply_remote by a role outside rig_replication: permission denied');

$err = rig_psql_error($node_b, sprintf($apply, 'x', 1), 'rigrep');
note "apply_remote from another sender: $err";
is(sqlstate_of($err), '42501', 'rig_apply_remote from a sender that is not the primary: 42501');
like($err, qr/accepts operations only from its primary "a", not from "x"/,
	'rig_apply_remote from another sender: the message names both');

$err = rig_psql_error($node_b, sprintf($apply, 'a', 0), 'rigrep');
note "apply_remote with a stale epoch: $err";
is(sqlstate_of($err), 'RG001', 'rig_apply_remote with a stale epoch: RG001 (fenced)');
like($err, qr/node "b" is in epoch 1 whose primary is "a": operations from "a" in epoch 0 are refused/,
	'rig_apply_remote with a stale epoch: the message gives both epochs and the primary');

$err = rig_psql_error($node_b, sprintf($apply, 'a', 2), 'rigrep');
is(sqlstate_of($err), '55000', 'rig_apply_remote from a future epoch: 55000');

# The primary sends the op's lock hashes; the replica locks exactly those
# (advisory locks with objsubid 29289, the hash split into classid/objid).
my $forged = q{SELECT rig_apply_remote('a', 1, 1000, 1, 'note', '{"body": "forged"}', NULL, now(), 'a', %s)};
$err = rig_psql_error($node_b, sprintf($forged, q{'{1,NULL}'}), 'rigrep');
is(sqlstate_of($err), '22023', 'rig_apply_remote with a NULL lock hash: 22023');
my @held = split /\n/, $node_b->safe_psql(
	'postgres', sprintf(qq{BEGIN;\n$forged;\n}, q{ARRAY[42, 4294967296 * 7 + 5, 42]}) . q{
SELECT string_agg(classid || ':' || objid, ' ' ORDER BY classid, objid) FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid = 29289 AND pid = pg_backend_pid();
ROLLBACK;}, connstr => $node_b->connstr('postgres') . ' user=rigrep');
is($held[-1], '0:42 7:5', 'rig_apply_remote locks the hashes it was sent (once each), not the handler\'s');

is($node_b->safe_psql('postgres', 'SELECT count(*) || \'/\' || max(version) FROM rig.log'),
	$log_b, "refused rig_apply_remote calls left b's log unchanged");
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'forged'}),
	'0', 'refused rig_apply_remote calls applied nothing');

###########################################################################
# The password in rig.peers
###########################################################################

$node_a->safe_psql('postgres', q{
CREATE ROLE app LOGIN IN ROLE rig_writer;
CREATE ROLE nobody LOGIN;
});
for my $role ('app', 'nobody')
{
	$err = rig_psql_error($node_a, 'SELECT conninfo FROM rig.peers', $role);
	is(sqlstate_of($err), '42501', "rig.peers is not readable by $role: 42501");
	unlike($err, qr/rep-secret-pw/, "the error shown to $role holds no password");
}
like($node_a->safe_psql('postgres', q{SELECT conninfo FROM rig.peers WHERE name = 'b'}),
	qr/password=rep-secret-pw/, 'the superuser sees the stored conninfo');

# app can still write through rig_do (the commit prepares on b as rigrep)
is($node_a->psql('postgres', q{SELECT rig_do('note', '{"body": "by app"}')},
		connstr => $node_a->connstr('postgres') . ' user=app'),
	0, 'a rig_writer writes through rig_do');
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'by app'}),
	'1', "app's write reached b");
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'nothing prepared on b');

###########################################################################
# A peer's state changes only through the transition table, and each
# change is logged at DEBUG1 with its event and reason.  One transaction
# holds the commit gate, so the worker cannot catch b up in between.
###########################################################################

my ($rc, $out, $debug) = $node_a->psql('postgres', q{
SET client_min_messages = debug1;
BEGIN;
SELECT rig_set_peer_mode('b', 'async');
SELECT rig_set_peer_mode('b', 'sync');
SELECT rig_sync_peer('b');
COMMIT;
SELECT state FROM rig.peer_status WHERE name = 'b';
});
is($rc, 0, 'switching b to async and back, then syncing it, works');
like($debug, qr/DEBUG:  rig: peer "b" in_sync -> catching_up on lagging/,
	'switching an async peer to sync logs in_sync -> catching_up');
like($debug, qr/DEBUG:  rig: peer "b" catching_up -> in_sync on caught up/,
	'rig_sync_peer logs catching_up -> in_sync');
like($out, qr/in_sync$/, 'b is in sync afterwards');

done_testing();
