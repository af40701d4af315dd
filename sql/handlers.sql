--
-- handlers: rig_register / rig_unregister, signature checks, method names
-- and the per-session handler cache.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE SCHEMA h;
CREATE TABLE h.applied (method text, version bigint, data jsonb, note text);

-- Handlers in SQL and in PL/pgSQL.
CREATE FUNCTION h.apply_sql(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO h.applied VALUES ('sql_op', version, data, 'sql') $$;
CREATE FUNCTION h.validate_sql(data jsonb) RETURNS boolean
	LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION h.resources_sql(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY['sql:' || coalesce(data->>'k', '')] $$;

CREATE FUNCTION h.apply_plpgsql(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO h.applied VALUES ('plpgsql_op', version, data, 'plpgsql');
END $$;
CREATE FUNCTION h.validate_plpgsql(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF NOT data ? 'k' THEN
		RAISE EXCEPTION 'plpgsql_op needs "k"' USING ERRCODE = 'invalid_parameter_value';
	END IF;
END $$;
CREATE FUNCTION h.resources_plpgsql(data jsonb) RETURNS text[]
	LANGUAGE plpgsql AS $$
BEGIN
	RETURN ARRAY['plpgsql:' || (data->>'k')];
END $$;

SELECT rig_register('sql_op', 'h.apply_sql(bigint,jsonb)',
					'h.validate_sql(jsonb)', 'h.resources_sql(jsonb)');
SELECT rig_register('plpgsql_op', 'h.apply_plpgsql(bigint,jsonb)',
					'h.validate_plpgsql(jsonb)', 'h.resources_plpgsql(jsonb)');
-- validate and resources are optional
SELECT rig_register('apply_only', 'h.apply_sql(bigint,jsonb)');
-- named arguments work too
SELECT rig_register(method => 'named_op', apply => 'h.apply_sql(bigint,jsonb)',
					resources => 'h.resources_sql(jsonb)');

SELECT method, apply, validate, resources FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method;

SELECT rig_do('sql_op', '{"k": "a"}') > 0 AS sql_op_ran;
SELECT rig_do('plpgsql_op', '{"k": "b"}') > 0 AS plpgsql_op_ran;
SELECT rig_do('apply_only') > 0 AS apply_only_ran;
SELECT rig_do('named_op', '{"k": "n"}') > 0 AS named_op_ran;
SELECT method, data, note FROM h.applied ORDER BY version;
SELECT count(*) AS locks_held_after_commit FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid = 29289;
-- the plpgsql validate handler still rejects
SELECT rig_do('plpgsql_op', '{}');
\echo :SQLSTATE
SELECT count(*) AS applied FROM h.applied;

--
-- Wrong signatures: each refused with 42P13, nothing registered.
--
CREATE FUNCTION h.one_arg(version bigint) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.three_args(version bigint, data jsonb, extra text) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.int_version(version int, data jsonb) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.json_data(version bigint, data json) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.swapped(data jsonb, version bigint) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.apply_setof(version bigint, data jsonb) RETURNS SETOF int
	LANGUAGE sql AS $$ SELECT 1 $$;
CREATE PROCEDURE h.apply_proc(version bigint, data jsonb)
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.agg_step(state jsonb, data jsonb) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT data $$;
CREATE AGGREGATE h.validate_agg(jsonb) (sfunc = h.agg_step, stype = jsonb);
CREATE FUNCTION h.validate_text(data text) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.validate_two(data jsonb, more jsonb) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION h.resources_text(data jsonb) RETURNS text
	LANGUAGE sql AS $$ SELECT 'a' $$;
CREATE FUNCTION h.resources_varchar(data jsonb) RETURNS varchar[]
	LANGUAGE sql AS $$ SELECT ARRAY['a']::varchar[] $$;
CREATE FUNCTION h.resources_setof(data jsonb) RETURNS SETOF text[]
	LANGUAGE sql AS $$ SELECT ARRAY['a'] $$;
CREATE FUNCTION h.resources_void(data jsonb) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;

-- apply
SELECT rig_register('bad', 'h.one_arg(bigint)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.three_args(bigint,jsonb,text)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.int_version(int,jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.json_data(bigint,json)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.swapped(jsonb,bigint)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_setof(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_proc(bigint,jsonb)');
\echo :SQLSTATE
-- validate
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', 'h.validate_text(text)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', 'h.validate_two(jsonb,jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', 'h.validate_agg(jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
-- resources
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', NULL, 'h.resources_text(jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', NULL, 'h.resources_varchar(jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', NULL, 'h.resources_setof(jsonb)');
\echo :SQLSTATE
SELECT rig_register('bad', 'h.apply_sql(bigint,jsonb)', NULL, 'h.resources_void(jsonb)');
\echo :SQLSTATE
-- a function that does not exist: the regprocedure input refuses it
SELECT rig_register('bad', 'h.no_such_function(bigint,jsonb)');
\echo :SQLSTATE
-- an OID that is no function
SELECT rig_register('bad', 4000000000::oid::regprocedure);
\echo :SQLSTATE
-- none of these registered anything
SELECT count(*) AS bad_registered FROM rig.handlers WHERE method = 'bad';

--
-- NULL arguments
--
SELECT rig_register(NULL, 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('null_apply', NULL);
\echo :SQLSTATE
SELECT rig_register('null_apply', NULL, 'h.validate_sql(jsonb)');
\echo :SQLSTATE
SELECT rig_unregister(NULL);
\echo :SQLSTATE

--
-- Method names: 1 to 63 characters of letters, digits and _ . - : /
--
SELECT rig_register('', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register(repeat('m', 64), 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('it''s', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('two words', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('op;DROP TABLE h.applied', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('quote"d', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register(E'new\nline', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('héllo', 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT count(*) AS bad_names_registered FROM rig.handlers
 WHERE method NOT IN ('sql_op', 'plpgsql_op', 'apply_only', 'named_op') AND method NOT LIKE 'rig.%';
-- the limits themselves are fine
SELECT rig_register(repeat('m', 63), 'h.apply_sql(bigint,jsonb)');
SELECT rig_register('a', 'h.apply_sql(bigint,jsonb)');
SELECT rig_register('svc.users/create:v-2_x', 'h.apply_sql(bigint,jsonb)');
SELECT length(method) AS len, method FROM rig.handlers
 WHERE method NOT IN ('sql_op', 'plpgsql_op', 'apply_only', 'named_op') AND method NOT LIKE 'rig.%' ORDER BY len;
SELECT rig_do(repeat('m', 63)) > 0 AS long_name_ran;
-- rig_do with a name over the limit finds nothing
SELECT rig_do(repeat('m', 64));
\echo :SQLSTATE
-- a huge name is cut to 64 bytes in messages (and so in the server log)
SELECT rig_do(repeat('x', 10 * 1024 * 1024));
\echo :SQLSTATE
SELECT rig_register(repeat('x', 10 * 1024 * 1024), 'h.apply_sql(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_unregister(repeat('x', 10 * 1024 * 1024));
\echo :SQLSTATE
SELECT rig_unregister(repeat('m', 63));
SELECT rig_unregister('a');
SELECT rig_unregister('svc.users/create:v-2_x');

--
-- Re-registering replaces the handlers.
--
CREATE FUNCTION h.apply_v2(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO h.applied VALUES ('sql_op', version, data, 'v2') $$;
SELECT registered_at AS old_registered_at FROM rig.handlers WHERE method = 'sql_op' \gset
SELECT rig_register('sql_op', 'h.apply_v2(bigint,jsonb)');
SELECT method, apply, validate, resources, registered_at > :'old_registered_at' AS newer
  FROM rig.handlers WHERE method = 'sql_op';
-- takes effect at once, in this session (whose cache held the old handler)
TRUNCATE h.applied;
SELECT rig_do('sql_op', '{"k": "c"}') > 0 AS ran;
SELECT method, data, note FROM h.applied;
-- and inside one transaction, from the next rig_do on
TRUNCATE h.applied;
BEGIN;
SELECT rig_register('sql_op', 'h.apply_sql(bigint,jsonb)');
SELECT rig_do('sql_op', '{"k": "d"}') > 0 AS ran;
SELECT rig_register('sql_op', 'h.apply_v2(bigint,jsonb)');
SELECT rig_do('sql_op', '{"k": "e"}') > 0 AS ran;
COMMIT;
SELECT method, data, note FROM h.applied ORDER BY version;
-- replacing without validate / resources drops them
SELECT rig_register('plpgsql_op', 'h.apply_plpgsql(bigint,jsonb)');
SELECT method, apply, validate, resources FROM rig.handlers WHERE method = 'plpgsql_op';
SELECT rig_do('plpgsql_op', '{}') > 0 AS ran_without_validate;

--
-- rig_unregister
--
SELECT rig_unregister('named_op');
SELECT count(*) AS named_op_rows FROM rig.handlers WHERE method = 'named_op';
SELECT rig_do('named_op', '{"k": "f"}');
\echo :SQLSTATE
SELECT rig_unregister('named_op');
\echo :SQLSTATE
SELECT rig_unregister('never_registered');
\echo :SQLSTATE
-- its log records stay
SELECT count(*) > 0 AS named_op_logged FROM rig.log WHERE method = 'named_op';
-- an unregister rolled back leaves the method in place
BEGIN;
SELECT rig_unregister('apply_only');
ROLLBACK;
SELECT rig_do('apply_only') > 0 AS apply_only_still_registered;

--
-- The handler cache follows changes to the functions.
--
CREATE TABLE h.seen (id serial, note text);
CREATE FUNCTION h.apply_cached(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN INSERT INTO h.seen (note) VALUES ('first body'); END $$;
CREATE FUNCTION h.validate_cached(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
SELECT rig_register('cached', 'h.apply_cached(bigint,jsonb)', 'h.validate_cached(jsonb)');
SELECT rig_do('cached') > 0 AS ran;
-- CREATE OR REPLACE: the next rig_do in this session runs the new body
CREATE OR REPLACE FUNCTION h.apply_cached(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN INSERT INTO h.seen (note) VALUES ('second body'); END $$;
SELECT rig_do('cached') > 0 AS ran;
SELECT note FROM h.seen ORDER BY id;
-- also for a validate handler
CREATE OR REPLACE FUNCTION h.validate_cached(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'validate replaced' USING ERRCODE = 'check_violation';
END $$;
SELECT rig_do('cached');
\echo :SQLSTATE
SELECT count(*) AS seen FROM h.seen;

-- a dropped handler function gives a clear error (and so does every retry)
SELECT rig_register('cached', 'h.apply_cached(bigint,jsonb)');
SELECT rig_do('cached') > 0 AS ran;
SELECT max(version) AS log_before FROM rig.log \gset
-- (the DETAIL names the OID of the dropped function; it is shown as <oid>)
SELECT set_config('regress.dropped_oid', 'h.apply_cached(bigint,jsonb)'::regprocedure::oid::text, false) IS NOT NULL AS noted;
CREATE FUNCTION h.show_error(stmt text) RETURNS TABLE (code text, message text, detail text, hint text)
	LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	code := '00000';
	RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	detail := replace(detail, current_setting('regress.dropped_oid'), '<oid>');
	RETURN NEXT;
END $$;
DROP FUNCTION h.apply_cached(bigint, jsonb);
\x on
SELECT * FROM h.show_error($$SELECT rig_do('cached')$$);
SELECT * FROM h.show_error($$SELECT rig_do('cached')$$);
\x off
SELECT count(*) AS logged_after_drop FROM rig.log WHERE version > :log_before;
-- a dropped validate or resources function too
CREATE FUNCTION h.apply_cached(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN INSERT INTO h.seen (note) VALUES ('third body'); END $$;
CREATE FUNCTION h.resources_cached(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY['cached'] $$;
SELECT rig_register('cached', 'h.apply_cached(bigint,jsonb)', NULL, 'h.resources_cached(jsonb)');
SELECT rig_do('cached') > 0 AS ran;
SELECT set_config('regress.dropped_oid', 'h.resources_cached(jsonb)'::regprocedure::oid::text, false) IS NOT NULL AS noted;
DROP FUNCTION h.resources_cached(jsonb);
\x on
SELECT * FROM h.show_error($$SELECT rig_do('cached')$$);
\x off
-- registering again repairs it
SELECT rig_register('cached', 'h.apply_cached(bigint,jsonb)');
SELECT rig_do('cached') > 0 AS ran;
SELECT note FROM h.seen ORDER BY id;
SELECT count(*) AS logged_after_drop FROM rig.log WHERE version > :log_before;

-- reloading the cache frees what it held: 200 invalidations, each followed
-- by a call of an SQL handler, leave no "SQL function" contexts behind
CREATE FUNCTION h.validate_div(data jsonb) RETURNS void
	LANGUAGE sql AS $$ SELECT 1 / (data->>'n')::int $$;
SELECT rig_register('reload', 'h.apply_sql(bigint,jsonb)', 'h.validate_div(jsonb)');
SELECT count(*) AS contexts_before FROM pg_backend_memory_contexts
 WHERE name = 'SQL function' \gset
DO $$
BEGIN
	FOR i IN 1..200 LOOP
		EXECUTE format('CREATE OR REPLACE FUNCTION h.touched() RETURNS int LANGUAGE sql AS %L',
					   'SELECT ' || i);
		BEGIN
			PERFORM rig_do('reload', '{"n": 0}');
		EXCEPTION WHEN division_by_zero THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT count(*) - :contexts_before AS contexts_added FROM pg_backend_memory_contexts
 WHERE name = 'SQL function';

-- clean up what later tests do not need
SELECT rig_unregister(method) FROM rig.handlers
 WHERE method IN ('sql_op', 'plpgsql_op', 'apply_only', 'cached', 'reload') ORDER BY method;
SELECT count(*) AS handlers_left FROM rig.handlers WHERE method NOT LIKE 'rig.%';
DROP SCHEMA h CASCADE;
