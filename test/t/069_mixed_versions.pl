
# Copyright (c) 2026, rig developers

# Nodes whose extension SQL is at different versions during a rolling
# upgrade (README, Upgrading): one library serves 1.0's and 1.1's SQL, and
# every rig call either works or is refused with a clear error, and nothing
# diverges between the nodes.
#  1. the documented order (the peer updated first, the primary still on
#     1.0): rig_verify_peer on the primary (README's check) finds no
#     difference in rig's own methods (rig.*, which only the updated node
#     has), the peer stays in_sync and rig_do keeps working (it marked the
#     peer diverged, and the primary refused every commit, even after its
#     own update);
#  2. rig_verify_peer on a primary whose SQL is still 1.0 (it has no
#     rig.tables) works, and lists a table registered only on the updated
#     peer;
#  3. a primary at 1.1 adds a fresh peer at 1.0 (same library): it is
#     accepted (its handlers match; only rig.* differ), ops replicate,
#     rig_verify_peer lists a registered table as not registered on the
#     peer instead of failing on the peer's missing rig.tables;
#  4. on that pair, rig_add_node (a rig.node.add record the 1.0 peer has no
#     handler for) is refused with a clear error; nothing is left prepared,
#     both logs stay identical;
#  5. ALTER EXTENSION rig UPDATE in one transaction with rig_do on the
#     primary: both ops replicate, the logs and tables are identical;
#  6. ALTER EXTENSION rig UPDATE on a 1.0 primary while pgbench clients run
#     rig_do: every call commits, both logs and tables are identical,
#     nothing is left prepared;
#  7. rig_switchover from a 1.0 primary to its updated peer (README step 3):
#     the new 1.1 primary takes writes, the old one rejoins it as a peer (rig_add_peer, refused before:
#     the handlers of rig's own methods differed).
#  8. a follower (rig_follow) updated before its primary keeps following
#     it, and a follower still on 1.0 keeps following an updated primary.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $log = 'SELECT version, epoch, method, data, idempotency_key, origin FROM rig.log ORDER BY version';
my $notes = 'SELECT * FROM notes ORDER BY id';
my $conf = "rig.verify_interval = 200\n";

# A node at SQL 1.0 (extension => 0, then CREATE EXTENSION VERSION '1.0') or 1.1, with notes.
sub node_at
{
	my ($name, $version) = @_;
	my $node = rig_node($name, conf => $conf, extension => 0);
	$node->safe_psql('postgres', "CREATE EXTENSION rig VERSION '$version'");
	$node->safe_psql('postgres', rig_notes_sql());
	return $node;
}

# psql with verbose errors: (return code, stdout, stderr)
sub run_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql", stdout => \$out, stderr => \$err);
	return ($ret, $out, $err);
}

sub add_peer
{
	my ($node, $peer) = @_;
	return run_sql($node,
		"SELECT rig_add_peer('" . $peer->name . "', \$\$" . $peer->connstr('postgres') . "\$\$, 'sync')");
}

sub same_ok
{
	my ($p, $q, $what) = @_;
	is($q->safe_psql('postgres', $log), $p->safe_psql('postgres', $log), "$what: both logs are identical");
	is($q->safe_psql('postgres', $notes), $p->safe_psql('postgres', $notes), "$what: both tables are identical");
	is(rig_prepared_xacts($_), '0', "$what: nothing prepared on " . $_->name) for ($p, $q);
}

# --- 1. the documented order: the peer first
my ($p, $q) = (node_at('p', '1.0'), node_at('q', '1.0'));
my ($ret, $out, $err) = add_peer($p, $q);
is($ret, 0, '1: a 1.0 peer added to a 1.0 primary') or diag $err;
$p->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "both 1.0"}')});
$q->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
$p->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "peer 1.1"}')});
($ret, $out, $err) = run_sql($p, q{SELECT relation || ' ' || coalesce(key_range, '') || ' ' || problem FROM rig_verify_peer('q')});
is($ret, 0, '1: rig_verify_peer on the 1.0 primary works') or diag $err;
unlike($out, qr/rig\.handlers/, "1: rig's own methods, only on the updated peer, are no handler difference");
is(rig_peer_state($p, 'q'), 'in_sync', '1: the updated peer stays in_sync');
($ret, $out, $err) = run_sql($p, q{SELECT rig_do('note', '{"body": "still writing"}')});
is($ret, 0, '1: rig_do keeps working while the versions differ') or diag $err;

# --- 2. a table registered on the updated peer only
$q->safe_psql('postgres', q{SELECT rig_register_table('notes')});
($ret, $out, $err) = run_sql($p, q{SELECT relation || ': ' || problem FROM rig_verify_peer('q')});
is($ret, 0, '2: rig_verify_peer on a 1.0 primary with a registered table on the peer works') or diag $err;
like($out, qr/notes.*registered only on peer/, '2: it lists the table registered only on the peer');
$p->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
($ret, $out, $err) = run_sql($p, q{SELECT rig_do('note', '{"body": "both 1.1"}')});
is($ret, 0, '2: rig_do works once both are updated') or diag $err;
same_ok($p, $q, '1-2');

# --- 3. a 1.1 primary adds a fresh 1.0 peer
my ($r, $s) = (node_at('r', '1.1'), node_at('s', '1.0'));
($ret, $out, $err) = add_peer($r, $s);
is($ret, 0, '3: a 1.0 peer with the same handlers is added to a 1.1 primary') or diag $err;
($ret, $out, $err) = run_sql($r, q{SELECT rig_do('note', '{"body": "to a 1.0 peer"}')});
is($ret, 0, '3: rig_do replicates to the 1.0 peer') or diag $err;
is($s->safe_psql('postgres', 'SELECT count(*) FROM notes'), '1', '3: the 1.0 peer applied it');
$r->safe_psql('postgres', q{SELECT rig_register_table('notes')});
($ret, $out, $err) = run_sql($r, q{SELECT relation || ': ' || problem FROM rig_verify_peer('s')});
is($ret, 0, '3: rig_verify_peer against a 1.0 peer works') or diag $err;
like($out, qr/notes.*not registered on peer/, '3: it lists the table the 1.0 peer cannot register');

# --- 4. a record of 1.1 the 1.0 peer has no handler for
my $w = node_at('w', '1.1');
($ret, $out, $err) = run_sql($r, "SELECT rig_add_node('w', \$\$" . $w->connstr('postgres') . "\$\$)");
isnt($ret, 0, '4: rig_add_node with a 1.0 sync peer is refused');
is(sqlstate_of($err), '42883', '4: SQLSTATE 42883');
like(message_of($err), qr/^method "rig\.node\.add" is not registered on replica "s"/, '4: the message names the method and the peer');
is($r->safe_psql('postgres', 'SELECT count(*) FROM rig.remote_nodes'), '0', '4: no node registered on the primary');
($ret, $out, $err) = run_sql($r, q{SELECT rig_do('note', '{"body": "after the refusal"}')});
is($ret, 0, '4: rig_do works after the refusal') or diag $err;
same_ok($r, $s, '3-4');

# --- 5. ALTER EXTENSION UPDATE in one transaction with rig_do
my ($a, $b) = (node_at('a', '1.0'), node_at('b', '1.0'));
add_peer($a, $b);
$b->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
($ret, $out, $err) = run_sql($a, q{BEGIN;
SELECT rig_do('note', '{"body": "before the update"}');
ALTER EXTENSION rig UPDATE;
SELECT rig_do('note', '{"body": "after the update"}');
COMMIT;});
is($ret, 0, '5: rig_do, ALTER EXTENSION rig UPDATE, rig_do in one transaction') or diag $err;
is($a->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'rig'}), '1.1', '5: the primary is at 1.1');
is(rig_peer_state($a, 'b'), 'in_sync', '5: the peer is in_sync');
same_ok($a, $b, '5');

# --- 6. ALTER EXTENSION UPDATE on the primary under load
my ($c, $d) = (node_at('c', '1.0'), node_at('d', '1.0'));
add_peer($c, $d);
$d->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
my $script = PostgreSQL::Test::Utils::tempdir . '/note.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	q{SELECT rig_do('note', jsonb_build_object('body', 'c' || :client_id || '-' || random()));});
my ($pgout, $pgerr) = ('', '');
my $bench = rig_pgbench($c, \$pgout, \$pgerr, '-c', 4, '-T', 4, '-f', $script);
$c->poll_query_until('postgres', 'SELECT count(*) > 20 FROM rig.log') or diag 'no load';
($ret, $out, $err) = run_sql($c, 'ALTER EXTENSION rig UPDATE');
is($ret, 0, '6: ALTER EXTENSION rig UPDATE under load') or diag $err;
$bench->finish;
diag "pgbench: " . join(' ', grep { /processed|failed|ERROR/ } split /\n/, $pgout . $pgerr);
($ret, $out, $err) = run_sql($c, q{SELECT rig_do('note', '{"body": "after the load"}')});
is($ret, 0, '6: rig_do after the update under load') or diag $err;
is(rig_peer_state($c, 'd'), 'in_sync', '6: the peer is in_sync');
same_ok($c, $d, '6');

# --- 7. switchover from the 1.0 primary to the 1.1 peer
my ($g, $h) = (node_at('g', '1.0'), node_at('h', '1.0'));
add_peer($g, $h);
$g->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "on g"}')});
$h->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
($ret, $out, $err) = run_sql($g, q{SELECT rig_switchover('h')});
is($ret, 0, '7: rig_switchover from the 1.0 primary to the 1.1 peer') or diag $err;
is($h->safe_psql('postgres', 'SELECT role FROM rig_node_info()'), 'primary', '7: the 1.1 peer is the primary');
($ret, $out, $err) = add_peer($h, $g);
is($ret, 0, '7: the old 1.0 primary rejoins the new 1.1 primary with rig_add_peer') or diag $err;
($ret, $out, $err) = run_sql($h, q{SELECT rig_do('note', '{"body": "on h"}')});
is($ret, 0, '7: the new 1.1 primary takes writes') or diag $err;
($ret, $out, $err) = run_sql($h, q{SELECT * FROM rig_verify_peer('g')});
is($ret, 0, '7: rig_verify_peer of the old 1.0 primary') or diag $err;
is($out, '', '7: no difference');
same_ok($h, $g, '7');

# --- 8. followers at the other version than their primary
my $fconf = "rig.resolver_interval = 200\n";
my ($m, $f1, $f2) = map { my $n = rig_node($_, conf => $conf . $fconf, extension => 0);
	$n->safe_psql('postgres', q{CREATE EXTENSION rig VERSION '1.0'});
	$n->safe_psql('postgres', rig_notes_sql()); $n } ('m', 'f1', 'f2');
$_->safe_psql('postgres', "SELECT rig_follow('m', \$\$" . $m->connstr('postgres') . "\$\$)") for ($f1, $f2);
$m->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "all 1.0"}')});
{
	local $PostgreSQL::Test::Utils::timeout_default = 30;
	ok($_->poll_query_until('postgres', 'SELECT count(*) = 1 FROM notes'), '8: ' . $_->name . ' follows m')
	  for ($f1, $f2);
	$f1->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
	$m->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "f1 at 1.1, m at 1.0"}')});
	ok($f1->poll_query_until('postgres', 'SELECT count(*) = 2 FROM notes'),
		'8: a follower updated before its primary keeps following');
	$m->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
	$m->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "m at 1.1, f2 at 1.0"}')});
	ok($f2->poll_query_until('postgres', 'SELECT count(*) = 3 FROM notes'),
		'8: a 1.0 follower keeps following an updated primary');
	ok($f1->poll_query_until('postgres', 'SELECT count(*) = 3 FROM notes'), '8: so does the updated one');
}
is($_->safe_psql('postgres', $log), $m->safe_psql('postgres', $log), '8: ' . $_->name . ' has the log of m')
  for ($f1, $f2);

done_testing();
