--
-- errors: bad input and refused operations (DESIGN section 6, single node).
-- Each is a clear error with its SQLSTATE, and nothing is partially written:
-- after each one the log and the handler table are unchanged.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

\i examples/metadata.sql
CREATE FUNCTION metadata.counts(OUT log_rows bigint, OUT users bigint)
	LANGUAGE sql AS $$ SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM metadata.users) $$;
SELECT rig_do('user_create', metadata.new_user('grace@example.com', 'Grace', 'cobol')) > 0 AS created;
SELECT * FROM metadata.counts() \gset before_

-- unknown method
SELECT rig_do('user_craete', '{"email": "x@example.com"}');
\echo :SQLSTATE
-- method names are case sensitive
SELECT rig_do('USER_CREATE', metadata.new_user('x@example.com', 'X', 'pw'));
\echo :SQLSTATE

-- NULL arguments
SELECT rig_do(NULL, '{}');
\echo :SQLSTATE
SELECT rig_do('user_create', NULL);
\echo :SQLSTATE
SELECT rig_do(NULL, NULL, NULL);
\echo :SQLSTATE

-- invalid jsonb: PostgreSQL's input function refuses it before rig runs
SELECT rig_do('user_create', '{"email": "x@example.com", ');
\echo :SQLSTATE
SELECT rig_do('user_create', 'not json');
\echo :SQLSTATE
-- wrongly typed arguments
SELECT rig_do('user_create', 42);
\echo :SQLSTATE
SELECT rig_do(42, '{}');
\echo :SQLSTATE
-- valid jsonb that is not what the handler wants: the validate handler says so
SELECT rig_do('user_create', '"just a string"');
\echo :SQLSTATE
SELECT rig_do('user_create', '[1, 2, 3]');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM metadata.counts();

-- huge payloads: over rig.max_payload (1MB) refused with 54000
SELECT rig_do('user_create', jsonb_build_object('email', 'big@example.com', 'name', 'Big',
              'password_salt', 's', 'password_hash', 'h', 'blob', repeat('x', 10 * 1024 * 1024)));
\echo :SQLSTATE
-- compressible or not, the size counted is the uncompressed size
SELECT rig_do('user_create', jsonb_build_object('email', 'big@example.com', 'name', 'Big',
              'password_salt', 's', 'password_hash', 'h',
              'blob', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 40000) i)));
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM metadata.counts();
-- the limit is a setting (superuser only)
SET rig.max_payload = '2kB';
SELECT rig_do('user_create', jsonb_build_object('email', 'mid@example.com', 'name', 'Mid',
              'password_salt', 's', 'password_hash', 'h', 'note', repeat('n', 3000)));
\echo :SQLSTATE
SELECT rig_do('user_create', jsonb_build_object('email', 'mid@example.com', 'name', 'Mid',
              'password_salt', 's', 'password_hash', 'h', 'note', repeat('n', 1000))) > 0 AS under_limit_ok;
RESET rig.max_payload;
-- (it cannot go below 1kB)
SET rig.max_payload = 100;
\echo :SQLSTATE
SELECT * FROM metadata.counts() \gset before_

-- a method name that is an SQL injection attempt is just an unknown name
SELECT rig_do($$user_create'); DROP TABLE metadata.users; --$$,
              metadata.new_user('evil@example.com', 'Evil', 'pw'));
\echo :SQLSTATE
SELECT rig_do('user_create"; DROP TABLE metadata.users; --', '{}');
\echo :SQLSTATE
SELECT rig_do('x'' OR ''1''=''1', '{}');
\echo :SQLSTATE
SELECT to_regclass('metadata.users') AS users_table_still_there;
-- and injection attempts in the data are data
SELECT rig_do('user_create', metadata.new_user('bobby@example.com', $$Robert'); DROP TABLE metadata.users; --$$, 'pw')) AS bobby \gset
SELECT name FROM metadata.users WHERE id = :bobby;
SELECT to_regclass('metadata.users') AS users_table_still_there;
SELECT * FROM metadata.counts() \gset before_

-- PREPARE TRANSACTION of a transaction that ran rig_do is refused;
-- the transaction is rolled back, nothing is left prepared or logged
BEGIN;
SELECT rig_do('user_create', metadata.new_user('prep@example.com', 'Prep', 'pw')) > 0 AS created;
PREPARE TRANSACTION 'regress_rig_prepare';
\echo :SQLSTATE
SELECT count(*) AS prepared FROM pg_prepared_xacts;
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM metadata.counts();
SELECT count(*) AS prep_user FROM metadata.users WHERE email = 'prep@example.com';
-- the same when the op came from a released savepoint
BEGIN;
SAVEPOINT sp;
SELECT rig_do('user_create', metadata.new_user('prep@example.com', 'Prep', 'pw')) > 0 AS created;
RELEASE SAVEPOINT sp;
PREPARE TRANSACTION 'regress_rig_prepare';
\echo :SQLSTATE
SELECT count(*) AS prepared FROM pg_prepared_xacts;
-- the session is usable afterwards, and its watermark is not stuck
SELECT rig_do('user_create', metadata.new_user('after@example.com', 'After', 'pw')) AS after \gset
SELECT rig_watermark() = :after AS watermark_ok;
-- PREPARE TRANSACTION without rig ops is not affected
BEGIN;
SELECT count(*) >= 0 AS read_users FROM metadata.users;
PREPARE TRANSACTION 'regress_rig_plain';
SELECT gid FROM pg_prepared_xacts;
COMMIT PREPARED 'regress_rig_plain';
-- a user's prepared transaction named like rig's, with a number no version
-- has: rig.in_doubt still reads, without versions for it
BEGIN;
PREPARE TRANSACTION 'rig_x_1_1_1_1_99999999999999999999';
SELECT gid, first_version, last_version FROM rig.in_doubt;
ROLLBACK PREPARED 'rig_x_1_1_1_1_99999999999999999999';
SELECT * FROM metadata.counts() \gset before_

-- a handler raising a custom SQLSTATE: code, message, detail and hint pass through
CREATE FUNCTION metadata.refuse(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'quota exceeded for %', data->>'tenant'
		USING ERRCODE = 'P0001', DETAIL = 'tenant ' || (data->>'tenant') || ' has 10 of 10 users',
			  HINT = 'Delete a user first.';
END $$;
CREATE FUNCTION metadata.refuse_custom(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'RG042', MESSAGE = 'custom refusal',
		DETAIL = 'raised by the apply handler', HINT = 'Custom codes pass through too.';
END $$;
SELECT rig_register('quota_user', 'metadata.user_create(bigint,jsonb)', 'metadata.refuse(jsonb)');
SELECT rig_register('custom_code', 'metadata.refuse_custom(bigint,jsonb)');
SELECT rig_do('quota_user', '{"tenant": "acme"}');
\echo :SQLSTATE
SELECT rig_do('custom_code', '{}');
\echo :SQLSTATE
-- and to PL/pgSQL callers, field by field
DO $$
DECLARE
	code text; msg text; det text; hnt text;
BEGIN
	PERFORM rig_do('quota_user', '{"tenant": "acme"}');
EXCEPTION WHEN raise_exception THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RAISE NOTICE 'sqlstate=% message=% detail=% hint=%', code, msg, det, hnt;
END $$;
-- a handler's own constraint violations too
SELECT rig_do('user_create', metadata.new_user('GRACE@example.com', 'Grace again', 'pw'));
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM metadata.counts();

-- a resources handler failing at run time
CREATE FUNCTION metadata.resources_bad(data jsonb) RETURNS text[]
	LANGUAGE plpgsql AS $$ BEGIN RETURN ARRAY[1/0]::text[]; END $$;
SELECT rig_register('bad_resources', 'metadata.user_create(bigint,jsonb)', NULL,
					'metadata.resources_bad(jsonb)');
SELECT rig_do('bad_resources', metadata.new_user('zero@example.com', 'Zero', 'pw'));
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM metadata.counts();

-- clean up (the example objects are loaded again by the example test)
SELECT rig_unregister(method) FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method;
DROP SCHEMA metadata CASCADE;
