--
-- rig_do: versions, transactions, handler context, failures, resource
-- locks and isolation levels.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE SCHEMA d;
-- what the handlers saw: the version argument, rig_version(), rig_op_time()
CREATE TABLE d.seen (arg_version bigint, rig_version bigint, op_time timestamptz, data jsonb);
CREATE FUNCTION d.apply(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO d.seen VALUES (version, rig_version(), rig_op_time(), data);
END $$;
CREATE FUNCTION d.resources(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY(SELECT jsonb_array_elements_text(data->'res')) $$;
SELECT rig_register('note', 'd.apply(bigint,jsonb)', NULL, 'd.resources(jsonb)');

-- how much each check below changed: log rows and handler rows
CREATE FUNCTION d.counts(OUT log_rows bigint, OUT seen_rows bigint)
	LANGUAGE sql AS $$ SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM d.seen) $$;

--
-- A basic op returns its version; the log row carries epoch, method,
-- data, op_time and origin; the handler saw the same version and op_time.
--
SELECT rig_last_version() AS before \gset
SELECT rig_do('note', '{"n": 1}') AS v1 \gset
SELECT :v1 > :before AS version_is_new, :v1 = rig_last_version() AS is_last_version;
SELECT version = :v1 AS same_version, epoch, method, data, idempotency_key, origin,
       op_time <= now() AS op_time_ok
  FROM rig.log WHERE version = :v1;
SELECT s.arg_version = l.version AS arg_is_version,
       s.rig_version = l.version AS rig_version_is_version,
       s.op_time = l.op_time AS rig_op_time_is_op_time
  FROM d.seen s JOIN rig.log l ON l.version = s.arg_version
 WHERE l.version = :v1;
-- data defaults to '{}'
SELECT rig_do('note') AS v_default \gset
SELECT data FROM rig.log WHERE version = :v_default;

-- versions strictly increase; op_times never go backwards
SELECT rig_do('note', '{"n": 2}') AS v2 \gset
SELECT rig_do('note', '{"n": 3}') AS v3 \gset
SELECT :v1 < :v_default AND :v_default < :v2 AND :v2 < :v3 AS increasing;
SELECT bool_and(op_time >= prev) AS op_time_not_decreasing
  FROM (SELECT op_time, lag(op_time) OVER (ORDER BY version) AS prev
          FROM rig.log WHERE version >= :v1) t WHERE prev IS NOT NULL;
-- several calls in one statement get distinct, increasing versions
SELECT count(DISTINCT v) AS distinct_versions,
       bool_and(v > prev) FILTER (WHERE prev IS NOT NULL) AS increasing_in_one_statement
  FROM (SELECT v, lag(v) OVER (ORDER BY n) AS prev
          FROM (SELECT n, rig_do('note', jsonb_build_object('n', n)) AS v
                  FROM generate_series(10, 14) n) s) t;

--
-- Several ops in one transaction commit together ...
--
SELECT * FROM d.counts() \gset before_
BEGIN;
SELECT rig_do('note', '{"t": "a"}') AS ta \gset
SELECT rig_do('note', '{"t": "b"}') AS tb \gset
SELECT rig_do('note', '{"t": "c"}') AS tc \gset
-- visible to their own transaction
SELECT count(*) AS own_ops_visible FROM rig.log WHERE version IN (:ta, :tb, :tc);
COMMIT;
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
SELECT method, data FROM rig.log WHERE version IN (:ta, :tb, :tc) ORDER BY version;
-- ... and roll back together
SELECT * FROM d.counts() \gset before_
BEGIN;
SELECT rig_do('note', '{"r": "a"}') AS ra \gset
SELECT rig_do('note', '{"r": "b"}') AS rb \gset
ROLLBACK;
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
SELECT count(*) AS rolled_back_rows FROM rig.log WHERE version IN (:ra, :rb);
-- versions of a rolled-back transaction are not reused
SELECT rig_do('note', '{"after": "rollback"}') > :rb AS not_reused;

--
-- rig_version() and rig_op_time() answer only inside a handler
--
SELECT rig_version();
\echo :SQLSTATE
SELECT rig_op_time();
\echo :SQLSTATE
-- ... not even between two rig_do calls of one transaction
BEGIN;
SELECT rig_do('note', '{"between": 1}') > 0 AS ran;
SELECT rig_version();
\echo :SQLSTATE
ROLLBACK;
-- ... nor in a validate handler
CREATE FUNCTION d.validate_uses_version(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN PERFORM rig_version(); END $$;
SELECT rig_register('validate_version', 'd.apply(bigint,jsonb)', 'd.validate_uses_version(jsonb)');
SELECT * FROM d.counts() \gset before_
SELECT rig_do('validate_version');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();

--
-- rig_do from inside a handler is refused
--
CREATE FUNCTION d.apply_nested(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO d.seen VALUES (version, rig_version(), rig_op_time(), data);
	PERFORM rig_do('note', '{"nested": true}');
END $$;
CREATE FUNCTION d.validate_nested(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN PERFORM rig_do('note', '{"nested": true}'); END $$;
SELECT rig_register('nested_apply', 'd.apply_nested(bigint,jsonb)');
SELECT rig_register('nested_validate', 'd.apply(bigint,jsonb)', 'd.validate_nested(jsonb)');
SELECT * FROM d.counts() \gset before_
SELECT rig_do('nested_apply');
\echo :SQLSTATE
SELECT rig_do('nested_validate');
\echo :SQLSTATE
-- a handler that catches the error still cannot write
CREATE FUNCTION d.apply_nested_caught(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM rig_do('note', '{"nested": true}');
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		RAISE NOTICE 'nested rig_do refused: %', SQLERRM;
	END;
	INSERT INTO d.seen VALUES (version, NULL, NULL, data);
END $$;
SELECT rig_register('nested_caught', 'd.apply_nested_caught(bigint,jsonb)');
SELECT rig_do('nested_caught', '{"outer": true}') AS v_outer \gset
-- only the outer op was logged and applied
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
SELECT method, data FROM rig.log WHERE version > :v3 AND (data ? 'nested' OR data ? 'outer');
-- rig_do works again after the refusals
SELECT rig_do('note', '{"after": "nested"}') > :v_outer AS works_again;

--
-- A validate handler that raises: its error (and SQLSTATE) passes through,
-- nothing is logged or applied, no version is used.
--
CREATE FUNCTION d.validate_positive(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF (data->>'amount')::numeric <= 0 THEN
		RAISE EXCEPTION 'amount must be positive, got %', data->>'amount'
			USING ERRCODE = 'check_violation', DETAIL = 'validate saw ' || data::text,
				  HINT = 'Send a positive amount.';
	END IF;
END $$;
SELECT rig_register('pay', 'd.apply(bigint,jsonb)', 'd.validate_positive(jsonb)');
SELECT rig_do('pay', '{"amount": 5}') AS pay_ok \gset
SELECT * FROM d.counts() \gset before_
SELECT rig_do('pay', '{"amount": -5}');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
-- a rejected op takes no version: the next op gets the very next one
SELECT rig_do('pay', '{"amount": 7}') = :pay_ok + 1 AS next_version_is_next;

--
-- An apply handler that raises: same, and its partial effects are gone.
--
CREATE FUNCTION d.apply_fails(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO d.seen VALUES (version, rig_version(), rig_op_time(), data);
	IF data ? 'fail' THEN
		RAISE EXCEPTION 'apply failed'
			USING ERRCODE = 'data_exception', DETAIL = 'the handler had already written a row';
	END IF;
END $$;
SELECT rig_register('fragile', 'd.apply_fails(bigint,jsonb)');
SELECT * FROM d.counts() \gset before_
SELECT rig_do('fragile', '{"fail": true}');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
-- inside a transaction, the failure aborts it with the earlier ops
BEGIN;
SELECT rig_do('note', '{"before": "failure"}') > 0 AS ran;
SELECT rig_do('fragile', '{"fail": true}');
\echo :SQLSTATE
COMMIT;
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
-- the versions of failed ops are final: they do not hold the watermark back
SELECT rig_do('note', '{"after": "failures"}') AS v_after_failures \gset
SELECT rig_watermark() = :v_after_failures AS watermark_is_newest_version;

--
-- Resources: locked (advisory locks, objsubid 29289) until the transaction ends.
--
CREATE VIEW d.my_resource_locks AS
	SELECT count(*) AS locks,
	       count(*) FILTER (WHERE granted AND mode = 'ExclusiveLock') AS granted_exclusive
	  FROM pg_locks
	 WHERE locktype = 'advisory' AND objsubid = 29289 AND pid = pg_backend_pid();
BEGIN;
SELECT rig_do('note', '{"res": ["account:1", "account:2"]}') > 0 AS ran;
SELECT * FROM d.my_resource_locks;
-- naming a resource again does not take a second lock
SELECT rig_do('note', '{"res": ["account:2", "account:2", "account:3"]}') > 0 AS ran;
SELECT * FROM d.my_resource_locks;
COMMIT;
SELECT * FROM d.my_resource_locks;
-- released by ROLLBACK too
BEGIN;
SELECT rig_do('note', '{"res": ["account:1"]}') > 0 AS ran;
SELECT * FROM d.my_resource_locks;
ROLLBACK;
SELECT * FROM d.my_resource_locks;
-- they are not ordinary advisory locks: pg_advisory_lock never sees them
SELECT count(*) AS plain_advisory_locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid IN (1, 2) AND pid = pg_backend_pid();
-- no resources (empty array or NULL): no locks, the op still runs
BEGIN;
SELECT rig_do('note', '{"res": []}') > 0 AS ran;
SELECT * FROM d.my_resource_locks;
COMMIT;
CREATE FUNCTION d.resources_null(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT NULL::text[] $$;
SELECT rig_register('no_resources', 'd.apply(bigint,jsonb)', NULL, 'd.resources_null(jsonb)');
BEGIN;
SELECT rig_do('no_resources') > 0 AS ran;
SELECT * FROM d.my_resource_locks;
COMMIT;
-- a NULL resource name is refused, nothing logged, no lock left
SELECT * FROM d.counts() \gset before_
SELECT rig_do('note', '{"res": ["account:1", null]}');
\echo :SQLSTATE
-- a multidimensional array too
CREATE FUNCTION d.resources_2d(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY[['a', 'b'], ['c', 'd']] $$;
SELECT rig_register('two_d', 'd.apply(bigint,jsonb)', NULL, 'd.resources_2d(jsonb)');
SELECT rig_do('two_d');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
SELECT * FROM d.my_resource_locks;
-- a resources handler that raises
CREATE FUNCTION d.resources_fail(data jsonb) RETURNS text[]
	LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'cannot name the resources' USING ERRCODE = 'invalid_parameter_value';
END $$;
SELECT rig_register('res_fail', 'd.apply(bigint,jsonb)', NULL, 'd.resources_fail(jsonb)');
SELECT rig_do('res_fail');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();

--
-- REPEATABLE READ and SERIALIZABLE are refused (a documented choice):
-- 0A000, nothing logged or applied.
--
SELECT * FROM d.counts() \gset before_
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT rig_do('note', '{"iso": "rr"}');
\echo :SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT rig_do('note', '{"iso": "ser"}');
\echo :SQLSTATE
ROLLBACK;
-- also when it is the session default
SET default_transaction_isolation = 'repeatable read';
SELECT rig_do('note', '{"iso": "default rr"}');
\echo :SQLSTATE
RESET default_transaction_isolation;
SELECT log_rows - :before_log_rows AS new_log_rows, seen_rows - :before_seen_rows AS new_seen_rows
  FROM d.counts();
-- an explicit READ COMMITTED works, and so does a SET TRANSACTION back to it
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT rig_do('note', '{"iso": "rc"}') > 0 AS ran;
COMMIT;
SET default_transaction_isolation = 'serializable';
BEGIN;
SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
SELECT rig_do('note', '{"iso": "set transaction"}') > 0 AS ran;
COMMIT;
RESET default_transaction_isolation;
SELECT data FROM rig.log WHERE data ? 'iso' ORDER BY version;

-- READ UNCOMMITTED behaves as READ COMMITTED in PostgreSQL: allowed
BEGIN ISOLATION LEVEL READ UNCOMMITTED;
SELECT rig_do('note', '{"iso": "ru"}') > 0 AS ran;
COMMIT;

-- a read-only transaction is refused before anything runs, with rig's message
SELECT count(*) AS before_rows FROM rig.log \gset
BEGIN READ ONLY;
SELECT rig_do('note', '{"ro": true}');
\echo :SQLSTATE
ROLLBACK;
SELECT count(*) - :before_rows AS new_rows FROM rig.log;

-- a handler that catches an error in an exception block keeps its context
CREATE TABLE d.ctx (version bigint, op_time timestamptz);
CREATE FUNCTION d.ctx_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN NULL;
	END;
	INSERT INTO d.ctx VALUES (rig_version(), rig_op_time());
END $$;
-- a SQL validate handler returning void (its NULL result is ignored)
CREATE FUNCTION d.ctx_validate(data jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
SELECT rig_register('ctx', 'd.ctx_apply(bigint,jsonb)', 'd.ctx_validate(jsonb)');
SELECT rig_do('ctx') AS ctx_version \gset
SELECT c.version = :ctx_version AS version_ok, c.op_time = l.op_time AS op_time_ok
  FROM d.ctx c JOIN rig.log l USING (version);

-- every row of this file's log has epoch 1 and origin 'regress'
SELECT epoch, origin, count(*) > 0 AS rows FROM rig.log GROUP BY epoch, origin;

-- clean up
SELECT rig_unregister(method) FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method;
DROP SCHEMA d CASCADE;
