--
-- ddl: handler and schema changes are log records (rig.register,
-- rig.unregister, rig.ddl); rig_ddl takes transactional DDL only, checked
-- on the parse tree, and only roles granted it may call it.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE ROLE regress_ddl_writer LOGIN IN ROLE rig_writer;
SELECT count(*) AS log_rows FROM rig.log \gset before_

-- a table and a handler function, at one version each, in the log
SELECT rig_ddl('CREATE SCHEMA ddl_s; CREATE TABLE ddl_s.items (version bigint PRIMARY KEY, name text)') AS v1 \gset
SELECT rig_ddl($$CREATE FUNCTION ddl_s.add(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS 'INSERT INTO ddl_s.items VALUES (version, data->>''name'')'$$) AS v2 \gset
SELECT :v2 > :v1 AS in_order;
SELECT version = :v1 AS is_v1, method, data->>'sql' AS sql, data ? 'search_path' AS has_path
  FROM rig.log WHERE version = :v1;
SELECT to_regclass('ddl_s.items') IS NOT NULL AS table_exists;

-- registering on a node with a log is a record too
SELECT rig_register('ddl.add', 'ddl_s.add(bigint,jsonb)');
SELECT method, data FROM rig.log WHERE version = rig_last_version();
SELECT rig_do('ddl.add', '{"name": "first"}') > :v2 AS applied_after;
SELECT name FROM ddl_s.items;

-- the barrier: a change holds it exclusively, an op shared, to the end of its transaction
BEGIN;
SELECT rig_ddl('ALTER TABLE ddl_s.items ADD COLUMN note text') > 0 AS ok;
SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 'rig.log'::regclass AND pid = pg_backend_pid() ORDER BY mode;
COMMIT;
BEGIN;
SELECT rig_do('ddl.add', '{"name": "second"}') > 0 AS ok;
SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 'rig.log'::regclass AND pid = pg_backend_pid() ORDER BY mode;
COMMIT;
-- the DDL ran: the new column is there
SELECT name, note FROM ddl_s.items ORDER BY version;

-- ops and changes in one transaction keep their order
BEGIN;
SELECT rig_do('ddl.add', '{"name": "third"}') AS v3 \gset
SELECT rig_ddl('CREATE INDEX items_name ON ddl_s.items (name)') AS v4 \gset
COMMIT;
SELECT :v4 > :v3 AS in_order, to_regclass('ddl_s.items_name') IS NOT NULL AS index_exists;

-- the method prefix "rig." is rig's own
SELECT rig_register('rig.ddl', 'ddl_s.add(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_do('rig.ddl', '{"sql": "CREATE TABLE ddl_s.sneaky ()"}');
\echo :SQLSTATE

-- rig.transaction.* are ordinary methods of rig's own: registered by the
-- install script on each node, without a log record, and reserved
SELECT method FROM rig.handlers WHERE method LIKE 'rig.%' ORDER BY method;
SELECT count(*) AS reserved_records FROM rig.log
 WHERE method IN ('rig.register', 'rig.unregister') AND data->>'method' LIKE 'rig.%';
SELECT rig_unregister('rig.transaction.start');
\echo :SQLSTATE

-- a state table's definition changes through rig_ddl only (the hooks of
-- tables.c let an applied rig.ddl record do it, nothing else)
SELECT rig_register_table('ddl_s.items');
ALTER TABLE ddl_s.items ADD COLUMN direct int;
\echo :SQLSTATE
SELECT rig_ddl('ALTER TABLE ddl_s.items ADD COLUMN tag text DEFAULT ''t''') > 0 AS altered;
SELECT rig_ddl('CREATE INDEX items_tag ON ddl_s.items (tag); ALTER TABLE ddl_s.items DROP COLUMN note') > 0 AS altered;
ALTER TABLE ddl_s.items DROP COLUMN tag;
\echo :SQLSTATE
-- never its rows, nor the table itself
SELECT rig_ddl('DROP TABLE ddl_s.items');
\echo :SQLSTATE
SELECT rig_do('ddl.add', '{"name": "fourth"}') > 0 AS handler_still_writes;
SELECT name, tag FROM ddl_s.items ORDER BY version;
SELECT rig_unregister_table('ddl_s.items');

-- refused statements, each with its SQLSTATE; nothing written
SELECT count(*) AS log_rows FROM rig.log \gset mid_
SELECT rig_ddl('VACUUM ddl_s.items');
\echo :SQLSTATE
SELECT rig_ddl('CREATE INDEX CONCURRENTLY items_c ON ddl_s.items (name)');
\echo :SQLSTATE
SELECT rig_ddl('DROP INDEX CONCURRENTLY ddl_s.items_name');
\echo :SQLSTATE
SELECT rig_ddl('CREATE DATABASE ddl_db');
\echo :SQLSTATE
SELECT rig_ddl('REINDEX TABLE ddl_s.items');
\echo :SQLSTATE
SELECT rig_ddl('CREATE TEMP TABLE ddl_t (a int)');
\echo :SQLSTATE
SELECT rig_ddl('CREATE TABLE pg_temp.ddl_t (a int)');
\echo :SQLSTATE
SELECT rig_ddl('CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS ''SELECT 1''');
\echo :SQLSTATE
SELECT rig_ddl('INSERT INTO ddl_s.items VALUES (0, ''sneaky'')');
\echo :SQLSTATE
SELECT rig_ddl('SELECT 1');
\echo :SQLSTATE
SELECT rig_ddl('COMMIT');
\echo :SQLSTATE
SELECT rig_ddl('PREPARE TRANSACTION ''x''');
\echo :SQLSTATE
SELECT rig_ddl('SET search_path = ddl_s');
\echo :SQLSTATE
SELECT rig_ddl('CREATE ROLE ddl_role');
\echo :SQLSTATE
SELECT rig_ddl('DO $$BEGIN NULL; END$$');
\echo :SQLSTATE
SELECT rig_ddl('CREATE TABLE ddl_s.a (); VACUUM');
\echo :SQLSTATE
SELECT rig_ddl('');
\echo :SQLSTATE
SELECT rig_ddl(' ; ');
\echo :SQLSTATE
SELECT rig_ddl(NULL);
\echo :SQLSTATE
SELECT rig_ddl('CREATE TABLE (');
\echo :SQLSTATE
-- an error while the DDL runs takes its record with it
SELECT rig_ddl('CREATE TABLE ddl_s.b (); CREATE TABLE ddl_s.items ()');
\echo :SQLSTATE
SELECT count(*) - :mid_log_rows AS new_log_rows, to_regclass('ddl_s.a') AS a, to_regclass('ddl_s.b') AS b
  FROM rig.log;

-- who may call it: not PUBLIC, not rig_writer
SELECT has_function_privilege('regress_ddl_writer', 'rig_ddl(text)', 'EXECUTE') AS writer,
       has_function_privilege('rig_replication', 'rig_ddl(text)', 'EXECUTE') AS replication,
       has_function_privilege('regress_ddl_writer', 'rig_register(text,regprocedure,regprocedure,regprocedure)', 'EXECUTE') AS writer_register;
SET ROLE regress_ddl_writer;
SELECT rig_ddl('CREATE TABLE ddl_s.w ()');
\echo :SQLSTATE
RESET ROLE;
-- nor in a read-only transaction
BEGIN READ ONLY;
SELECT rig_ddl('CREATE TABLE ddl_s.ro ()');
\echo :SQLSTATE
ROLLBACK;

-- the break-it pass of issue 14: a session where the text would mean
-- something else on the peers is refused, nothing written.
SELECT count(*) AS log_rows FROM rig.log \gset brk_
-- standard_conforming_strings off: 'x\' would end elsewhere here than on a
-- peer (which parses with it on), so the peer would create ddl_s.hidden
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT rig_ddl($$COMMENT ON SCHEMA ddl_s IS 'x\'; CREATE TABLE ddl_s.hidden (); --'$$);
\echo :SQLSTATE
RESET standard_conforming_strings;
RESET escape_string_warning;
-- a temporary table: ALTER TABLE ddl_tmp would change it here and a
-- permanent ddl_tmp on a peer
CREATE TEMP TABLE ddl_tmp (a int);
SELECT rig_ddl('ALTER TABLE ddl_tmp ADD COLUMN b int');
\echo :SQLSTATE
DISCARD TEMP;
-- a change's statements write no record (the peers, replicas, could not):
-- a function its DDL calls may not call rig_ddl or rig_do
CREATE TABLE ddl_s.loc (a int);
INSERT INTO ddl_s.loc VALUES (1);
SELECT rig_ddl($$CREATE FUNCTION ddl_s.nest(int) RETURNS bigint LANGUAGE sql
	AS 'SELECT rig_ddl(''CREATE TABLE ddl_s.nested ()'')';
	ALTER TABLE ddl_s.loc ADD COLUMN w bigint DEFAULT ddl_s.nest(1)$$);
\echo :SQLSTATE
SELECT rig_ddl($$CREATE FUNCTION ddl_s.nest_op(int) RETURNS bigint LANGUAGE sql
	AS 'SELECT rig_do(''ddl.add'', ''{"name": "nested"}'')';
	ALTER TABLE ddl_s.loc ADD COLUMN v bigint DEFAULT ddl_s.nest_op(1)$$);
\echo :SQLSTATE
SELECT count(*) - :brk_log_rows AS new_log_rows, to_regclass('ddl_s.hidden') AS hidden,
       to_regclass('ddl_s.nested') AS nested,
       (SELECT count(*) FROM ddl_s.items WHERE name = 'nested') AS nested_ops
  FROM rig.log;
DROP TABLE ddl_s.loc;
-- check_function_bodies off in the caller's session: the body is checked
-- all the same (a peer, checking it, would refuse what the primary took)
SET check_function_bodies = off;
SELECT rig_ddl($$CREATE FUNCTION ddl_s.broken() RETURNS bigint LANGUAGE sql
	AS 'SELECT no_such_column FROM ddl_s.items'$$);
\echo :SQLSTATE
RESET check_function_bodies;
SELECT count(*) - :brk_log_rows AS new_log_rows, to_regprocedure('ddl_s.broken()') AS broken
  FROM rig.log;
-- the search_path recorded names the caller's schema, not "$user" (on a
-- peer that is rig.ddl_role's)
SHOW search_path;
SELECT rig_ddl('CREATE TABLE ddl_s.sp ()') > 0 AS ok;
SELECT data->>'search_path' = quote_ident(current_user) || ', public' AS caller_named
  FROM rig.log WHERE version = rig_last_version();

-- unregistering is a record as well
SELECT rig_unregister('ddl.add');
SELECT method, data FROM rig.log WHERE version = rig_last_version();
SELECT rig_unregister('ddl.add');
\echo :SQLSTATE
SELECT count(*) - :before_log_rows AS log_rows_added FROM rig.log;

-- clean up
SELECT rig_ddl('DROP SCHEMA ddl_s CASCADE') > 0 AS dropped;
DROP ROLE regress_ddl_writer;
