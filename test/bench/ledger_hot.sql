-- One ledger transfer between the two hot accounts 1 and 2 (test/bench/ledger.sh).
\set id random(1, 4000000000000000000)
\set d random(1, 2)
SELECT ledger.transfer(jsonb_build_object('id', :id::bigint, 'debit_account', :d::int,
	'credit_account', 3 - :d::int, 'amount', 1, 'ledger', 1));
