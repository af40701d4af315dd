
# Copyright (c) 2026, rig developers

# State tables across nodes (issue 13, items 1 and 2).
#
#  1. A table registered on both nodes is written on the peer by the
#     primary's ops (rig_apply_remote runs the handler), and a direct
#     write is refused on the peer as on the primary, even for a superuser.
#  2. rig_verify_peer compares the registered tables at one version: none
#     differs after replicated writes; after a superuser changes, deletes
#     and adds rows on the peer with rig.maintenance = on, it names the
#     table and the key range of each difference, and the version.
#  3. Registration is local: a table registered on one node only is
#     reported, and does not stop commits on the sync peer.
#  4. Under a steady load of writes, each verification compares both
#     nodes at one version and finds nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $node_a = rig_node('a');
my $node_b = rig_node('b');
my $schema = q{
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, opened_at timestamptz NOT NULL,
				   tags jsonb NOT NULL DEFAULT '{}');
CREATE FUNCTION acct_open(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.acct VALUES ((d->>'id')::int, 0, rig_op_time(), jsonb_build_object('v', v)) $$;
CREATE FUNCTION acct_deposit(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ UPDATE public.acct SET balance = balance + (d->>'amount')::bigint WHERE id = (d->>'id')::int $$;
SELECT rig_register('acct.open', 'acct_open(bigint,jsonb)');
SELECT rig_register('acct.deposit', 'acct_deposit(bigint,jsonb)');
SELECT rig_register_table('acct');
-- a two-column key
CREATE TABLE pairs (a int, b text, n int NOT NULL, PRIMARY KEY (a, b));
CREATE FUNCTION pair_put(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.pairs VALUES ((d->>'a')::int, d->>'b', (d->>'n')::int) $$;
SELECT rig_register('pair.put', 'pair_put(bigint,jsonb)');
SELECT rig_register_table('pairs');
};
$_->safe_psql('postgres', $schema) for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");

my $state = 'SELECT count(*), sum(balance), md5(string_agg(acct::text, \',\' ORDER BY id)) FROM acct';

###########################################################################
# 1. Replicated writes; direct writes refused on both nodes
###########################################################################

$node_a->safe_psql('postgres', q{
SELECT rig_do('acct.open', jsonb_build_object('id', i)) FROM generate_series(1, 300) i;
SELECT rig_do('acct.deposit', jsonb_build_object('id', 1 + i % 300, 'amount', i)) FROM generate_series(1, 600) i;
SELECT rig_do('pair.put', jsonb_build_object('a', i % 7, 'b', 'k' || i, 'n', i)) FROM generate_series(1, 100) i;
});
is($node_b->safe_psql('postgres', $state), $node_a->safe_psql('postgres', $state),
	'replicated: the peer applied every op to its registered table');
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM pairs'), '100',
	'replicated: the two-column-key table too');

for my $node ($node_a, $node_b)
{
	my $name = $node->name;
	for my $sql ('UPDATE acct SET balance = 0 WHERE id = 1',
		'INSERT INTO acct VALUES (9999, 0, now())',
		'DELETE FROM pairs', 'TRUNCATE acct', 'ALTER TABLE acct DROP COLUMN tags')
	{
		my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
		is(sqlstate_of($err), '42501', "$name: superuser's $sql is refused with 42501");
		like($err, qr/table public\.(acct|pairs) is registered with rig/, "$name: ... naming the table");
	}
}
is($node_b->safe_psql('postgres', $state), $node_a->safe_psql('postgres', $state),
	'refused: nothing changed on either node');

###########################################################################
# 2. rig_verify_peer compares the tables at one version
###########################################################################

my $verify = q{SELECT relation, first_version IS NULL, last_version = (SELECT max(version) FROM rig.log),
	key_range, problem FROM rig_verify_peer('b')};
rig_verify_ok($node_a, 'b', 'verify: the registered tables are identical');

$node_b->safe_psql('postgres', q{
SET rig.maintenance = on;
UPDATE acct SET balance = balance + 1 WHERE id = 123;
DELETE FROM acct WHERE id = 250;
UPDATE pairs SET n = -1 WHERE a = 3 AND b = 'k10';
});
is($node_a->safe_psql('postgres', $verify),
	join("\n",
		'public.acct|t|t|[(123), (124))|differs',
		'public.acct|t|t|[(250), (251))|missing on peer',
		'public.pairs|t|t|[(3, k10), (3, k17))|differs'),
	'verify: the changed and the deleted row are named by table and key range, at the last version');
is($node_a->safe_psql('postgres', q{SELECT state FROM rig.peer_status WHERE name = 'b'}),
	'in_sync', 'verify: a table difference is reported, the peer stays in sync');

# the peer's repair (and a row only the peer has)
$node_b->safe_psql('postgres', q{
SET rig.maintenance = on;
UPDATE acct SET balance = balance - 1 WHERE id = 123;
UPDATE pairs SET n = 10 WHERE a = 3 AND b = 'k10';
});
my $row250 = $node_a->safe_psql('postgres', 'SELECT balance, opened_at, tags FROM acct WHERE id = 250');
my ($bal, $opened, $tags) = split /\|/, $row250;
$node_b->safe_psql('postgres',
	"SET rig.maintenance = on; INSERT INTO acct VALUES (250, $bal, '$opened', '$tags'), (5000, 1, now(), '{}')");
is($node_a->safe_psql('postgres', $verify),
	'public.acct|t|t|[(300), +inf)|differs',
	'verify: a row only the peer has is found in the range past this node\'s last key');
$node_b->safe_psql('postgres', 'SET rig.maintenance = on; DELETE FROM acct WHERE id = 5000');
rig_verify_ok($node_a, 'b', 'verify: identical again after the repair');

###########################################################################
# 3. Registration is local to each node
###########################################################################

$node_a->safe_psql('postgres', q{
CREATE TABLE extra (id int PRIMARY KEY);
SELECT rig_register_table('extra');
});
$node_b->safe_psql('postgres', 'CREATE TABLE extra (id int PRIMARY KEY)');
is($node_a->safe_psql('postgres', q{SELECT relation, key_range, problem FROM rig_verify_peer('b')}),
	'public.extra||not registered on peer', 'verify: a table registered here only is reported');
is($node_a->safe_psql('postgres', q{SELECT rig_do('acct.deposit', '{"id": 1, "amount": 5}') > 0}),
	't', 'registration: commits on the sync peer go on');
$node_b->safe_psql('postgres', q{SELECT rig_register_table('extra')});
rig_verify_ok($node_a, 'b', 'verify: identical once both registered it');

###########################################################################
# 4. Verification under load
###########################################################################

my $script = $node_a->basedir . '/deposit.sql';
append_to_file($script,
	q{SELECT rig_do('acct.deposit', jsonb_build_object('id', 1 + (random() * 299)::int, 'amount', 1));});
my $before = $node_a->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
my ($out, $err) = ('', '');
my $bench = rig_pgbench($node_a, \$out, \$err, '-c', '4', '-j', '2', '-T', '8', '-f', $script);
$node_a->poll_query_until('postgres', "SELECT max(version) > $before + 100 FROM rig.log")
  or die 'the load did not start';
my @found;
for my $i (1 .. 5)
{
	push @found, $node_a->safe_psql('postgres',
		q{SELECT relation, last_version, key_range, problem FROM rig_verify_peer('b')});
}
my $during = $node_a->safe_psql('postgres', 'SELECT max(version) FROM rig.log');
ok($bench->finish, 'load: pgbench exited successfully');
note "pgbench: $out";
cmp_ok($node_a->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), '>', $during,
	'load: the writes went on after the verifications');
is(join("\n", grep { $_ ne '' } @found), '',
	'load: five verifications during the writes found no difference');
rig_verify_ok($node_a, 'b', 'load: identical after it');

done_testing();
