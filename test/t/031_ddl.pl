
# Copyright (c) 2026, rig developers

# Handler and schema changes through the log (issue 14, item 2): primary
# "a", sync peer "b", async peer "c" that is down and caught up later.
#
#  - b applies no change until its administrator names rig.ddl_role; the
#    refusal aborts rig_ddl on a too (nothing written anywhere);
#  - rig_ddl creates a table and a handler function on a and b (owned by
#    b's rig.ddl_role there), rig_register through the log makes b use it;
#  - ops before and after a rig_ddl that changes the table and the handler
#    apply on b in version order (the rows say which body ran);
#  - a DDL that fails on b aborts it on a; a replica refuses rig_ddl and
#    rig_register (25006); rig_ddl waits for an op in flight (the barrier)
#    no longer than rig.ddl_timeout; rig_unregister travels the same way;
#  - c, caught up over parallel lanes, applies each change at its version,
#    never beside other ops (the same rows as a);
#  - rig_ddl adds a column and changes the handler's body while 4
#    clients write: every op before it ran the old body, every op after it
#    the new one, on a, b and c; b stays in sync;
#  - a handler changed on b outside rig is still found (drift);
#  - rigctl export of a's log, imported into a fresh node d, brings the
#    schema and the handlers with it (applied as d's rig.ddl_role);
#  - items is a state table on a and b: rig_ddl changes its definition on
#    both, an ALTER TABLE on b outside it is refused; rig_rebuild refuses
#    a log with a schema change after ops.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 5000
rig.resolver_interval = 500
rig.catchup_connections = 4
};
my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my $node_c = rig_node('c', conf => $conf . "rig.ddl_role = 'ddl_owner'\n");

# the role b's and c's administrators choose for changes from the primary
for my $n ($node_b, $node_c)
{
	$n->safe_psql('postgres', q{
CREATE ROLE ddl_owner;
GRANT CREATE ON DATABASE postgres TO ddl_owner;
GRANT CREATE ON SCHEMA public TO ddl_owner;
});
}
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'sync')");
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('c', \$\$" . $node_c->connstr('postgres') . "\$\$, 'async')");
$node_c->stop;

my $create = q{SELECT rig_ddl($ddl$
CREATE TABLE items (version bigint PRIMARY KEY, n int NOT NULL);
CREATE FUNCTION item_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.items (version, n) VALUES (version, (data->>''n'')::int)';
$ddl$)};
my $log_sql = 'SELECT count(*) || \':\' || coalesce(max(version), 0) FROM rig.log';

###########################################################################
# (1) no rig.ddl_role on b: refused there, so nowhere
###########################################################################
my $err = rig_psql_error($node_a, $create);
like($err, qr/node "b" does not apply handler or schema changes \(rig\.ddl\): rig\.ddl_role is not set/,
	'(1) b without rig.ddl_role refuses the change, a reports it');
is(rig_query_each([ $node_a, $node_b ], q{SELECT to_regclass('items') IS NULL}), 't / t',
	'(1) the table exists nowhere');
is(rig_query_each([ $node_a, $node_b ], $log_sql), '0:0 / 0:0', '(1) nothing logged anywhere');

$node_b->safe_psql('postgres', "ALTER SYSTEM SET rig.ddl_role = 'ddl_owner'");
$node_b->reload;
$node_b->poll_query_until('postgres', q{SELECT current_setting('rig.ddl_role') = 'ddl_owner'})
  or die 'b did not reload';

###########################################################################
# (2) rig_ddl and rig_register reach b at their versions
###########################################################################
my $v_create = $node_a->safe_psql('postgres', $create);
is( $node_b->safe_psql('postgres',
		q{SELECT pg_get_userbyid(c.relowner) || ' ' || pg_get_userbyid(p.proowner)
		    FROM pg_class c, pg_proc p WHERE c.oid = 'items'::regclass AND p.proname = 'item_apply'}),
	'ddl_owner ddl_owner', '(2) b has the table and the function, owned by its rig.ddl_role');
$node_a->safe_psql('postgres', q{SELECT rig_register('item', 'item_apply(bigint,jsonb)')});
is( $node_b->safe_psql('postgres',
		q{SELECT h.method || ' ' || h.apply::text || ' ' || l.method FROM rig.handlers h, rig.log l
		   WHERE l.version = (SELECT max(version) FROM rig.log) AND h.method NOT LIKE 'rig.%'}),
	'item item_apply(bigint,jsonb) rig.register', '(2) the registration reached b through the log');
is(rig_peer_state($node_a, 'b'), 'in_sync', '(2) b stays in sync through the handler change');
rig_verify_ok($node_a, 'b', '(2) rig_verify_peer finds the same handlers on b');

# items is a state table on a and on b (registered on each node): on b
# its definition changes only through a's rig_ddl
for my $n ($node_a, $node_b)
{
	$n->safe_psql('postgres', q{SELECT rig_register_table('items')});
}
$err = rig_psql_error($node_b, q{ALTER TABLE items ADD COLUMN sneaky int});
is(sqlstate_of($err), '42501', '(2) on b, ALTER TABLE of the state table outside rig_ddl: 42501');

# ops, a change of the table and of the handler's body, ops again
$node_a->safe_psql('postgres',
	q{SELECT rig_do('item', jsonb_build_object('n', g)) FROM generate_series(1, 150) g});
my $v_alter = $node_a->safe_psql('postgres', q{SELECT rig_ddl($ddl$
ALTER TABLE items ADD COLUMN stamp bigint NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION item_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.items VALUES (version, (data->>''n'')::int, version)';
$ddl$)});
$node_a->safe_psql('postgres',
	q{SELECT rig_do('item', jsonb_build_object('n', g)) FROM generate_series(151, 300) g});

my $order_sql = "SELECT count(*) FILTER (WHERE version < $v_alter AND stamp = 0) || ' ' || "
  . "count(*) FILTER (WHERE version > $v_alter AND stamp = version) FROM items";
is(rig_query_each([ $node_a, $node_b ], $order_sql), '150 150 / 150 150',
	'(2) on a and b, the ops before the change ran the old body, those after it the new one');
rig_same_ok($node_a, [$node_b], '(2)', 'SELECT * FROM items ORDER BY version');
is( rig_query_each([ $node_a, $node_b ],
		q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0}),
	'version,n,stamp / version,n,stamp', '(2) the state table got its column on a and b, nothing else');

###########################################################################
# (3) a change that fails on b aborts on a; a replica refuses changes
###########################################################################
$node_b->safe_psql('postgres', 'CREATE TABLE clash (x int)');
my $log_before = $node_a->safe_psql('postgres', $log_sql);
$err = rig_psql_error($node_a, q{SELECT rig_ddl('CREATE TABLE clash (y int)')});
like($err, qr/relation "clash" already exists/, '(3) the error on b is the error on a');
is($node_a->safe_psql('postgres', q{SELECT to_regclass('clash') IS NULL}), 't',
	'(3) a has no table clash');
is(rig_query_each([ $node_a, $node_b ], $log_sql), "$log_before / $log_before",
	'(3) nothing logged on a or b');
$node_b->safe_psql('postgres', 'DROP TABLE clash');

$err = rig_psql_error($node_b, q{SELECT rig_ddl('CREATE TABLE on_b (x int)')});
is(sqlstate_of($err), '25006', '(3) a replica refuses rig_ddl: 25006');
like(message_of($err), qr/^rig_ddl\(\) is not allowed on a replica$/, '(3) ... saying so');
$err = rig_psql_error($node_b, q{SELECT rig_register('item2', 'item_apply(bigint,jsonb)')});
is(sqlstate_of($err), '25006', '(3) a replica refuses rig_register: 25006');

###########################################################################
# (4) the barrier: rig_ddl waits for an op in flight, within rig.ddl_timeout
###########################################################################
my $s = rig_session($node_a);
$s->query_safe(q{BEGIN; SELECT rig_do('item', '{"n": 301}')});
my $el;
($err, $el) = rig_psql_error($node_a,
	q{SET rig.ddl_timeout = '500ms'; SELECT rig_ddl('CREATE TABLE unrelated (x int)')});
is(sqlstate_of($err), '55P03',
	'(4) rig_ddl of a table no op uses waited for the op in flight and timed out: 55P03');
cmp_ok($el, '<', 4, '(4) ... after about rig.ddl_timeout');
$s->query_safe('COMMIT');
$s->quit;
$node_a->safe_psql('postgres', q{SELECT rig_ddl('CREATE TABLE unrelated (x int); CREATE INDEX items_n ON items (n)')});
is($node_b->safe_psql('postgres', q{SELECT to_regclass('unrelated') IS NOT NULL AND to_regclass('items_n') IS NOT NULL}), 't',
	'(4) once the op committed it ran, on b too');

# a method registered and removed again: both through the log
$node_a->safe_psql('postgres', q{SELECT rig_register('item_copy', 'item_apply(bigint,jsonb)')});
is($node_b->safe_psql('postgres', q{SELECT string_agg(method, ',' ORDER BY method) FROM rig.handlers WHERE method NOT LIKE 'rig.%'}),
	'item,item_copy', '(4) b registered item_copy too');
$node_a->safe_psql('postgres', q{SELECT rig_unregister('item_copy')});
is( $node_b->safe_psql('postgres',
		q{SELECT string_agg(method, ',' ORDER BY method) FROM rig.handlers WHERE method NOT LIKE 'rig.%'} . ' UNION ALL '
		  . q{SELECT method || ' ' || data::text FROM rig.log WHERE version = (SELECT max(version) FROM rig.log)}),
	"item\n" . 'rig.unregister {"method": "item_copy"}', '(4) ... and removed it at the version of the rig.unregister record');

###########################################################################
# (5) c catches up: each change at its version, never beside other ops
###########################################################################
$node_a->safe_psql('postgres',
	q{SELECT rig_do('item', jsonb_build_object('n', g)) FROM generate_series(302, 400) g});
$node_c->start;
my $last = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
$node_c->poll_query_until('postgres', "SELECT rig_watermark() >= $last")
  or diag $node_a->safe_psql('postgres', 'SELECT state, last_error FROM rig.peer_status');
is(rig_query_each([ $node_a, $node_c ], $order_sql), '150 250 / 150 250',
	'(5) on c too, the ops before the change ran the old body, those after it the new one');
rig_same_ok($node_a, [ $node_b, $node_c ], '(5)', 'SELECT * FROM items ORDER BY version');
is( $node_c->safe_psql('postgres',
		"SELECT string_agg(method, ',' ORDER BY version) FROM rig.log WHERE method LIKE 'rig.%'"),
	'rig.ddl,rig.register,rig.ddl,rig.ddl,rig.register,rig.unregister',
	'(5) c holds the changes as log records, and the same handlers');
is($node_c->safe_psql('postgres', q{SELECT string_agg(method, ',') FROM rig.handlers WHERE method NOT LIKE 'rig.%'}), 'item',
	'(5) c has the handlers a has');

# rig_rebuild cannot replay a schema change made after ops (TAP 044: what it replays)
$err = rig_psql_error($node_a, 'SELECT rig_rebuild()');
like(message_of($err), qr/^cannot rebuild: version $v_alter is a schema change \(rig\.ddl\) made after operations$/,
	'(5) rig_rebuild refuses the rig.ddl made after ops, naming its version');
is(sqlstate_of($err), '55000', '(5) ... 55000');

###########################################################################
# (5b) rig_ddl adds a column and changes the handler while 4 clients write
###########################################################################
my $script = PostgreSQL::Test::Utils::tempdir() . '/item.sql';
append_to_file($script, q{SELECT rig_do('item', jsonb_build_object('n', :client_id));});
my ($pgb_out, $pgb_err) = ('', '');
my $from = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
my $load = rig_pgbench($node_a, \$pgb_out, \$pgb_err, '-c', '4', '-t', '1500', '-f', $script);
$node_a->poll_query_until('postgres', "SELECT rig_last_version() > $from + 100")
  or die 'the clients wrote nothing';
# hold the clients at the table until rig_ddl waits for their ops in
# flight, so that the change lands in the middle of the load, however fast
# the machine: the clients' next ops queue behind it
my $gate = rig_session($node_a);
$gate->query_safe('BEGIN; LOCK TABLE items IN SHARE MODE');
my $ddl = rig_session($node_a);
rig_bg_send($ddl, q{SELECT rig_ddl($ddl$
ALTER TABLE items ADD COLUMN tag text NOT NULL DEFAULT 'old';
CREATE OR REPLACE FUNCTION item_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.items VALUES (version, (data->>''n'')::int, version, ''new'')';
$ddl$)});
ok(rig_waits_on_lock($node_a, 'rig_ddl'), '(5b) rig_ddl waits for the ops in flight, the clients for the table');
$gate->query_safe('COMMIT');
$gate->quit;
my ($v_tag, $ddl_err) = rig_bg_result($ddl);
$ddl->quit;
is($ddl_err, '', '(5b) then rig_ddl runs');
like($v_tag, qr/^\d+$/, '(5b) ... and returns its version') or diag $v_tag;
ok($load->finish, '(5b) 4 clients wrote 6000 ops meanwhile, none failed') or diag $pgb_err;
my $tag_sql = "SELECT count(*) FILTER (WHERE version > $from AND version < $v_tag AND tag = 'old') || ' ' || "
  . "count(*) FILTER (WHERE version > $v_tag AND tag = 'new') FROM items";
my ($old, $new) = split / /, $node_a->safe_psql('postgres', $tag_sql);
is($old + $new, 6000, "(5b) on a, the $old ops before the change ran the old body, the $new after it the new one");
ok($old > 0 && $new > 0, '(5b) ... the change came in the middle of the load');
is(rig_query_each([ $node_a, $node_b ], $tag_sql), "$old $new / $old $new", '(5b) b took the change at the same version');
rig_same_ok($node_a, [$node_b], '(5b)', 'SELECT * FROM items ORDER BY version');
is(rig_peer_state($node_a, 'b'), 'in_sync', '(5b) b stayed in sync');
rig_verify_ok($node_a, 'b', '(5b) rig_verify_peer finds no difference, handlers included');
$last = $node_a->safe_psql('postgres', 'SELECT rig_last_version()');
$node_c->poll_query_until('postgres', "SELECT rig_watermark() >= $last")
  or diag $node_a->safe_psql('postgres', 'SELECT state, last_error FROM rig.peer_status');
is($node_c->safe_psql('postgres', $tag_sql), "$old $new", '(5b) so did c, the async peer');

###########################################################################
# (6) a handler changed on b outside rig is still drift
###########################################################################
$node_b->safe_psql('postgres', q{CREATE OR REPLACE FUNCTION item_apply(version bigint, data jsonb)
	RETURNS void LANGUAGE sql AS 'INSERT INTO public.items VALUES (version, 0, 0)'});
like( $node_a->safe_psql('postgres',
		q{SELECT relation || ' ' || coalesce(key_range, '') || ': ' || problem FROM rig_verify_peer('b')}),
	qr/^rig\.handlers .*item.*: differs$/, '(6) rig_verify_peer finds the changed handler');
$node_a->poll_query_until('postgres', q{SELECT state = 'diverged' FROM rig.peer_status WHERE name = 'b'})
  or diag $node_a->safe_psql('postgres', 'SELECT * FROM rig.peer_status');
is(rig_peer_state($node_a, 'b'), 'diverged', '(6) b is diverged');

###########################################################################
# (7) rigctl export -> import into a fresh node: the changes come with the
#     log, applied as d's rig.ddl_role
###########################################################################
my $node_d = rig_node('d', conf => $conf . "rig.ddl_role = 'ddl_owner'\n");
$node_d->safe_psql('postgres', q{
CREATE ROLE ddl_owner;
GRANT CREATE ON DATABASE postgres TO ddl_owner;
GRANT CREATE ON SCHEMA public TO ddl_owner;
});
my ($rc, $exported, $xerr) = rigctl_run(undef, 'export', '-d', $node_a->connstr('postgres'));
is($rc, 0, '(7) rigctl export of a exits 0') or diag $xerr;
my ($irc, $iout, $ierr) = rigctl_run($exported, 'import', '-d', $node_d->connstr('postgres'));
is($irc, 0, '(7) rigctl import into the fresh node d exits 0') or diag $ierr;
rig_same_ok($node_a, [$node_d], '(7)', 'SELECT * FROM items ORDER BY version');
is($node_d->safe_psql('postgres', q{SELECT string_agg(method, ',') FROM rig.handlers WHERE method NOT LIKE 'rig.%'}), 'item',
	'(7) d registered the handlers the log holds');

done_testing();
