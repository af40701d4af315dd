
# Copyright (c) 2026, rig developers

# The break-it pass of issue 14 (handler and schema changes through the
# log): primary "a", sync peer "b" applying changes as its rig.ddl_role.
#
#  (1) "$user" in the primary's search_path: a rig.ddl record carried it
#      as is, so on b it named rig.ddl_role's schema, and a table a put in
#      the caller's schema went to public on b;
#  (2) a peer whose sessions run with standard_conforming_strings off
#      parsed the record's text otherwise than the primary: a string
#      ending in a backslash swallowed the next statement there (b lacked
#      a table a had);
#  (3) after both, the nodes have the same tables in the same schemas and
#      b is still in sync;
#  (4) primary "e" with an empty log and no peers, and follower "f": a
#      rig_register on e stayed local (a node being set up), so f, which
#      compared e's handlers when it started to follow, never got the
#      method and stopped at its first op;
#  (5) a constant in the statements (a timestamptz default) was read with
#      the primary session's TimeZone and DateStyle there and with the
#      peer's defaults on b: a different default, so different rows;
#  (6) primary "g", sync peer "h", async peer "i" that is frozen: the
#      worker's round that began before a rig_register (and spent its
#      catch-up step waiting for i) compared g's handlers as of its start
#      with h's after the change, so h became diverged ("extra on peer")
#      and every rig_do failed until the next verification;
#  (7) nodes "east" and "west" (transactions across nodes): a rig_ddl left
#      open in a transaction holds the barrier; the worker, recording a
#      transaction's events with rig_do, waited for it without limit, and
#      did nothing else (no resolving, no catch-up) meanwhile.

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
};
my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf . "rig.ddl_role = 'ddl_owner'\n");

# the caller's own schema ("$user" on a), on both nodes
for my $n ($node_a, $node_b)
{
	$n->safe_psql('postgres', q{SELECT format('CREATE SCHEMA %I', current_user) \gexec});
}
$node_b->safe_psql('postgres', q{
CREATE ROLE ddl_owner;
GRANT CREATE ON DATABASE postgres TO ddl_owner;
GRANT CREATE ON SCHEMA public TO ddl_owner;
SELECT format('GRANT CREATE, USAGE ON SCHEMA %I TO ddl_owner', current_user) \gexec
});
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'sync')");
my $where_sql = q{SELECT string_agg(relnamespace::regnamespace::text || '.' || relname, ',' ORDER BY relname)
  FROM pg_class WHERE relname IN ('t_user', 'after_backslash')};

###########################################################################
# (1) "$user" names the caller's schema on every node
###########################################################################
is($node_a->safe_psql('postgres', 'SHOW search_path'), '"$user", public',
	'(1) a runs with the default search_path');
$node_a->safe_psql('postgres', q{SELECT rig_ddl('CREATE TABLE t_user (a int)')});
my $user = $node_a->safe_psql('postgres', 'SELECT current_user');
is(rig_query_each([ $node_a, $node_b ], $where_sql), "$user.t_user / $user.t_user",
	'(1) the table is in the caller\'s schema on a and on b');

###########################################################################
# (2) b's sessions have standard_conforming_strings off
###########################################################################
$node_b->safe_psql('postgres', 'ALTER SYSTEM SET standard_conforming_strings = off');
$node_b->safe_psql('postgres', 'ALTER SYSTEM SET escape_string_warning = off');
$node_b->reload;
$node_b->poll_query_until('postgres', q{SELECT current_setting('standard_conforming_strings') = 'off'})
  or die 'b did not reload';
# on a 'x\' is a whole string: two statements
$node_a->safe_psql('postgres',
	q{SELECT rig_ddl($ddl$COMMENT ON TABLE t_user IS 'x\'; CREATE TABLE after_backslash (); --'$ddl$)});
is( rig_query_each([ $node_a, $node_b ], $where_sql),
	"$user.after_backslash,$user.t_user / $user.after_backslash,$user.t_user",
	'(2) b ran the same two statements as a');
is( rig_query_each([ $node_a, $node_b ], q{SELECT obj_description('t_user'::regclass, 'pg_class')}),
	'x\ / x\\', '(2) and gave the table the same comment');

###########################################################################
# (3) b is still in sync
###########################################################################
is(rig_peer_state($node_a, 'b'), 'in_sync', '(3) b is in sync');
rig_same_ok($node_a, [$node_b], '(3)', 'SELECT 1');

###########################################################################
# (4) a follower of a primary with an empty log gets its registrations
###########################################################################
my $node_e = rig_node('e', conf => $conf);
my $node_f = rig_node('f',
	conf => $conf . "rig.resolver_interval = 500\nrig.ddl_role = 'ddl_owner'\n");
my $f1_sql = q{
CREATE TABLE f1 (version bigint PRIMARY KEY);
CREATE FUNCTION f1_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.f1 VALUES (version)';
};
$node_e->safe_psql('postgres', $f1_sql);
# on f the handler belongs to its rig.ddl_role, which applies e's changes
$node_f->safe_psql('postgres', "CREATE ROLE ddl_owner; $f1_sql
ALTER TABLE f1 OWNER TO ddl_owner; ALTER FUNCTION f1_apply(bigint, jsonb) OWNER TO ddl_owner;");
$node_f->safe_psql('postgres',
	"SELECT rig_follow('e', \$\$" . $node_e->connstr('postgres') . "\$\$)");
is($node_e->safe_psql('postgres', 'SELECT count(*) FROM rig.followers'), '1',
	'(4) f follows e, whose log is empty');
$node_e->safe_psql('postgres', q{SELECT rig_register('f1', 'f1_apply(bigint,jsonb)')});
is($node_e->safe_psql('postgres', 'SELECT string_agg(method, \',\') FROM rig.log'), 'rig.register',
	'(4) e\'s rig_register is a log record: f pulls it');
my $v = $node_e->safe_psql('postgres', q{SELECT rig_do('f1', '{}')});
ok($node_f->poll_query_until('postgres', "SELECT EXISTS (SELECT 1 FROM f1 WHERE version = $v)"),
	'(4) f applied the op of the method e registered after f started to follow')
  or diag $node_f->safe_psql('postgres', 'SELECT worker_last_error FROM rig.status');
is($node_f->safe_psql('postgres', q{SELECT count(*) FROM rig.handlers WHERE method = 'f1'}), '1',
	'(4) f has the method');

###########################################################################
# (5) constants mean on b what they meant in a's session
###########################################################################
$node_a->safe_psql('postgres', q{
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SELECT rig_ddl($ddl$CREATE TABLE t_const (d timestamptz DEFAULT '02/01/2020 10:00')$ddl$);
});
is( rig_query_each([ $node_a, $node_b ], q{
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 't_const'::regclass}),
	q{'2020-01-02 01:00:00+00'::timestamp with time zone / '2020-01-02 01:00:00+00'::timestamp with time zone},
	'(5) the default is 2 January 10:00 in Tokyo on a and on b');

###########################################################################
# (6) a worker round older than a change does not make the sync peer diverged
###########################################################################
my $node_g = rig_node('g', conf => $conf . "rig.resolver_interval = 500\n");
my $node_h = rig_node('h', conf => $conf . "rig.ddl_role = 'ddl_owner'\n");
my $node_i = rig_node('i', conf => $conf . "rig.ddl_role = 'ddl_owner'\n");
for my $n ($node_h, $node_i)
{
	$n->safe_psql('postgres',
		'CREATE ROLE ddl_owner; GRANT CREATE ON SCHEMA public TO ddl_owner;');
}
$node_g->safe_psql('postgres',
	"SELECT rig_add_peer('h', \$\$" . $node_h->connstr('postgres') . "\$\$, 'sync')");
$node_g->safe_psql('postgres',
	"SELECT rig_add_peer('i', \$\$" . $node_i->connstr('postgres') . "\$\$, 'async')");
$node_g->safe_psql('postgres', q{SELECT rig_ddl($ddl$CREATE TABLE public.g1 (version bigint PRIMARY KEY);
CREATE FUNCTION public.g1_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.g1 VALUES (version)'$ddl$)});
$node_g->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'i'})
  or die 'i did not catch up';
# i misses the next change and hangs: the worker's catch-up step waits for
# it (rig.sync_timeout) with the round's snapshot taken before
rig_freeze($node_i);
$node_g->safe_psql('postgres', q{SELECT rig_ddl('CREATE TABLE public.g2 ()')});
$node_g->poll_query_until('postgres', q{SELECT worker_state = 'catching up peers' FROM rig.status})
  or die 'the worker did not start catching i up';
$node_g->safe_psql('postgres', q{SELECT rig_register('g1', 'public.g1_apply(bigint,jsonb)')});
rig_thaw($node_i);
$node_g->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'i'})
  or diag $node_g->safe_psql('postgres', 'SELECT name, state, last_error FROM rig.peer_status');
is(rig_peer_state($node_g, 'h', 'state', 'last_error'), 'in_sync ',
	'(6) h stayed in sync through the worker rounds around the registration');
my $g_v = $node_g->safe_psql('postgres', q{SELECT rig_do('g1', '{}')});
is($node_h->safe_psql('postgres', "SELECT count(*) FROM g1 WHERE version = $g_v"), '1',
	'(6) an op of the new method commits on g and h');

###########################################################################
# (7) a change held open does not stall the worker
###########################################################################
my $east = rig_node('east', conf => $conf);
my $west = rig_node('west', conf => $conf);
rig_xfer_setup($east, { 1 => 1000 });
rig_xfer_setup($west, { 4 => 1000 });
$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
# a change held open on west holds the worker's call there back while a
# session takes the barrier on east; then west answers, and the worker
# has a vote to record on east
my $west_hold = rig_session($west);
$west_hold->query_safe(q{BEGIN; SELECT rig_ddl('CREATE TABLE public.west_held ()');});
my $xid = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 4, 30));
my $hold = rig_session($east);
$hold->query_safe(q{BEGIN; SELECT rig_ddl('CREATE TABLE public.held ()');});
# west answers now: the worker has its vote to record on east
$west_hold->query_safe('COMMIT');
$west_hold->quit;
my $worker_waits = q{SELECT coalesce(bool_or(wait_event_type = 'Lock'), false)
  FROM pg_stat_activity WHERE backend_type = 'rig worker'};
ok(poll_for($east, $worker_waits, 30), '(7) the worker waits for the barrier to record the vote');
ok( poll_for($east, qq{SELECT NOT ($worker_waits) AND (SELECT worker_state <> 'coordinating transactions' FROM rig.status)}, 30),
	'(7) with the change still held open, it gives up and goes on with its other work')
  or diag $east->safe_psql('postgres',
	q{SELECT wait_event_type || ':' || wait_event FROM pg_stat_activity WHERE backend_type = 'rig worker'});
$hold->query_safe('COMMIT');
$hold->quit;
like($east->safe_psql('postgres', "SELECT rig_transaction_wait($xid, '60s')"), qr/^(committed|aborted)$/,
	'(7) once the change commits, the transaction across nodes ends');

done_testing();
