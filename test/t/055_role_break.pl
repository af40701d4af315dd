
# Copyright (c) 2026, rig developers

# The break-it pass of an ordinary role against the newer surfaces (state
# tables, snapshots, rebuild).  One node "a"; alice is a rig_writer that
# owns schema app, its enum type, the state tables app.t and app.t2 and
# their code; an administrator (a superuser) registered them.
#
#  (0) app.t2 has an AFTER TRUNCATE trigger too: its function (alice's to
#      replace) wrote a row into app.t2 while rig_rebuild() emptied the
#      tables (from version 1: no snapshot), and the rebuilt table held a
#      row no op wrote.  Now only rig's own TRUNCATE is let through;
#  (1) alice's enum type gets a cast to json: rig_snapshot() read the
#      tables with to_jsonb() as rig's owner (a superuser), which calls a
#      user type's cast to json, so alice's function ran as superuser and
#      made her one.  Now each table is read as its owner;
#  (2) app.t2 has a TRUNCATE trigger (made before it was registered, its
#      function alice's to replace at any time): rig_rebuild() emptied the
#      tables as its caller, a superuser, so the trigger made alice one.
#      Now each owner's tables are emptied as that owner;
#  (3) CREATE FOREIGN TABLE ... INHERITS (app.t) was let through (only
#      CREATE TABLE was checked): a child whose rows every read of app.t
#      shows, written around the log;
#  (4) ALTER SCHEMA app RENAME, then a new schema app with a table t: the
#      handler wrote that table, and the registered one missed the op the
#      log holds;
#  (5) a guard: without a TRUNCATE trigger, state tables of two owners
#      linked by a foreign key are still emptied by one TRUNCATE (per
#      owner, PostgreSQL would refuse to truncate the referenced one).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $node = rig_node('a');

# What alice's code tries wherever it runs: become superuser.
my $trojan = q{
	BEGIN
		EXECUTE 'ALTER ROLE alice SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
};

$node->safe_psql('postgres', qq{
CREATE ROLE alice LOGIN IN ROLE rig_writer;
GRANT CREATE ON DATABASE postgres TO alice;
CREATE SCHEMA app AUTHORIZATION alice;
SET ROLE alice;
CREATE TYPE app.color AS ENUM ('red', 'green');
CREATE TABLE app.t (id bigint PRIMARY KEY, c app.color NOT NULL);
CREATE TABLE app.t2 (id bigint PRIMARY KEY);
CREATE FUNCTION app.put(version bigint, data jsonb) RETURNS void LANGUAGE sql AS
	\$\$INSERT INTO app.t VALUES ((data->>'id')::bigint, (data->>'c')::app.color)\$\$;
CREATE FUNCTION app.on_truncate() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	RETURN NULL;
END \$\$;
CREATE TRIGGER on_truncate BEFORE TRUNCATE ON app.t2
	FOR EACH STATEMENT EXECUTE FUNCTION app.on_truncate();
CREATE FUNCTION app.after_truncate() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	RETURN NULL;
END \$\$;
CREATE TRIGGER after_truncate AFTER TRUNCATE ON app.t2
	FOR EACH STATEMENT EXECUTE FUNCTION app.after_truncate();
RESET ROLE;
SELECT rig_register('put', 'app.put(bigint,jsonb)');
SELECT rig_register_table('app.t');
SELECT rig_register_table('app.t2');
CREATE FOREIGN DATA WRAPPER dummy;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER dummy;
GRANT USAGE ON FOREIGN SERVER elsewhere TO alice;
});
$node->safe_psql('postgres', q{SELECT rig_do('put', '{"id": 1, "c": "red"}')},
	connstr => $node->connstr('postgres') . ' user=alice');

my $is_super = q{SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'};

# (0) a TRUNCATE trigger writes a state table while rig_rebuild() empties them
my $set_after_truncate = sub {
	my ($body) = @_;
	$node->safe_psql('postgres', qq{
CREATE OR REPLACE FUNCTION app.after_truncate() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	$body
	RETURN NULL;
END \$\$;
}, connstr => $node->connstr('postgres') . ' user=alice');
};
$set_after_truncate->('INSERT INTO app.t2 VALUES (99);');
my $err = rig_psql_error($node, 'SELECT rig_rebuild()');
is(sqlstate_of($err), '42501', '(0) a TRUNCATE trigger writing a state table during rig_rebuild(): 42501');
like(message_of($err), qr/table app\.t2 is registered with rig/, '(0) the message names the table');
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM app.t) || \'/\' || (SELECT count(*) FROM app.t2)'),
	'1/0', '(0) the tables are as before: nothing rebuilt, no row of the trigger\'s');
$set_after_truncate->('NULL;');

# (1) a cast of alice's type to json runs in rig_snapshot()
$node->safe_psql('postgres', qq{
CREATE FUNCTION app.color_json(app.color) RETURNS json LANGUAGE plpgsql AS \$\$
BEGIN
$trojan
	RETURN to_json(\$1::text);
END \$\$;
CREATE CAST (app.color AS json) WITH FUNCTION app.color_json(app.color);
}, connstr => $node->connstr('postgres') . ' user=alice');
my $snap = $node->safe_psql('postgres', 'SELECT rig_snapshot()');
is($node->safe_psql('postgres', $is_super), 'f',
	'(1) rig_snapshot() ran the cast of the owner\'s type as the owner, not as superuser');
is( $node->safe_psql(
		'postgres', qq{
SELECT string_agg(relation || ' ' || nrows || ' ' || rows::text || ' ' || (checksum = md5(rows::text)), '; '
				  ORDER BY chunk)
  FROM rig.snapshot_chunks WHERE snapshot_id = $snap}),
	'app.t 1 [{"c": "red", "id": 1}] true',
	'(1) the snapshot holds the row, its checksum right');
$node->safe_psql('postgres', 'DROP CAST (app.color AS json)',
	connstr => $node->connstr('postgres') . ' user=alice');

# (2) a TRUNCATE trigger of a state table runs in rig_rebuild() (alice
# as she was, whatever (1) did)
$node->safe_psql('postgres', 'ALTER ROLE alice NOSUPERUSER');
$node->safe_psql('postgres', qq{
CREATE OR REPLACE FUNCTION app.on_truncate() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
$trojan
	RETURN NULL;
END \$\$;
}, connstr => $node->connstr('postgres') . ' user=alice');
is($node->safe_psql('postgres', 'SELECT rig_rebuild()'), '0', '(2) rig_rebuild() from the snapshot');
is($node->safe_psql('postgres', $is_super), 'f',
	'(2) rig_rebuild() ran the TRUNCATE trigger as the table\'s owner, not as superuser');
is($node->safe_psql('postgres', 'SELECT id, c FROM app.t'), '1|red', '(2) the rows are back');

# (3) a foreign table as a child of a state table
$err = rig_psql_error($node,
	'CREATE FOREIGN TABLE app.ft () INHERITS (app.t) SERVER elsewhere', 'alice');
is(sqlstate_of($err), '42501', '(3) CREATE FOREIGN TABLE ... INHERITS a state table: 42501');
like(message_of($err), qr/table app\.t is registered with rig/, '(3) the message names the table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'app.t'::regclass}),
	'0', '(3) app.t has no child');

# (4) renaming the schema of a state table
$err = rig_psql_error($node, 'ALTER SCHEMA app RENAME TO app_old', 'alice');
is(sqlstate_of($err), '42501', '(4) ALTER SCHEMA ... RENAME of a state table\'s schema: 42501');
like(message_of($err), qr/schema "app" holds table app\.t, which is registered with rig/,
	'(4) the message names the schema and the table');
$node->safe_psql('postgres', q{SELECT rig_do('put', '{"id": 2, "c": "green"}')},
	connstr => $node->connstr('postgres') . ' user=alice');
is($node->safe_psql('postgres', 'SELECT string_agg(id || c::text, \',\' ORDER BY id) FROM app.t'),
	'1red,2green', '(4) the handler still writes the registered table');

# (5) tables of two owners, one referencing the other, and no TRUNCATE trigger
$node->safe_psql('postgres', q{
SELECT rig_unregister_table('app.t2');
CREATE TABLE public.p (id bigint PRIMARY KEY);
GRANT REFERENCES ON public.p TO alice;
SET ROLE alice;
CREATE TABLE app.c (id bigint PRIMARY KEY, p bigint REFERENCES public.p);
RESET ROLE;
SELECT rig_register_table('public.p');
SELECT rig_register_table('app.c');
SELECT rig_snapshot();
});
is($node->safe_psql('postgres', 'SELECT rig_rebuild()'), '0',
	'(5) rig_rebuild() empties tables of two owners linked by a foreign key');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.t'), '2', '(5) the rows are back');

done_testing();
