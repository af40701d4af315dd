-- examples/transfer.sql: a bank transfer between accounts that live on
-- different rig primaries (shards), as one transaction across nodes.
--
-- Load it after CREATE EXTENSION rig on every shard primary (and on each
-- one's replicas: they must have the same handlers):
--
--     psql -d mydb -f examples/transfer.sql
--
-- Each shard holds some accounts.  A transfer of 30 from account 1 (on
-- shard "east") to account 7 (on shard "west"), coordinated by east:
--
--     SELECT rig_add_node('west', 'host=west dbname=mydb user=rig_coord password=...');
--     SELECT rig_transaction_start('[
--       {"node": "east", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
--        "data": {"account": 1, "amount": -30}},
--       {"node": "west", "prepare": "xfer.hold", "commit": "xfer.post", "abort": "xfer.release",
--        "data": {"account": 7, "amount": 30}}]');
--     SELECT rig_transaction_wait(<id>);
--
-- prepare (xfer.hold) reserves the amount: a debit that would take the
-- account below zero, counting the debits already held, raises
-- "insufficient funds": the branch votes no and the transaction aborts.
-- commit (xfer.post) moves the held amount into the balance; abort
-- (xfer.release) drops the hold.  Each branch op gets {"transaction": id,
-- "branch": n} in its data, so holds are keyed by (transaction, branch).
-- The balance of an account never changes but by a post, so the total of
-- balances across shards is constant, and no hold is left once every
-- transaction is final.

CREATE SCHEMA xfer;

CREATE TABLE xfer.accounts (
	id				int PRIMARY KEY,
	balance			bigint NOT NULL CHECK (balance >= 0)
);

-- Amounts held by prepared, undecided branches (negative: a debit)
CREATE TABLE xfer.holds (
	transaction		bigint NOT NULL,
	branch			int NOT NULL,
	account			int NOT NULL REFERENCES xfer.accounts,
	amount			bigint NOT NULL,
	PRIMARY KEY (transaction, branch)
);

-- What became of each hold: posted or released, and by which op
CREATE TABLE xfer.history (
	transaction		bigint NOT NULL,
	branch			int NOT NULL,
	account			int NOT NULL,
	amount			bigint NOT NULL,
	outcome			text NOT NULL CHECK (outcome IN ('posted', 'released')),
	version			bigint NOT NULL,
	PRIMARY KEY (transaction, branch)
);

-- Every op on an account takes its lock: holds and posts are ordered
CREATE FUNCTION xfer.account_resources(d jsonb) RETURNS text[]
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
	AS $$ SELECT ARRAY['xfer.account:' || (d->>'account')] $$;

CREATE FUNCTION xfer.open_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE sql SET search_path = pg_catalog, pg_temp
	AS $$ INSERT INTO xfer.accounts VALUES ((d->>'account')::int, (d->>'balance')::bigint) $$;

-- prepare: hold the amount, or vote no
CREATE FUNCTION xfer.hold_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	acct		int := (d->>'account')::int;
	amount		bigint := (d->>'amount')::bigint;
	available	bigint;
BEGIN
	SELECT a.balance + coalesce((SELECT sum(h.amount) FROM xfer.holds h
								 WHERE h.account = a.id AND h.amount < 0), 0)
	  INTO available FROM xfer.accounts a WHERE a.id = acct;
	IF available IS NULL THEN
		RAISE EXCEPTION 'account % does not exist', acct USING ERRCODE = 'P0002';
	END IF;
	IF amount < 0 AND available + amount < 0 THEN
		RAISE EXCEPTION 'insufficient funds in account %', acct
			USING ERRCODE = 'P0001',
				  DETAIL = format('%s available, %s asked', available, -amount);
	END IF;
	INSERT INTO xfer.holds
		VALUES ((d->>'transaction')::bigint, (d->>'branch')::int, acct, amount);
END $$;

-- commit: the held amount goes into the balance
CREATE FUNCTION xfer.post_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h	xfer.holds;
BEGIN
	DELETE FROM xfer.holds
	 WHERE transaction = (d->>'transaction')::bigint AND branch = (d->>'branch')::int
	RETURNING * INTO h;
	IF h IS NULL THEN
		RAISE EXCEPTION 'no hold for transaction % branch %', d->>'transaction', d->>'branch';
	END IF;
	UPDATE xfer.accounts SET balance = balance + h.amount WHERE id = h.account;
	INSERT INTO xfer.history VALUES (h.transaction, h.branch, h.account, h.amount, 'posted', v);
END $$;

-- abort: drop the hold
CREATE FUNCTION xfer.release_apply(v bigint, d jsonb) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h	xfer.holds;
BEGIN
	DELETE FROM xfer.holds
	 WHERE transaction = (d->>'transaction')::bigint AND branch = (d->>'branch')::int
	RETURNING * INTO h;
	IF h IS NOT NULL THEN
		INSERT INTO xfer.history VALUES (h.transaction, h.branch, h.account, h.amount, 'released', v);
	END IF;
END $$;

SELECT rig_register('xfer.open', 'xfer.open_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
SELECT rig_register('xfer.hold', 'xfer.hold_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
SELECT rig_register('xfer.post', 'xfer.post_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
SELECT rig_register('xfer.release', 'xfer.release_apply(bigint,jsonb)', NULL, 'xfer.account_resources(jsonb)');
