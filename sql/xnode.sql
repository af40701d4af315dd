--
-- xnode: transactions across nodes on one node (DESIGN section 8).  Bad
-- branches are refused with clear errors and nothing is started; the
-- reserved rig.* methods are rig's own; a transaction whose branches are
-- all on this node runs to the end.  Multi-node cases: TAP 036_xnode.pl.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

\i examples/transfer.sql
SELECT rig_do('xfer.open', '{"account": 1, "balance": 100}') > 0 AS opened;
SELECT rig_do('xfer.open', '{"account": 2, "balance": 100}') > 0 AS opened;
CREATE FUNCTION pg_temp.counts(OUT log_rows bigint, OUT transactions bigint)
	LANGUAGE sql AS $$ SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM rig.transactions) $$;
SELECT * FROM pg_temp.counts() \gset before_

-- branches: not an array, empty, not objects, missing or bad fields
SELECT rig_transaction_start(NULL);
\echo :SQLSTATE
SELECT rig_transaction_start('{"node": "regress"}');
\echo :SQLSTATE
SELECT rig_transaction_start('[]');
\echo :SQLSTATE
SELECT rig_transaction_start('[1]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post"}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": 7, "abort": "xfer.release"}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release", "data": [1]}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release", "dta": {}}]');
\echo :SQLSTATE
-- unknown node, unknown method, a reserved method
SELECT rig_transaction_start('[{"node": "mars", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.pots", "abort": "xfer.release"}]');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "rig.transaction.claim", "abort": "xfer.release"}]');
\echo :SQLSTATE
-- the second branch is checked too
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"},
                               {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "nope"}]');
\echo :SQLSTATE
-- timeout and key
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]', '0s');
\echo :SQLSTATE
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]', NULL, '');
\echo :SQLSTATE
-- a timeout beyond 64-bit microseconds is out of range, not "negative"
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release"}]', '100000000 years');
\echo :SQLSTATE
-- nothing was started or logged
SELECT log_rows - :before_log_rows AS new_log_rows, transactions - :before_transactions AS new_transactions
  FROM pg_temp.counts();

-- rig.* methods are rig's own
SELECT rig_do('rig.transaction.event', '{"transaction": 1, "event": "committed", "state": "committed"}');
\echo :SQLSTATE
SELECT rig_do('rig.transaction.start', '{}');
\echo :SQLSTATE
SELECT rig_register('rig.mine', 'xfer.open_apply(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_unregister('rig.transaction.claim');
\echo :SQLSTATE

-- unknown transactions
SELECT rig_transaction_wait(424242, '1ms');
\echo :SQLSTATE
SELECT rig_transaction_wait(424242, '-1s');
\echo :SQLSTATE
SELECT rig_transaction_abort(424242);
\echo :SQLSTATE

-- nodes
SELECT rig_add_node('regress', 'dbname=contrib_regression');
\echo :SQLSTATE
SELECT rig_add_node('bad name!', 'dbname=x');
\echo :SQLSTATE
SELECT rig_drop_node('mars');
\echo :SQLSTATE

-- a transfer between two accounts of this node: both branches run here
SELECT rig_transaction_start('[
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 1, "amount": -30}},
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 2, "amount": 30}}]', '1min', 'regress-1') AS id \gset
SELECT rig_transaction_wait(:id, '60s');
SELECT rig_transaction_start('[
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 1, "amount": -30}},
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 2, "amount": 30}}]', '1min', 'regress-1') = :id AS same_key_same_id;
-- the same key with other branches is refused
SELECT rig_transaction_start('[
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 1, "amount": -31}}]', '1min', 'regress-1');
\echo :SQLSTATE
SELECT id, balance FROM xfer.accounts ORDER BY id;
SELECT state, reason, branch_count, idempotency_key, finished IS NOT NULL AS finished
  FROM rig.transactions WHERE id = :id;
SELECT event, branch FROM rig.transaction_events WHERE id = :id ORDER BY seq;
SELECT rig_transaction_abort(:id);
\echo :SQLSTATE

-- insufficient funds: the payer votes no
SELECT rig_transaction_start('[
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 2, "amount": 30}},
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
   "data": {"account": 1, "amount": -1000}}]') AS id \gset
SELECT rig_transaction_wait(:id, '60s');
SELECT state, reason, reason_branch, reason_detail FROM rig.transactions WHERE id = :id;
SELECT event, branch FROM rig.transaction_events WHERE id = :id ORDER BY seq;
SELECT id, balance FROM xfer.accounts ORDER BY id;
SELECT count(*) AS holds_left FROM xfer.holds;

-- a commit that raises: failed; an operator settles it (rig_transaction_resolve)
CREATE FUNCTION xfer.closed_apply(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$ BEGIN RAISE EXCEPTION 'the ledger is closed'; END $$;
SELECT rig_register('xfer.closed', 'xfer.closed_apply(bigint,jsonb)');
SELECT rig_transaction_start('[
  {"node": "regress", "prepare": "xfer.hold", "commit": "xfer.closed", "abort": "xfer.release",
   "data": {"account": 1, "amount": -5}}]') AS failed_id \gset
SELECT rig_transaction_wait(:failed_id, '60s');
-- bad input, a transaction that is not failed, an unknown one
SELECT rig_transaction_resolve(NULL, 'committed', 'x');
\echo :SQLSTATE
SELECT rig_transaction_resolve(:failed_id, 'done', 'x');
\echo :SQLSTATE
SELECT rig_transaction_resolve(:failed_id, 'aborted', '');
\echo :SQLSTATE
SELECT rig_transaction_resolve(:failed_id, 'aborted', NULL);
\echo :SQLSTATE
SELECT rig_transaction_resolve(:id, 'committed', 'x');
\echo :SQLSTATE
SELECT rig_transaction_resolve(424242, 'committed', 'x');
\echo :SQLSTATE
SELECT state FROM rig.transactions WHERE id = :failed_id;
-- the operator releases the hold by hand, then settles it as aborted
SELECT rig_do('xfer.release', jsonb_build_object('transaction', :failed_id, 'branch', 0, 'account', 1)) > 0 AS released;
SELECT count(*) AS holds_left FROM xfer.holds;
SELECT rig_transaction_resolve(:failed_id, 'aborted', 'hold released by hand');
SELECT state, reason, reason_branch, finished IS NOT NULL AS finished FROM rig.transactions WHERE id = :failed_id;
SELECT event, branch, detail FROM rig.transaction_events WHERE id = :failed_id ORDER BY seq;
SELECT rig_transaction_wait(:failed_id, '1s');
-- once settled it cannot be settled again
SELECT rig_transaction_resolve(:failed_id, 'committed', 'again');
\echo :SQLSTATE

-- privileges: writers start and abort, readers wait and look
CREATE ROLE regress_xn_writer IN ROLE rig_writer;
CREATE ROLE regress_xn_nobody;
SET ROLE regress_xn_nobody;
SELECT rig_transaction_start('[]');
\echo :SQLSTATE
SELECT rig_transaction_wait(1);
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_xn_writer;
SELECT rig_transaction_wait(:id, '1s');
SELECT count(*) > 0 AS sees_transactions FROM rig.transactions;
SELECT rig_add_node('x', 'host=localhost password=p');
\echo :SQLSTATE
SELECT conninfo FROM rig.remote_nodes;
\echo :SQLSTATE
-- settling and pruning are for administrators
SELECT rig_transaction_resolve(1, 'committed', 'x');
\echo :SQLSTATE
SELECT rig_transaction_prune('1 day');
\echo :SQLSTATE
RESET ROLE;
-- granted rig_add_node, a non-superuser must give a password
GRANT EXECUTE ON FUNCTION rig_add_node(text, text) TO regress_xn_writer;
SET ROLE regress_xn_writer;
SELECT rig_add_node('x', 'host=/nonexistent dbname=x');
\echo :SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rig_add_node(text, text) FROM regress_xn_writer;
DROP ROLE regress_xn_writer;
DROP ROLE regress_xn_nobody;

-- pruning: final transactions older than the interval, through the log
SELECT rig_transaction_prune(NULL);
\echo :SQLSTATE
SELECT rig_transaction_prune('-1s');
\echo :SQLSTATE
SELECT rig_transaction_prune('1 day') AS pruned_none;
-- an interval beyond 64-bit microseconds is out of range (it is not "negative");
-- a cut-off before the first timestamp prunes nothing
SELECT rig_transaction_prune('100000000 years');
\echo :SQLSTATE
SELECT rig_transaction_prune('200000 years') AS pruned_before_time;
SELECT count(*) AS log_before FROM rig.log WHERE method = 'rig.transaction.prune';
SELECT count(*) AS final_transactions FROM rig.transactions WHERE state IN ('committed', 'aborted');
SELECT rig_transaction_prune('0s') AS pruned;
SELECT count(*) AS transactions_left, (SELECT count(*) FROM rig.transaction_events) AS events_left
  FROM rig.transactions;
SELECT count(*) AS log_after FROM rig.log WHERE method = 'rig.transaction.prune';
SELECT rig_do('rig.transaction.prune', '{"before": "infinity"}');
\echo :SQLSTATE
SELECT rig_do('rig.node.add', '{"name": "x", "conninfo": "dbname=x"}');
\echo :SQLSTATE

-- a wait in the transaction that started it would never end: refused
BEGIN;
SELECT rig_transaction_start('[{"node": "regress", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
                                "data": {"account": 1, "amount": 1}}]') AS own_id \gset
SELECT rig_transaction_wait(:own_id, '10s');
\echo :SQLSTATE
ROLLBACK;
SELECT count(*) AS own_rolled_back FROM rig.transactions WHERE id = :own_id;

-- clean up
SELECT rig_unregister(method) FROM rig.handlers WHERE method LIKE 'xfer.%' ORDER BY method;
DROP SCHEMA xfer CASCADE;
