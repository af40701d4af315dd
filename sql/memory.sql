--
-- memory: a session that redefines and re-registers its handlers again and
-- again, with rig_do between, must not grow its memory (issue 14, item 4).
-- The handler cache lives in its own context, reset when it is rebuilt, so
-- what the function languages keep under a cached FmgrInfo goes with it.
--
\set SHOW_CONTEXT never

CREATE SCHEMA mem;
CREATE TABLE mem.applied (version bigint PRIMARY KEY, n int);
CREATE FUNCTION mem.validate(data jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF NOT data ? 'n' THEN
		RAISE EXCEPTION 'mem_op needs "n"';
	END IF;
END $$;
CREATE FUNCTION mem.resources(data jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['mem:' || (data->>'n')] $$;
CREATE FUNCTION mem.apply(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO mem.applied VALUES (version, (data->>'n')::int);
END $$;
SELECT rig_register('mem_op', 'mem.apply(bigint,jsonb)', 'mem.validate(jsonb)',
					'mem.resources(jsonb)');

-- One round: the apply handler redefined (a pg_proc invalidation), the
-- method registered again (a rig.handlers invalidation), one rig_do; each
-- statement its own transaction, as a long-lived pooled session runs them.
CREATE FUNCTION pg_temp.rounds(a int, b int) RETURNS SETOF text LANGUAGE sql AS $fn$
	SELECT s FROM generate_series(a, b) i, LATERAL (VALUES
		(format($f$CREATE OR REPLACE FUNCTION mem.apply(version bigint, data jsonb) RETURNS void
			LANGUAGE plpgsql AS $b$ BEGIN INSERT INTO mem.applied VALUES (version, %s + 0 * (data->>'n')::int); END $b$ $f$, i)),
		($f$DO $d$ BEGIN PERFORM rig_register('mem_op', 'mem.apply(bigint,jsonb)', 'mem.validate(jsonb)', 'mem.resources(jsonb)'); END $d$$f$),
		(format($f$DO $d$ BEGIN PERFORM rig_do('mem_op', '{"n": %s}'); END $d$$f$, i))) v(s)
$fn$;

-- warm up: caches, plans and contexts reach their steady size
\set ECHO none
SELECT s FROM pg_temp.rounds(1, 100) s \gexec
SELECT sum(total_bytes) AS mem_before FROM pg_backend_memory_contexts \gset
SELECT s FROM pg_temp.rounds(101, 600) s \gexec
\set ECHO all
-- 500 more rounds: at most 64 kB more (a leak of even 200 bytes a round shows)
SELECT sum(total_bytes) - :mem_before < 65536 AS memory_steady
  FROM pg_backend_memory_contexts;
-- and every op ran the handler as defined in its own round
SELECT count(*) AS applied, bool_and(a.n = (l.data->>'n')::int) AS latest_definition
  FROM mem.applied a JOIN rig.log l USING (version);
