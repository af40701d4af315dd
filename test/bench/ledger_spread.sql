-- One ledger transfer between two of 10,000 accounts (test/bench/ledger.sh).
\set id random(1, 4000000000000000000)
\set a random(1, 10000)
\set b random(1, 9999)
SELECT ledger.transfer(jsonb_build_object('id', :id::bigint, 'debit_account', :a::int,
	'credit_account', CASE WHEN :b::int >= :a::int THEN :b::int + 1 ELSE :b::int END, 'amount', 1, 'ledger', 1));
