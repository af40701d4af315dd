--
-- setup: install rig and check what CREATE EXTENSION created.
-- Runs first; later test files use the extension created here.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE EXTENSION rig;

SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'rig';

-- every object of the extension
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'rig')
   AND deptype = 'e'
 ORDER BY 1;

-- the SQL functions live in pg_catalog (callable unqualified with any
-- search_path), each with a comment
SELECT p.oid::regprocedure AS function, p.pronamespace::regnamespace AS schema,
       pg_get_function_result(p.oid) AS returns,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'rig')
 ORDER BY p.oid::regprocedure::text;

-- the default values of rig_do and rig_log_since
SELECT pg_get_function_arguments('rig_do(text,jsonb,text)'::regprocedure);
SELECT pg_get_function_arguments('rig_log_since(bigint,int)'::regprocedure);
SELECT pg_get_function_arguments(
         'rig_register(text,regprocedure,regprocedure,regprocedure)'::regprocedure);

-- tables, views and sequences of schema rig have comments too
SELECT c.oid::regclass AS relation, c.relkind,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS has_comment
  FROM pg_class c
 WHERE c.relnamespace = 'rig'::regnamespace AND c.relkind IN ('r', 'v', 'S')
 ORDER BY c.oid::regclass::text;

-- rig.log has the contract's columns
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute
 WHERE attrelid = 'rig.log'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;
SELECT indexrelid::regclass AS index, indisunique, indisprimary
  FROM pg_index WHERE indrelid = 'rig.log'::regclass ORDER BY indexrelid::regclass::text;

-- roles: rig_writer and rig_replication include rig_reader
SELECT r.rolname, r.rolcanlogin,
       ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_roles r
 WHERE r.rolname IN ('rig_reader', 'rig_writer', 'rig_replication')
 ORDER BY 1;

-- a fresh node: a standalone primary in epoch 1, with an empty log
SELECT epoch, role, primary_name FROM rig.node;
SELECT epoch, first_version FROM rig.epochs;
SELECT count(*) AS log_rows FROM rig.log;
SELECT count(*) AS handlers FROM rig.handlers;
SELECT rig_last_version(), rig_watermark();

-- callable unqualified even with an empty search_path
SET search_path = '';
SELECT rig_last_version(), rig_watermark();
RESET search_path;

-- settings (test/regress.conf sets database, node name and resolver)
SELECT name, setting, unit, context
  FROM pg_settings WHERE name LIKE 'rig.%' ORDER BY name;
-- the rig. prefix is reserved: a misspelt setting is an error, not a placeholder
SET rig.max_paylod = '2MB';
\echo :SQLSTATE

-- installing twice is PostgreSQL's ordinary error
CREATE EXTENSION rig;
\echo :SQLSTATE

-- rig lives in exactly one database per cluster: rig.database
CREATE DATABASE regress_rig_other;
\c regress_rig_other
CREATE EXTENSION rig;
\echo :SQLSTATE
-- nothing was left behind
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'rig';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'rig';
\c contrib_regression
DROP DATABASE regress_rig_other;
SELECT current_database(), extversion FROM pg_extension WHERE extname = 'rig';
