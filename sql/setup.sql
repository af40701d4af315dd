--
-- setup: install rig and check what CREATE EXTENSION created.
-- Runs first; later test files use the extension created here.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

-- The suite runs on an updated extension: 1.0 (the first release, frozen)
-- installed first, then ALTER EXTENSION ... UPDATE to the default version.
-- (The TAP tests install the default version directly, and 034 checks that
-- both ways give the same objects.)
CREATE EXTENSION rig VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'rig';
SELECT source, target, path FROM pg_extension_update_paths('rig')
 WHERE source = '1.0' AND target = '1.1';
ALTER EXTENSION rig UPDATE;

SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'rig';

-- the objects of the contract (DESIGN section 2) exist; the SQL functions
-- live in pg_catalog, so they are callable unqualified with any search_path
SELECT f AS function, to_regprocedure(f) IS NOT NULL AS exists,
       (SELECT pronamespace::regnamespace FROM pg_proc WHERE oid = to_regprocedure(f)) AS schema,
       pg_get_function_result(to_regprocedure(f)) AS returns
  FROM (VALUES ('rig_register(text,regprocedure,regprocedure,regprocedure)'),
               ('rig_unregister(text)'),
               ('rig_do(text,jsonb,text)'),
               ('rig_version()'),
               ('rig_op_time()'),
               ('rig_log_since(bigint,integer)'),
               ('rig_watermark()'),
               ('rig_last_version()'),
               ('rig_compact(bigint)')) v(f)
 ORDER BY f;
SELECT r AS relation, to_regclass(r) IS NOT NULL AS exists
  FROM (VALUES ('rig.log'), ('rig.handlers'), ('rig.node'), ('rig.epochs'),
               ('rig.version_seq')) v(r)
 ORDER BY r;

-- every function and relation of the extension has a comment
-- (lists the ones that do not)
SELECT pg_describe_object(d.classid, d.objid, 0) AS without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'rig')
   AND d.deptype = 'e'
   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass)
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL
 ORDER BY 1;
-- every function of the extension is in pg_catalog, except the triggers and the handlers of rig.* methods
SELECT p.oid::regprocedure AS not_in_pg_catalog
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'rig')
   AND p.pronamespace <> 'pg_catalog'::regnamespace
 ORDER BY 1;
-- the trigger that keeps rig.log append-only
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS definition
  FROM pg_trigger WHERE tgrelid = 'rig.log'::regclass ORDER BY tgname;

-- the default values of rig_do and rig_log_since
SELECT pg_get_function_arguments('rig_do(text,jsonb,text)'::regprocedure);
SELECT pg_get_function_arguments('rig_log_since(bigint,int)'::regprocedure);
SELECT pg_get_function_arguments(
         'rig_register(text,regprocedure,regprocedure,regprocedure)'::regprocedure);

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
SELECT count(*) AS handlers FROM rig.handlers WHERE method NOT LIKE 'rig.%';
SELECT rig_last_version(), rig_watermark();

-- callable unqualified even with an empty search_path
SET search_path = '';
SELECT rig_last_version(), rig_watermark();
RESET search_path;

-- settings (test/regress.conf sets database, node name and resolver)
SELECT name, setting, unit, context
  FROM pg_settings
 WHERE name IN ('rig.database', 'rig.node_name', 'rig.sync_timeout', 'rig.commit_wait',
                'rig.resolver_interval', 'rig.max_payload')
 ORDER BY name;
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
