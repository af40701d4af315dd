
# Copyright (c) 2026, rig developers

# rig_rebuild() replays the handler changes of the log at their versions
# (issue 13 item 3, issue 14 item 2), on a standalone primary:
#
#  - a method registered through the log (rig.register), re-registered to
#    another function later, a second method registered and removed again
#    (rig.unregister): after the rebuild every row is the one the handler
#    of its time wrote, and the handlers are the log's last ones;
#  - schema changes (rig.ddl) before the first op built the schema the
#    replay starts from and are passed over;
#  - a method registered locally (the node's starting configuration, not
#    in the log) whose handlers a record changes after its ops: refused
#    (55000), nothing changed; so is a rig.ddl after ops.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $n = rig_node('n');

# the starting configuration: registered while the log is empty, so locally
$n->safe_psql('postgres', q{
CREATE SCHEMA app;
CREATE TABLE app.rows (version bigint PRIMARY KEY, method text NOT NULL, body text NOT NULL);
CREATE FUNCTION app.setup(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS $$INSERT INTO app.rows VALUES (version, 'setup', 'setup')$$;
SELECT rig_register('setup', 'app.setup(bigint,jsonb)');
});
is($n->safe_psql('postgres', 'SELECT count(*) FROM rig.log'), '0', 'the starting registration is not in the log');

# the rest through the log: two bodies, created before the first op
$n->safe_psql('postgres', q{
SELECT rig_ddl($ddl$
CREATE FUNCTION app.v1(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO app.rows VALUES (version, ''m'', ''v1:'' || (data->>''i''))';
CREATE FUNCTION app.v2(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO app.rows VALUES (version, ''m'', ''v2:'' || (data->>''i''))';
CREATE FUNCTION app.other(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO app.rows VALUES (version, ''other'', ''other'')';
$ddl$);
SELECT rig_register_table('app.rows');
SELECT rig_register('m', 'app.v1(bigint,jsonb)');
SELECT rig_do('setup', '{}');
SELECT rig_do('m', jsonb_build_object('i', i)) FROM generate_series(1, 5) i;
SELECT rig_register('m', 'app.v2(bigint,jsonb)');
SELECT rig_do('m', jsonb_build_object('i', i)) FROM generate_series(6, 10) i;
SELECT rig_register('other', 'app.other(bigint,jsonb)');
SELECT rig_do('other', '{}');
SELECT rig_unregister('other');
SELECT rig_do('m', jsonb_build_object('i', 11));
});
is( $n->safe_psql('postgres',
		q{SELECT string_agg(method, ',' ORDER BY version) FROM rig.log WHERE method LIKE 'rig.%'}),
	'rig.ddl,rig.register,rig.register,rig.register,rig.unregister',
	'the changes are log records');

my $rows     = 'SELECT * FROM app.rows ORDER BY version';
my $handlers = q{SELECT method, apply FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method};
my $before   = $n->safe_psql('postgres', $rows);
my $h_before = $n->safe_psql('postgres', $handlers);
is( $n->safe_psql('postgres', q{SELECT string_agg(body, ',' ORDER BY version) FROM app.rows}),
	'setup,v1:1,v1:2,v1:3,v1:4,v1:5,v2:6,v2:7,v2:8,v2:9,v2:10,other,v2:11',
	'each op ran the handler of its time');

is($n->safe_psql('postgres', 'SELECT rig_rebuild()'), '18',
	'rig_rebuild replays the 13 ops and the 5 changes');
is($n->safe_psql('postgres', $rows), $before,
	'after the rebuild every row is the one the handler of its time wrote');
is($n->safe_psql('postgres', $handlers), $h_before, 'and the handlers are the log\'s last ones');

# ops of the starting configuration, then a change of it: refused
$n->safe_psql('postgres', q{SELECT rig_register('setup', 'app.v1(bigint,jsonb)')});
my $v = $n->safe_psql('postgres', 'SELECT rig_last_version()');
my $err = rig_psql_error($n, 'SELECT rig_rebuild()');
is(sqlstate_of($err), '55000', 'a change of a locally registered method after its ops: 55000');
like( message_of($err),
	qr/^cannot rebuild: version $v changes the handlers of method "setup", whose earlier operations ran with handlers the log does not hold$/,
	'... naming the version and the method');
is($n->safe_psql('postgres', $rows), $before, '... and the tables are as they were');

done_testing();
