--
-- savepoints: a rolled-back savepoint takes its ops (log rows, handler
-- effects, in-flight versions, resource locks) with it; a released one
-- keeps them.
--
\set SHOW_CONTEXT never

CREATE SCHEMA s;
CREATE TABLE s.items (version bigint, name text);
CREATE FUNCTION s.add(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO s.items VALUES (version, data->>'name') $$;
CREATE FUNCTION s.res(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY['item:' || (data->>'name')] $$;
SELECT rig_register('add', 's.add(bigint,jsonb)', NULL, 's.res(jsonb)');
CREATE VIEW s.state AS
	SELECT (SELECT string_agg(data->>'name', ',' ORDER BY version) FROM rig.log
	         WHERE method = 'add' AND version > current_setting('regress.base')::bigint) AS logged,
	       (SELECT string_agg(name, ',' ORDER BY version) FROM s.items) AS applied,
	       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 29289
	           AND pid = pg_backend_pid()) AS resource_locks;
SELECT set_config('regress.base', rig_last_version()::text, false) IS NOT NULL AS base_noted;

--
-- ROLLBACK TO SAVEPOINT removes the op from rig.log and its effects;
-- the in-flight version goes with it.
--
BEGIN;
SELECT rig_do('add', '{"name": "kept"}') AS kept \gset
SAVEPOINT sp;
SELECT rig_do('add', '{"name": "undone"}') AS undone \gset
SELECT * FROM s.state;
-- the watermark stays below the transaction's first in-flight version
SELECT rig_watermark() = :kept - 1 AS watermark_below_kept;
ROLLBACK TO SAVEPOINT sp;
SELECT * FROM s.state;
SELECT rig_watermark() = :kept - 1 AS watermark_below_kept;
COMMIT;
SELECT * FROM s.state;
SELECT count(*) AS undone_logged FROM rig.log WHERE version = :undone;
-- after commit nothing is in flight: the watermark is the last assigned version
SELECT rig_watermark() = :undone AS watermark_is_last_assigned;

--
-- Watermark with one op in a savepoint: (in-flight version - 1) while it is
-- live, the last assigned version once the savepoint is rolled back.
--
BEGIN;
SAVEPOINT lone;
SELECT rig_do('add', '{"name": "lone"}') AS lone_v \gset
SELECT rig_watermark() = :lone_v - 1 AS watermark_is_inflight_minus_1;
SELECT count(*) AS visible_to_rig_log_since FROM rig_log_since(:lone_v - 1);
ROLLBACK TO SAVEPOINT lone;
SELECT rig_watermark() = :lone_v AS watermark_is_last_assigned;
SELECT * FROM s.state;
-- a later op in the same transaction is in flight again
SELECT rig_do('add', '{"name": "later"}') AS later_v \gset
SELECT rig_watermark() = :later_v - 1 AS watermark_is_inflight_minus_1;
COMMIT;
SELECT rig_watermark() = :later_v AS watermark_is_last_assigned;
SELECT * FROM s.state;

--
-- A released savepoint keeps its ops.
--
BEGIN;
SAVEPOINT rel;
SELECT rig_do('add', '{"name": "released"}') AS released \gset
RELEASE SAVEPOINT rel;
SELECT rig_watermark() = :released - 1 AS still_in_flight;
COMMIT;
SELECT * FROM s.state;

--
-- Nested savepoints.
--
TRUNCATE s.items;
SELECT set_config('regress.base', rig_last_version()::text, false) IS NOT NULL AS base_noted;
BEGIN;
SAVEPOINT a;
SELECT rig_do('add', '{"name": "a1"}') AS a1 \gset
SAVEPOINT b;
SELECT rig_do('add', '{"name": "b1"}') AS b1 \gset
SAVEPOINT c;
SELECT rig_do('add', '{"name": "c1"}') AS c1 \gset
SELECT * FROM s.state;
-- roll back the innermost only
ROLLBACK TO SAVEPOINT c;
SELECT * FROM s.state;
-- release b (b1 now belongs to a), then roll back a: a1 and b1 go
RELEASE SAVEPOINT b;
SELECT * FROM s.state;
ROLLBACK TO SAVEPOINT a;
SELECT * FROM s.state;
SELECT rig_watermark() = :c1 AS nothing_in_flight;
-- roll back b while keeping a
SELECT rig_do('add', '{"name": "a2"}') AS a2 \gset
SAVEPOINT b;
SELECT rig_do('add', '{"name": "b2"}') AS b2 \gset
SAVEPOINT c;
SELECT rig_do('add', '{"name": "c2"}') AS c2 \gset
RELEASE SAVEPOINT c;
ROLLBACK TO SAVEPOINT b;
SELECT * FROM s.state;
SELECT rig_watermark() = :a2 - 1 AS a2_in_flight;
SELECT rig_do('add', '{"name": "a3"}') AS a3 \gset
COMMIT;
SELECT * FROM s.state;
SELECT string_agg(data->>'name', ',' ORDER BY version) AS committed
  FROM rig.log WHERE version IN (:a1, :b1, :c1, :a2, :b2, :c2, :a3);

--
-- A failing op inside a savepoint: roll back to it and carry on.
--
CREATE FUNCTION s.add_unique(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM s.items WHERE name = data->>'name') THEN
		RAISE EXCEPTION 'item % exists', data->>'name' USING ERRCODE = 'unique_violation';
	END IF;
	INSERT INTO s.items VALUES (version, data->>'name');
END $$;
SELECT rig_register('add_unique', 's.add_unique(bigint,jsonb)', NULL, 's.res(jsonb)');
TRUNCATE s.items;
BEGIN;
SELECT rig_do('add_unique', '{"name": "x"}') > 0 AS ran;
SAVEPOINT retry;
SELECT rig_do('add_unique', '{"name": "x"}');
ROLLBACK TO SAVEPOINT retry;
SELECT rig_do('add_unique', '{"name": "y"}') > 0 AS ran;
COMMIT;
SELECT string_agg(name, ',' ORDER BY version) AS applied FROM s.items;

-- the same from PL/pgSQL: an exception block is a savepoint too
TRUNCATE s.items;
SELECT set_config('regress.base', rig_last_version()::text, false) IS NOT NULL AS base_noted;
DO $$
BEGIN
	PERFORM rig_do('add_unique', '{"name": "p"}');
	BEGIN
		PERFORM rig_do('add_unique', '{"name": "q"}');
		PERFORM rig_do('add_unique', '{"name": "p"}');
	EXCEPTION WHEN unique_violation THEN
		RAISE NOTICE 'caught: %', SQLERRM;
	END;
	PERFORM rig_do('add_unique', '{"name": "r"}');
END $$;
SELECT string_agg(data->>'name', ',' ORDER BY version) AS logged
  FROM rig.log WHERE version > current_setting('regress.base')::bigint;
SELECT string_agg(name, ',' ORDER BY version) AS applied FROM s.items;

-- a transaction whose only op was rolled back to a savepoint can be prepared
BEGIN;
SAVEPOINT sp;
SELECT rig_do('add', '{"name": "never"}') > 0 AS ran;
ROLLBACK TO SAVEPOINT sp;
PREPARE TRANSACTION 'regress_rig_no_ops';
SELECT gid FROM pg_prepared_xacts WHERE gid = 'regress_rig_no_ops';
ROLLBACK PREPARED 'regress_rig_no_ops';
SELECT count(*) AS never_logged FROM rig.log WHERE data->>'name' = 'never';

-- clean up
SELECT rig_unregister('add');
SELECT rig_unregister('add_unique');
DROP SCHEMA s CASCADE;
