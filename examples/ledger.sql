-- examples/ledger.sql: a double-entry ledger on rig, with TigerBeetle's
-- semantics (accounts, transfers, two-phase pending transfers, balance
-- limits, idempotent transfer ids).  The log is the source of truth: the
-- tables below are state tables, changed only by the handlers.
--
-- Load it after CREATE EXTENSION rig, on the primary and on every replica
-- (replicas need the same handlers and the same registered tables):
--
--     psql -d mydb -f examples/ledger.sql
--
-- Clients (rig_writer roles) use the wrappers, which call rig_do with the
-- transfer id as idempotency key and return the stored result:
--
--     SELECT ledger.account_open('{"id": 1, "ledger": 1, "code": 10,
--                                  "flags": ["debits_must_not_exceed_credits"]}');
--     SELECT ledger.transfer('{"id": 100, "debit_account": 2, "credit_account": 1,
--                              "amount": 500, "ledger": 1}');
--     SELECT ledger.transfer('{"id": 101, "debit_account": 1, "credit_account": 2,
--                              "amount": 70, "ledger": 1, "pending": true, "timeout": 60}');
--     SELECT ledger.transfer_post('{"id": 102, "pending_id": 101, "amount": 50}');
--     SELECT ledger.transfer_void('{"id": 103, "pending_id": 104}');
--     SELECT * FROM ledger.statement(1, '-infinity', 'infinity');
--     CALL ledger.expire_due();       -- now and then: expire pending transfers past their timeout
--
-- Semantics:
--   - amounts are positive integers (minor units); an account's balances are
--     debits_pending, debits_posted, credits_pending, credits_posted;
--   - a transfer moves `amount` from debit_account to credit_account (same
--     ledger); "pending": true only reserves it (*_pending) until it is
--     posted (in full or in part), voided or expired, each at most once;
--   - "timeout" (seconds, pending only, 0 = never) is counted from the op's
--     rig_op_time(), so every node decides an expiry alike; an expired
--     pending transfer can no longer be posted or voided, and
--     ledger.expire_due() (or transfer_expire) releases its reservation
--     (expire_due() skips one posted or voided while it ran, and commits
--     each expiry on its own);
--   - flags: debits_must_not_exceed_credits (debits pending + posted, after
--     the transfer, <= credits posted) and credits_must_not_exceed_debits;
--     a transfer that would break a limit is refused (23514), never applied;
--     one that would take an account's debits or credits (pending +
--     posted) past the bigint range is refused too (22003);
--   - a transfer id is its idempotency key: the same id again returns the
--     first result, the same id with other fields is refused (22023); an op
--     without the wrappers' key gets 23505 "transfer N exists" for a taken
--     id (each op locks its id, so also when it races the first);
--   - ledger.transfers is immutable: a post, void or expiry is a new row
--     naming its pending transfer; a post or void has a positive id of its
--     own, like any transfer, an expiry's id is -pending_id;
--   - for each ledger, total debits = total credits (posted and pending),
--     on every node, always (ledger.check()).

CREATE SCHEMA ledger;

-- How the schema is kept lean (rig_rebuild() replays every op through the
-- handlers, so each statement they run counts; BENCHMARKS.md, run N):
--   - the value rules are domains, not CHECK constraints: PostgreSQL 15
--     parses a table's CHECK constraints again for every statement that
--     writes it, while a domain's are cached, and an UPDATE checks only
--     the columns it sets;
--   - no foreign keys: only the handlers write these tables (they are
--     registered with rig), and they look up both accounts and the
--     pending transfer before they write; a foreign key would look them
--     up again with one more query each.  ledger.check() checks both
--     rules a constraint would have (every transfer names existing
--     accounts and, for a post, void or expiry, a pending transfer);
--   - the handlers call their helpers in expressions, never with PERFORM,
--     which runs a query (an executor start) for each call;
--   - a transfer stores both accounts' balances after it as numbers;
--     ledger.result() builds the jsonb result from them when it is read.
CREATE DOMAIN ledger.amount AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN ledger.positive_int AS int CHECK (VALUE > 0);
CREATE DOMAIN ledger.account_id AS bigint CHECK (VALUE > 0);
CREATE DOMAIN ledger.kind AS text CHECK (VALUE IN ('posted', 'pending', 'post', 'void', 'expire'));
-- an account's balances after a transfer
CREATE TYPE ledger.balance AS (debits_pending bigint, debits_posted bigint,
							   credits_pending bigint, credits_posted bigint);

CREATE TABLE ledger.accounts (
	id				ledger.account_id PRIMARY KEY,
	ledger			ledger.positive_int NOT NULL,
	code			ledger.positive_int NOT NULL,
	flags			text[] NOT NULL DEFAULT '{}',
	debits_pending	ledger.amount NOT NULL DEFAULT 0,
	debits_posted	ledger.amount NOT NULL DEFAULT 0,
	credits_pending	ledger.amount NOT NULL DEFAULT 0,
	credits_posted	ledger.amount NOT NULL DEFAULT 0,
	version			bigint NOT NULL,		-- the account_open op
	opened_at		timestamptz NOT NULL
);

CREATE TABLE ledger.transfers (
	id				bigint PRIMARY KEY,		-- > 0 from clients; -pending_id for an expiry
	version			bigint NOT NULL UNIQUE,
	kind			ledger.kind NOT NULL,
	debit_account	bigint NOT NULL,
	credit_account	bigint NOT NULL,
	amount			ledger.amount NOT NULL,
	ledger			int NOT NULL,
	pending_id		bigint,					-- post, void, expire: the pending transfer
	expires_at		timestamptz,			-- pending with a timeout
	created_at		timestamptz NOT NULL,	-- rig_op_time()
	debit_balance	ledger.balance NOT NULL,	-- both accounts after it
	credit_balance	ledger.balance NOT NULL		-- (the result: ledger.result())
);
-- a pending transfer resolves at most once
CREATE UNIQUE INDEX transfers_resolved_once ON ledger.transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX transfers_debit ON ledger.transfers (debit_account, version);
CREATE INDEX transfers_credit ON ledger.transfers (credit_account, version);
CREATE INDEX transfers_expiring ON ledger.transfers (expires_at) WHERE kind = 'pending';

-- immutable, even for the handlers
CREATE FUNCTION ledger.transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ledger.transfers is immutable' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER immutable BEFORE UPDATE OR DELETE ON ledger.transfers
	FOR EACH ROW EXECUTE FUNCTION ledger.transfers_immutable();

-- An account's balances, as results show them (STABLE as jsonb_build_object
-- is: so it is inlined where it is called, not planned again at each call).
CREATE FUNCTION ledger.balances(a ledger.accounts) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', a.id, 'debits_pending', a.debits_pending,
							  'debits_posted', a.debits_posted, 'credits_pending', a.credits_pending,
							  'credits_posted', a.credits_posted)
$$;

-- What a client gets back for a transfer: the transfer and both accounts'
-- balances after it.  Built when it is read, not stored as jsonb: each
-- apply (and each op of a replay) stores numbers instead of building it.
CREATE FUNCTION ledger.result(t ledger.transfers) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'version', t.version, 'kind', t.kind, 'amount', t.amount,
							  'debit_account', jsonb_build_object('id', t.debit_account) || to_jsonb(t.debit_balance),
							  'credit_account', jsonb_build_object('id', t.credit_account) || to_jsonb(t.credit_balance))
$$;

-- Raise unless data->key is a positive integer (up to max: a bigint, or an
-- int for the int columns ledger and code); return it.
CREATE FUNCTION ledger.positive(data jsonb, key text, max bigint DEFAULT 9223372036854775807)
	RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF jsonb_typeof(data->key) IS DISTINCT FROM 'number' OR (data->>key) !~ '^[0-9]+$'
	   OR (data->>key)::numeric NOT BETWEEN 1 AND max THEN
		IF max < 9223372036854775807 THEN
			RAISE EXCEPTION '"%" must be a positive integer up to %, got %', key, max, coalesce(data->>key, 'nothing')
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RAISE EXCEPTION '"%" must be a positive integer, got %', key, coalesce(data->>key, 'nothing')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN (data->>key)::bigint;
END $$;

-- One account of a transfer (not FOR UPDATE: rig's resource locks order
-- the ops on an account, and a row lock would cost a WAL record).
CREATE FUNCTION ledger.account(id bigint) RETURNS ledger.accounts LANGUAGE plpgsql AS $$
DECLARE
	a ledger.accounts;
BEGIN
	SELECT * INTO a FROM ledger.accounts WHERE accounts.id = account.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account % does not exist', id USING ERRCODE = 'no_data_found';
	END IF;
	RETURN a;
END $$;

-- account_open ---------------------------------------------------------

CREATE FUNCTION ledger.account_open_validate(data jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	f text;
BEGIN
	PERFORM ledger.positive(data, 'id'), ledger.positive(data, 'ledger', 2147483647),
			ledger.positive(data, 'code', 2147483647);
	IF data ? 'flags' AND jsonb_typeof(data->'flags') <> 'array' THEN
		RAISE EXCEPTION '"flags" must be an array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR f IN SELECT jsonb_array_elements_text(coalesce(data->'flags', '[]')) LOOP
		IF f NOT IN ('debits_must_not_exceed_credits', 'credits_must_not_exceed_debits') THEN
			RAISE EXCEPTION 'unknown account flag "%"', f USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF data->'flags' @> '["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]' THEN
		RAISE EXCEPTION 'an account cannot limit both its debits and its credits'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END $$;

CREATE FUNCTION ledger.account_open_resources(data jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN ARRAY['account:' || (data->>'id')];
END $$;

CREATE FUNCTION ledger.account_open_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.id = (data->>'id')::bigint) THEN
		RAISE EXCEPTION 'account % exists', data->>'id' USING ERRCODE = 'unique_violation';
	END IF;
	INSERT INTO ledger.accounts (id, ledger, code, flags, version, opened_at)
	VALUES ((data->>'id')::bigint, (data->>'ledger')::int, (data->>'code')::int,
			ARRAY(SELECT DISTINCT jsonb_array_elements_text(coalesce(data->'flags', '[]')) ORDER BY 1),
			version, rig_op_time());
END $$;

-- transfer ---------------------------------------------------------------
-- (rig calls its handlers directly, not from a query: a SQL-language one
-- would be parsed and planned again in every transaction, while PL/pgSQL
-- keeps its plans for the session)

CREATE FUNCTION ledger.transfer_validate(data jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM ledger.positive(data, 'id'), ledger.positive(data, 'debit_account'),
			ledger.positive(data, 'credit_account'), ledger.positive(data, 'amount'),
			ledger.positive(data, 'ledger', 2147483647);
	IF data->'debit_account' = data->'credit_account' THEN
		RAISE EXCEPTION 'a transfer needs two different accounts' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF data ? 'pending' AND jsonb_typeof(data->'pending') <> 'boolean' THEN
		RAISE EXCEPTION '"pending" must be true or false' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF data ? 'timeout' THEN
		IF NOT coalesce((data->>'pending')::boolean, false) THEN
			RAISE EXCEPTION 'only a pending transfer has a timeout' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF jsonb_typeof(data->'timeout') <> 'number' OR (data->>'timeout') !~ '^[0-9]{1,9}$' THEN
			RAISE EXCEPTION '"timeout" must be a number of seconds' USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;
END $$;

-- Its accounts, and its id: two ops with the same id (a rig_do without the
-- wrapper's key, a post reusing a transfer's id) that name other accounts
-- would otherwise both pass the "transfer exists" check, and the second
-- fail on the primary key with a bare unique violation.
CREATE FUNCTION ledger.transfer_resources(data jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN ARRAY['account:' || (data->>'debit_account'), 'account:' || (data->>'credit_account'),
				 'transfer:' || (data->>'id')];
END $$;

-- Record a transfer with the accounts' balances after it; returns its id.
CREATE FUNCTION ledger.record(version bigint, id bigint, kind text, dr ledger.accounts, cr ledger.accounts,
							  amount bigint, pending_id bigint, expires_at timestamptz)
	RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	UPDATE ledger.accounts a SET debits_pending = dr.debits_pending, debits_posted = dr.debits_posted,
		   credits_pending = dr.credits_pending, credits_posted = dr.credits_posted WHERE a.id = dr.id;
	UPDATE ledger.accounts a SET debits_pending = cr.debits_pending, debits_posted = cr.debits_posted,
		   credits_pending = cr.credits_pending, credits_posted = cr.credits_posted WHERE a.id = cr.id;
	INSERT INTO ledger.transfers
	VALUES (id, version, kind, dr.id, cr.id, amount, dr.ledger, pending_id, expires_at, rig_op_time(),
			ROW(dr.debits_pending, dr.debits_posted, dr.credits_pending, dr.credits_posted),
			ROW(cr.debits_pending, cr.debits_posted, cr.credits_pending, cr.credits_posted));
	RETURN id;
END $$;

CREATE FUNCTION ledger.transfer_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	tid		bigint := (data->>'id')::bigint;
	amount	bigint := (data->>'amount')::bigint;
	pending	boolean := coalesce((data->>'pending')::boolean, false);
	timeout	int := coalesce((data->>'timeout')::int, 0);
	dr		ledger.accounts := ledger.account((data->>'debit_account')::bigint);
	cr		ledger.accounts := ledger.account((data->>'credit_account')::bigint);
	recorded	bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM ledger.transfers t WHERE t.id = tid) THEN
		RAISE EXCEPTION 'transfer % exists', tid USING ERRCODE = 'unique_violation',
			HINT = 'A transfer id is taken once. Submitted again through ledger.transfer(), ledger.transfer_post() or ledger.transfer_void() (whose idempotency key is the id), the same fields return the first result.';
	END IF;
	IF dr.ledger <> (data->>'ledger')::int OR cr.ledger <> (data->>'ledger')::int THEN
		RAISE EXCEPTION 'transfer % is in ledger %, its accounts in ledgers % and %',
			tid, data->>'ledger', dr.ledger, cr.ledger USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- a balance stays a bigint: pending + posted, so a post never overflows
	IF amount > 9223372036854775807 - dr.debits_pending - dr.debits_posted THEN
		RAISE EXCEPTION 'transfer % would overflow the debits of account %', tid, dr.id
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = format('Account %s has debits pending %s and posted %s; the transfer debits %s.',
								  dr.id, dr.debits_pending, dr.debits_posted, amount);
	END IF;
	IF amount > 9223372036854775807 - cr.credits_pending - cr.credits_posted THEN
		RAISE EXCEPTION 'transfer % would overflow the credits of account %', tid, cr.id
			USING ERRCODE = 'numeric_value_out_of_range',
				  DETAIL = format('Account %s has credits pending %s and posted %s; the transfer credits %s.',
								  cr.id, cr.credits_pending, cr.credits_posted, amount);
	END IF;
	-- the limits count pending and posted
	IF 'debits_must_not_exceed_credits' = ANY (dr.flags)
	   AND dr.debits_pending + dr.debits_posted + amount > dr.credits_posted THEN
		RAISE EXCEPTION 'transfer % exceeds the credits of account %', tid, dr.id
			USING ERRCODE = 'check_violation',
				  DETAIL = format('Account %s has credits posted %s, debits pending %s and posted %s; the transfer debits %s.',
								  dr.id, dr.credits_posted, dr.debits_pending, dr.debits_posted, amount);
	END IF;
	IF 'credits_must_not_exceed_debits' = ANY (cr.flags)
	   AND cr.credits_pending + cr.credits_posted + amount > cr.debits_posted THEN
		RAISE EXCEPTION 'transfer % exceeds the debits of account %', tid, cr.id
			USING ERRCODE = 'check_violation',
				  DETAIL = format('Account %s has debits posted %s, credits pending %s and posted %s; the transfer credits %s.',
								  cr.id, cr.debits_posted, cr.credits_pending, cr.credits_posted, amount);
	END IF;
	IF pending THEN
		dr.debits_pending := dr.debits_pending + amount;
		cr.credits_pending := cr.credits_pending + amount;
	ELSE
		dr.debits_posted := dr.debits_posted + amount;
		cr.credits_posted := cr.credits_posted + amount;
	END IF;
	recorded := ledger.record(version, tid, CASE WHEN pending THEN 'pending' ELSE 'posted' END, dr, cr, amount, NULL,
						  CASE WHEN pending AND timeout > 0
							   THEN rig_op_time() + make_interval(secs => timeout) END);
END $$;

-- transfer_post, transfer_void, transfer_expire ---------------------------
-- Their data names the pending transfer's accounts too (the wrappers add
-- them): rig locks an op's resources from its data alone.

-- An expiry's data names only the pending transfer and its accounts (its
-- id is -pending_id).
CREATE FUNCTION ledger.expire_validate(data jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM ledger.positive(data, 'pending_id'), ledger.positive(data, 'debit_account'),
			ledger.positive(data, 'credit_account');
END $$;

-- A post or void has its own id, positive like every client's (a negative
-- one would take the id an expiry of another pending transfer needs).
CREATE FUNCTION ledger.resolve_validate(data jsonb) RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM ledger.positive(data, 'id'), ledger.expire_validate(data);
	IF data ? 'amount' THEN
		PERFORM ledger.positive(data, 'amount');
	END IF;
END $$;

-- The accounts and the id, as for a transfer (an expiry's id is -pending_id).
CREATE FUNCTION ledger.resolve_resources(data jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN ARRAY['account:' || (data->>'debit_account'), 'account:' || (data->>'credit_account'),
				 'transfer:' || coalesce(data->>'id', '-' || (data->>'pending_id'))];
END $$;

-- Post (in full or in part), void or expire a pending transfer, once.
CREATE FUNCTION ledger.resolve(version bigint, data jsonb, kind text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	tid		bigint := CASE WHEN kind = 'expire' THEN -(data->>'pending_id')::bigint
						   ELSE (data->>'id')::bigint END;
	p		ledger.transfers;
	done	ledger.transfers;
	amount	bigint;
	dr		ledger.accounts;
	cr		ledger.accounts;
BEGIN
	SELECT * INTO p FROM ledger.transfers t WHERE t.id = (data->>'pending_id')::bigint;
	IF NOT FOUND OR p.kind <> 'pending' THEN
		RAISE EXCEPTION 'transfer % is not a pending transfer', data->>'pending_id'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p.debit_account <> (data->>'debit_account')::bigint OR p.credit_account <> (data->>'credit_account')::bigint THEN
		RAISE EXCEPTION 'pending transfer % moves from account % to account %', p.id, p.debit_account, p.credit_account
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO done FROM ledger.transfers t WHERE t.pending_id = p.id;
	IF FOUND THEN
		RAISE EXCEPTION 'pending transfer % was already resolved: %', p.id,
			CASE done.kind WHEN 'post' THEN 'posted' WHEN 'void' THEN 'voided' ELSE 'expired' END
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT 1 FROM ledger.transfers t WHERE t.id = tid) THEN
		RAISE EXCEPTION 'transfer % exists', tid USING ERRCODE = 'unique_violation',
			HINT = 'A transfer id is taken once. Submitted again through ledger.transfer(), ledger.transfer_post() or ledger.transfer_void() (whose idempotency key is the id), the same fields return the first result.';
	END IF;
	IF kind = 'expire' THEN
		IF p.expires_at IS NULL OR rig_op_time() < p.expires_at THEN
			RAISE EXCEPTION 'pending transfer % has not expired', p.id USING ERRCODE = 'invalid_parameter_value';
		END IF;
	ELSIF p.expires_at IS NOT NULL AND rig_op_time() >= p.expires_at THEN
		RAISE EXCEPTION 'pending transfer % expired', p.id USING ERRCODE = 'invalid_parameter_value';
	END IF;
	amount := CASE WHEN kind = 'post' THEN coalesce((data->>'amount')::bigint, p.amount) ELSE p.amount END;
	IF amount > p.amount THEN
		RAISE EXCEPTION 'transfer % posts % of pending transfer %, which holds only %', tid, amount, p.id, p.amount
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	dr := ledger.account(p.debit_account);
	cr := ledger.account(p.credit_account);
	dr.debits_pending := dr.debits_pending - p.amount;
	cr.credits_pending := cr.credits_pending - p.amount;
	IF kind = 'post' THEN
		dr.debits_posted := dr.debits_posted + amount;
		cr.credits_posted := cr.credits_posted + amount;
	END IF;
	RETURN ledger.record(version, tid, kind, dr, cr, amount, p.id, NULL);
END $$;

CREATE FUNCTION ledger.transfer_post_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	recorded	bigint;
BEGIN
	recorded := ledger.resolve(version, data, 'post');
END $$;
CREATE FUNCTION ledger.transfer_void_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	recorded	bigint;
BEGIN
	recorded := ledger.resolve(version, data, 'void');
END $$;
CREATE FUNCTION ledger.transfer_expire_apply(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	recorded	bigint;
BEGIN
	recorded := ledger.resolve(version, data, 'expire');
END $$;

SELECT rig_register('account_open', 'ledger.account_open_apply(bigint,jsonb)',
					'ledger.account_open_validate(jsonb)', 'ledger.account_open_resources(jsonb)');
SELECT rig_register('transfer', 'ledger.transfer_apply(bigint,jsonb)',
					'ledger.transfer_validate(jsonb)', 'ledger.transfer_resources(jsonb)');
SELECT rig_register('transfer_post', 'ledger.transfer_post_apply(bigint,jsonb)',
					'ledger.resolve_validate(jsonb)', 'ledger.resolve_resources(jsonb)');
SELECT rig_register('transfer_void', 'ledger.transfer_void_apply(bigint,jsonb)',
					'ledger.resolve_validate(jsonb)', 'ledger.resolve_resources(jsonb)');
SELECT rig_register('transfer_expire', 'ledger.transfer_expire_apply(bigint,jsonb)',
					'ledger.expire_validate(jsonb)', 'ledger.resolve_resources(jsonb)');

-- The tables are the handlers' alone (after their indexes, trigger and keys).
SELECT rig_register_table('ledger.accounts');
SELECT rig_register_table('ledger.transfers');

-- Client wrappers ---------------------------------------------------------

-- Open an account (its id is the idempotency key); returns its balances.
CREATE FUNCTION ledger.account_open(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	PERFORM rig_do('account_open', data, 'account:' || coalesce(data->>'id', ''));
	RETURN (SELECT ledger.balances(a) FROM ledger.accounts a WHERE a.id = (data->>'id')::bigint);
END $$;

-- Make a transfer; returns the first result stored for its id.
CREATE FUNCTION ledger.transfer(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	PERFORM rig_do('transfer', data, 'transfer:' || coalesce(data->>'id', ''));
	RETURN (SELECT ledger.result(t) FROM ledger.transfers t WHERE t.id = (data->>'id')::bigint);
END $$;

-- data plus the accounts of its pending transfer (rig locks them).
CREATE FUNCTION ledger.with_accounts(data jsonb) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	t		ledger.transfers;
BEGIN
	PERFORM ledger.positive(data, 'pending_id');
	SELECT * INTO t FROM ledger.transfers p WHERE p.id = (data->>'pending_id')::bigint AND p.kind = 'pending';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'transfer % is not a pending transfer', data->>'pending_id'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN data || jsonb_build_object('debit_account', t.debit_account, 'credit_account', t.credit_account);
END $$;

CREATE FUNCTION ledger.transfer_post(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	PERFORM rig_do('transfer_post', ledger.with_accounts(data), 'transfer:' || coalesce(data->>'id', ''));
	RETURN (SELECT ledger.result(t) FROM ledger.transfers t WHERE t.id = (data->>'id')::bigint);
END $$;

CREATE FUNCTION ledger.transfer_void(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	PERFORM rig_do('transfer_void', ledger.with_accounts(data), 'transfer:' || coalesce(data->>'id', ''));
	RETURN (SELECT ledger.result(t) FROM ledger.transfers t WHERE t.id = (data->>'id')::bigint);
END $$;

-- Expire every pending transfer past its timeout; returns how many.  One
-- posted or voided meanwhile (by an op that held its accounts when the
-- loop's query ran, with an op time before its timeout) is skipped, not an
-- error that would leave the others unexpired.  A procedure (CALL it
-- outside a transaction block) that commits each expiry by itself: in one
-- transaction it held the accounts of the expiries done while it waited
-- for the next one's, and a transfer holding one of those and waiting for
-- one of these made a deadlock (40P01 for one of the two).
CREATE PROCEDURE ledger.expire_due(INOUT expired int DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE
	p		bigint;
BEGIN
	expired := 0;
	FOR p IN SELECT t.id FROM ledger.transfers t
			  WHERE t.kind = 'pending' AND t.expires_at <= clock_timestamp()
				AND NOT EXISTS (SELECT 1 FROM ledger.transfers r WHERE r.pending_id = t.id)
			  ORDER BY t.expires_at, t.id LOOP
		BEGIN
			PERFORM rig_do('transfer_expire', ledger.with_accounts(jsonb_build_object('pending_id', p)),
						   'expire:' || p);
			expired := expired + 1;
		EXCEPTION WHEN invalid_parameter_value THEN
			IF NOT EXISTS (SELECT 1 FROM ledger.transfers r WHERE r.pending_id = p) THEN
				RAISE;
			END IF;
		END;
		COMMIT;
	END LOOP;
END $$;

-- An account's history from `since` to `until` (op times) with running
-- balances (credits - debits, posted and pending) from its first transfer.
CREATE FUNCTION ledger.statement(account bigint, since timestamptz, until timestamptz)
	RETURNS TABLE (version bigint, transfer_id bigint, at timestamptz, kind text, counterparty bigint,
				   debit bigint, credit bigint, balance_posted bigint, balance_pending bigint)
	LANGUAGE sql STABLE AS $$
	SELECT * FROM (
		SELECT s.version, s.id, s.created_at, s.kind, s.counterparty, s.debit, s.credit,
			   (sum(s.credit - s.debit) OVER w)::bigint,
			   (sum(s.pending_delta) OVER w)::bigint
		  FROM (SELECT t.*,
					   CASE WHEN t.debit_account = account THEN t.credit_account ELSE t.debit_account END AS counterparty,
					   CASE WHEN t.debit_account = account AND t.kind IN ('posted', 'post') THEN t.amount ELSE 0 END AS debit,
					   CASE WHEN t.credit_account = account AND t.kind IN ('posted', 'post') THEN t.amount ELSE 0 END AS credit,
					   (CASE WHEN t.kind = 'pending' THEN 1 WHEN t.kind IN ('post', 'void', 'expire') THEN -1 ELSE 0 END)
					   * (CASE WHEN t.credit_account = account THEN 1 ELSE -1 END)
					   * coalesce(pt.amount, t.amount) AS pending_delta
				  FROM ledger.transfers t
				  LEFT JOIN ledger.transfers pt ON pt.id = t.pending_id
				 WHERE account IN (t.debit_account, t.credit_account)) s
		WINDOW w AS (ORDER BY s.version)) h
	 WHERE h.created_at >= since AND h.created_at < until
	 ORDER BY h.version
$$;

-- The invariants, per ledger: debits = credits (posted and pending), every
-- account within its limits, and every account's posted balances the sum
-- of its transfers.  No rows: they hold.
CREATE FUNCTION ledger.check() RETURNS TABLE (ledger int, problem text) LANGUAGE sql STABLE AS $$
	SELECT a.ledger, 'debits posted ' || sum(a.debits_posted) || ' <> credits posted ' || sum(a.credits_posted)
	  FROM ledger.accounts a GROUP BY a.ledger HAVING sum(a.debits_posted) <> sum(a.credits_posted)
	UNION ALL
	SELECT a.ledger, 'debits pending ' || sum(a.debits_pending) || ' <> credits pending ' || sum(a.credits_pending)
	  FROM ledger.accounts a GROUP BY a.ledger HAVING sum(a.debits_pending) <> sum(a.credits_pending)
	UNION ALL
	SELECT a.ledger, 'account ' || a.id || ' breaks its limit'
	  FROM ledger.accounts a
	 WHERE ('debits_must_not_exceed_credits' = ANY (a.flags)
			AND a.debits_pending + a.debits_posted > a.credits_posted)
		OR ('credits_must_not_exceed_debits' = ANY (a.flags)
			AND a.credits_pending + a.credits_posted > a.debits_posted)
	UNION ALL
	SELECT a.ledger, 'account ' || a.id || ' does not match its transfers'
	  FROM ledger.accounts a
	 WHERE (a.debits_posted, a.credits_posted) <>
		   (SELECT coalesce(sum(t.amount) FILTER (WHERE t.debit_account = a.id), 0),
				   coalesce(sum(t.amount) FILTER (WHERE t.credit_account = a.id), 0)
			  FROM ledger.transfers t
			 WHERE t.kind IN ('posted', 'post') AND a.id IN (t.debit_account, t.credit_account))
	UNION ALL
	SELECT t.ledger, 'transfer ' || t.id || ' names an account that does not exist'
	  FROM ledger.transfers t
	 WHERE NOT EXISTS (SELECT FROM ledger.accounts a WHERE a.id = t.debit_account)
		OR NOT EXISTS (SELECT FROM ledger.accounts a WHERE a.id = t.credit_account)
	UNION ALL
	SELECT t.ledger, 'transfer ' || t.id || ' (' || t.kind || ') does not resolve a pending transfer'
	  FROM ledger.transfers t
	 WHERE t.kind IN ('post', 'void', 'expire')
	   AND NOT EXISTS (SELECT FROM ledger.transfers p WHERE p.id = t.pending_id AND p.kind = 'pending')
	UNION ALL
	SELECT t.ledger, 'transfer ' || t.id || ' (' || t.kind || ') names pending transfer ' || t.pending_id
	  FROM ledger.transfers t
	 WHERE t.kind IN ('posted', 'pending') AND t.pending_id IS NOT NULL
$$;

-- the handlers' helpers are theirs (called directly they could not write anyway)
REVOKE EXECUTE ON FUNCTION ledger.record(bigint, bigint, text, ledger.accounts, ledger.accounts, bigint, bigint, timestamptz),
	ledger.resolve(bigint, jsonb, text), ledger.account(bigint) FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger TO rig_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO rig_reader;
REVOKE EXECUTE ON ROUTINE ledger.account_open(jsonb), ledger.transfer(jsonb),
	ledger.transfer_post(jsonb), ledger.transfer_void(jsonb), ledger.expire_due(int) FROM PUBLIC;
GRANT EXECUTE ON ROUTINE ledger.account_open(jsonb), ledger.transfer(jsonb),
	ledger.transfer_post(jsonb), ledger.transfer_void(jsonb), ledger.expire_due(int) TO rig_writer;
