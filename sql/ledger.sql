--
-- ledger: the ledger example (examples/ledger.sql), single node: accounts,
-- transfers, pending transfers posted / voided / expired once, balance
-- limits, idempotent transfer ids, statements and the invariants.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never
\set ECHO none
\i examples/ledger.sql
\set ECHO all
SELECT relation FROM rig.tables ORDER BY 1;
SELECT count(*) AS log_rows FROM rig.log \gset

--
-- accounts
--
SELECT ledger.account_open('{"id": 1, "ledger": 1, "code": 10}');
SELECT ledger.account_open('{"id": 2, "ledger": 1, "code": 20, "flags": ["debits_must_not_exceed_credits"]}');
SELECT ledger.account_open('{"id": 3, "ledger": 1, "code": 20, "flags": ["debits_must_not_exceed_credits"]}');
SELECT ledger.account_open('{"id": 4, "ledger": 1, "code": 30, "flags": ["credits_must_not_exceed_debits"]}');
SELECT ledger.account_open('{"id": 9, "ledger": 2, "code": 10}');
-- the same account again: the first result, no new op
SELECT ledger.account_open('{"id": 2, "ledger": 1, "code": 20, "flags": ["debits_must_not_exceed_credits"]}');
-- the same id with other fields, bad flags, bad ids
\set VERBOSITY terse
SELECT ledger.account_open('{"id": 2, "ledger": 1, "code": 21}');
\echo :SQLSTATE
\set VERBOSITY default
SELECT ledger.account_open('{"id": 5, "ledger": 1, "code": 20, "flags": ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]}');
\echo :SQLSTATE
SELECT ledger.account_open('{"id": 5, "ledger": 1, "code": 20, "flags": ["overdraft"]}');
\echo :SQLSTATE
SELECT ledger.account_open('{"id": 0, "ledger": 1, "code": 20}');
\echo :SQLSTATE
SELECT id, ledger, code, flags FROM ledger.accounts ORDER BY id;

--
-- transfers: the result holds both accounts' balances after it
--
SELECT ledger.transfer('{"id": 100, "debit_account": 1, "credit_account": 2, "amount": 1000, "ledger": 1}') - 'version';
SELECT ledger.transfer('{"id": 101, "debit_account": 2, "credit_account": 3, "amount": 300, "ledger": 1}') - 'version';
-- an overdraft is refused, with the balances it was checked against
SELECT ledger.transfer('{"id": 102, "debit_account": 2, "credit_account": 3, "amount": 800, "ledger": 1}');
\echo :SQLSTATE
-- credits_must_not_exceed_debits
SELECT ledger.transfer('{"id": 103, "debit_account": 1, "credit_account": 4, "amount": 1, "ledger": 1}');
\echo :SQLSTATE
-- the same id again: the first result, applied once
SELECT ledger.transfer('{"id": 101, "debit_account": 2, "credit_account": 3, "amount": 300, "ledger": 1}') - 'version';
-- the same id with other fields
\set VERBOSITY terse
SELECT ledger.transfer('{"id": 101, "debit_account": 2, "credit_account": 3, "amount": 301, "ledger": 1}');
\echo :SQLSTATE
\set VERBOSITY default
-- other ledgers, missing accounts, bad input
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 9, "amount": 5, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 77, "amount": 5, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 1, "amount": 5, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 2, "amount": -5, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 2, "amount": 5, "ledger": 1, "timeout": 5}');
\echo :SQLSTATE
-- a ledger or code past int, a balance past bigint: refused as such
SELECT ledger.account_open('{"id": 5, "ledger": 2147483648, "code": 20}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 2, "amount": 5, "ledger": 4294967297}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 1, "credit_account": 2, "amount": 9223372036854775000, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 104, "debit_account": 4, "credit_account": 2, "amount": 9223372036854775807, "ledger": 1}');
\echo :SQLSTATE

--
-- pending transfers: reserved, then posted (in part), voided or expired, once
--
SELECT ledger.transfer('{"id": 110, "debit_account": 2, "credit_account": 3, "amount": 500, "ledger": 1, "pending": true}') - 'version';
-- limits count pending amounts: 300 posted + 500 pending + 300 > 1000
SELECT ledger.transfer('{"id": 111, "debit_account": 2, "credit_account": 3, "amount": 300, "ledger": 1}');
\echo :SQLSTATE
SELECT ledger.transfer_post('{"id": 112, "pending_id": 110, "amount": 600}');
\echo :SQLSTATE
SELECT ledger.transfer_post('{"id": 112, "pending_id": 110, "amount": 200}') - 'version';
SELECT ledger.transfer_post('{"id": 112, "pending_id": 110, "amount": 200}') - 'version';	-- a retry
SELECT ledger.transfer_post('{"id": 113, "pending_id": 110}');
\echo :SQLSTATE
SELECT ledger.transfer_void('{"id": 113, "pending_id": 110}');
\echo :SQLSTATE
SELECT ledger.transfer_void('{"id": 113, "pending_id": 101}');
\echo :SQLSTATE
SELECT ledger.transfer('{"id": 120, "debit_account": 3, "credit_account": 2, "amount": 100, "ledger": 1, "pending": true}') - 'version';
-- a post or void needs an id of its own, positive (a negative one would
-- take the id of another pending transfer's expiry, -pending_id)
SELECT ledger.transfer_post('{"pending_id": 120}');
\echo :SQLSTATE
SELECT ledger.transfer_void('{"id": -130, "pending_id": 120}');
\echo :SQLSTATE
SELECT rig_do('transfer_void', '{"id": 0, "pending_id": 120, "debit_account": 3, "credit_account": 2}');
\echo :SQLSTATE
SELECT ledger.transfer_void('{"id": 121, "pending_id": 120}') - 'version';
SELECT ledger.transfer_post('{"id": 122, "pending_id": 120}');
\echo :SQLSTATE
-- a timeout, decided by rig_op_time()
SELECT ledger.transfer('{"id": 130, "debit_account": 3, "credit_account": 2, "amount": 50, "ledger": 1, "pending": true, "timeout": 1}') ->> 'kind' AS kind;
CALL ledger.expire_due();
SELECT pg_sleep(1.2);
SELECT ledger.transfer_post('{"id": 131, "pending_id": 130}');
\echo :SQLSTATE
CALL ledger.expire_due();
CALL ledger.expire_due();
SELECT id, kind, amount, pending_id FROM ledger.transfers WHERE id < 0;

--
-- balances, statements, invariants
--
SELECT id, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger.accounts ORDER BY id;
SELECT transfer_id, kind, counterparty, debit, credit, balance_posted, balance_pending
  FROM ledger.statement(2, '-infinity', 'infinity');
SELECT transfer_id, kind, debit, credit, balance_posted
  FROM ledger.statement(3, (SELECT created_at FROM ledger.transfers WHERE id = 110), 'infinity');
SELECT * FROM ledger.check();
SELECT count(*) - :log_rows AS ops_logged, (SELECT count(*) FROM ledger.transfers) AS transfers FROM rig.log;

-- the state is the handlers' alone
UPDATE ledger.accounts SET credits_posted = credits_posted + 1000000 WHERE id = 2;
\echo :SQLSTATE
SELECT ledger.record(0, 999, 'posted', a, a, 0, NULL, NULL) FROM ledger.accounts a WHERE id = 1;
\echo :SQLSTATE

-- what foreign keys would refuse (the example has none), ledger.check() reports
BEGIN;
SET LOCAL rig.maintenance = on;
INSERT INTO ledger.transfers VALUES (990, -1, 'posted', 1, 4242, 0, 1, NULL, NULL, now(), '(0,0,0,0)', '(0,0,0,0)');
INSERT INTO ledger.transfers VALUES (991, -2, 'void', 1, 2, 1, 1, 4343, NULL, now(), '(0,0,0,0)', '(0,0,0,0)');
INSERT INTO ledger.transfers VALUES (992, -3, 'posted', 1, 2, 0, 1, 100, NULL, now(), '(0,0,0,0)', '(0,0,0,0)');
SELECT * FROM ledger.check() ORDER BY problem;
ROLLBACK;
-- and the domains refuse a negative balance, even in maintenance
BEGIN;
SET LOCAL rig.maintenance = on;
UPDATE ledger.accounts SET debits_pending = -1 WHERE id = 1;
ROLLBACK;

-- clean up
SELECT rig_unregister_table('ledger.accounts');
SELECT rig_unregister_table('ledger.transfers');
SELECT rig_unregister(m) FROM unnest(ARRAY['account_open', 'transfer', 'transfer_post',
	'transfer_void', 'transfer_expire']) m;
SET client_min_messages = warning;
DROP SCHEMA ledger CASCADE;
RESET client_min_messages;
