--
-- idempotency: the same key again returns the first version and applies
-- nothing; keys of rolled-back ops are free again; key length limits.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE SCHEMA i;
CREATE TABLE i.credits (version bigint, amount int);
CREATE FUNCTION i.credit(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO i.credits VALUES (version, (data->>'amount')::int) $$;
CREATE FUNCTION i.fail_if(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO i.credits VALUES (version, (data->>'amount')::int);
	IF data ? 'fail' THEN
		RAISE EXCEPTION 'refusing this credit' USING ERRCODE = 'check_violation';
	END IF;
END $$;
SELECT rig_register('credit', 'i.credit(bigint,jsonb)');
SELECT rig_register('credit_or_fail', 'i.fail_if(bigint,jsonb)');
CREATE FUNCTION i.counts(OUT log_rows bigint, OUT credits bigint, OUT total bigint)
	LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM i.credits),
	       (SELECT coalesce(sum(amount), 0) FROM i.credits) $$;

-- a retried request: the second call returns the first version, applies nothing
SELECT * FROM i.counts() \gset before_
SELECT rig_do('credit', '{"amount": 10}', 'req-1') AS first \gset
SELECT rig_do('credit', '{"amount": 10}', 'req-1') AS second \gset
SELECT :first = :second AS same_version;
SELECT log_rows - :before_log_rows AS new_log_rows, credits - :before_credits AS new_credits,
       total - :before_total AS added
  FROM i.counts();
SELECT version = :first AS is_first, method, data, idempotency_key FROM rig.log
 WHERE idempotency_key = 'req-1';
-- a key is bound to its method and data: reusing it for another op is
-- refused, not silently answered with the first version
SELECT rig_do('credit', '{"amount": 99}', 'req-1') = :first AS same_version;
\echo :SQLSTATE
SELECT rig_do('credit_or_fail', '{"amount": 10}', 'req-1') = :first AS same_version;
\echo :SQLSTATE
SELECT total - :before_total AS added FROM i.counts();
-- the same data written differently is the same jsonb value: a retry
SELECT rig_do('credit', '{ "amount" :10 }', 'req-1') = :first AS same_version;
-- how a client tells a deduplicated call: the key names an op that is not
-- its transaction's (op_time before now(), the transaction's start)
SELECT version = :first AS names_first, method, op_time < now() AS deduplicated
  FROM rig.idempotency_keys WHERE idempotency_key = 'req-1';
-- without a key (NULL), every call is a new op
SELECT rig_do('credit', '{"amount": 1}', NULL) <> rig_do('credit', '{"amount": 1}', NULL) AS distinct_ops;

-- the same key twice in one transaction
SELECT * FROM i.counts() \gset before_
BEGIN;
SELECT rig_do('credit', '{"amount": 5}', 'req-2') AS in_tx_first \gset
SELECT rig_do('credit', '{"amount": 5}', 'req-2') = :in_tx_first AS same_version_in_tx;
COMMIT;
SELECT log_rows - :before_log_rows AS new_log_rows, credits - :before_credits AS new_credits
  FROM i.counts();
-- and twice in one statement
SELECT count(DISTINCT v) AS versions
  FROM (SELECT rig_do('credit', '{"amount": 5}', 'req-3') AS v FROM generate_series(1, 3)) s;
SELECT count(*) AS req_3_credits FROM i.credits c JOIN rig.log l ON l.version = c.version
 WHERE l.idempotency_key = 'req-3';

-- a key whose first transaction rolled back applies anew
SELECT * FROM i.counts() \gset before_
BEGIN;
SELECT rig_do('credit', '{"amount": 7}', 'req-4') AS rolled_back \gset
ROLLBACK;
SELECT rig_do('credit', '{"amount": 7}', 'req-4') AS reapplied \gset
SELECT :reapplied > :rolled_back AS new_version;
SELECT log_rows - :before_log_rows AS new_log_rows, credits - :before_credits AS new_credits
  FROM i.counts();
-- a key whose first op failed applies anew
SELECT rig_do('credit_or_fail', '{"amount": 3, "fail": true}', 'req-5');
\echo :SQLSTATE
SELECT count(*) AS logged FROM rig.log WHERE idempotency_key = 'req-5';
SELECT rig_do('credit_or_fail', '{"amount": 3}', 'req-5') > 0 AS applied;
SELECT count(*) AS logged FROM rig.log WHERE idempotency_key = 'req-5';
-- a key whose first op was in a rolled-back savepoint applies anew, in the same transaction
BEGIN;
SAVEPOINT s;
SELECT rig_do('credit', '{"amount": 2}', 'req-6') AS in_savepoint \gset
ROLLBACK TO SAVEPOINT s;
SELECT rig_do('credit', '{"amount": 2}', 'req-6') AS after_savepoint \gset
SELECT :after_savepoint > :in_savepoint AS new_version;
COMMIT;
SELECT count(*) AS logged FROM rig.log WHERE idempotency_key = 'req-6';

-- keys are exact: case, spaces and unicode matter
SELECT rig_do('credit', '{"amount": 1}', 'Req-1') <> :first AS other_key;
SELECT rig_do('credit', '{"amount": 1}', 'req-1 ') <> :first AS other_key;
SELECT rig_do('credit', '{"amount": 1}', 'clé-1') > 0 AS unicode_key;

-- the key lock shows in pg_locks (objsubid 29290) until the transaction ends
BEGIN;
SELECT rig_do('credit', '{"amount": 1}', 'req-7') > 0 AS ran;
SELECT count(*) AS key_locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid = 29290 AND pid = pg_backend_pid() AND granted;
COMMIT;
SELECT count(*) AS key_locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid = 29290 AND pid = pg_backend_pid();

-- key length: 1 to 512 bytes
SELECT * FROM i.counts() \gset before_
SELECT rig_do('credit', '{"amount": 1}', '');
\echo :SQLSTATE
SELECT rig_do('credit', '{"amount": 1}', repeat('k', 513));
\echo :SQLSTATE
-- bytes, not characters: 257 two-byte characters are 514 bytes
SELECT rig_do('credit', '{"amount": 1}', repeat('é', 257));
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, credits - :before_credits AS new_credits
  FROM i.counts();
SELECT rig_do('credit', '{"amount": 1}', repeat('k', 512)) > 0 AS longest_key_ok;
SELECT rig_do('credit', '{"amount": 1}', 'k') > 0 AS shortest_key_ok;
SELECT rig_do('credit', '{"amount": 1}', repeat('é', 256)) > 0 AS multibyte_512_bytes_ok;
SELECT rig_do('credit', '{"amount": 1}', repeat('k', 512)) =
       (SELECT version FROM rig.log WHERE idempotency_key = repeat('k', 512)) AS deduped;

-- the keys table is append-only like the log
DELETE FROM rig.idempotency_keys;
\echo :SQLSTATE
TRUNCATE rig.idempotency_keys;
\echo :SQLSTATE

-- clean up
SELECT rig_unregister('credit');
SELECT rig_unregister('credit_or_fail');
DROP SCHEMA i CASCADE;
