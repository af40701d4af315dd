--
-- tables: state tables (rig_register_table).  A registered table changes
-- only inside a handler run by rig_do() (or a peer's apply), or in a
-- superuser's session with rig.maintenance = on; everything else is
-- refused with 42501 for every role, the owner and superusers included,
-- and nothing is half-written.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE ROLE regress_tbl_owner LOGIN IN ROLE rig_writer;
CREATE ROLE regress_tbl_user LOGIN IN ROLE rig_writer;
CREATE SCHEMA t AUTHORIZATION regress_tbl_owner;
GRANT USAGE ON SCHEMA t TO PUBLIC;

-- try(statement): 'ok' or the SQLSTATE and message (in a subtransaction)
CREATE FUNCTION public.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

SET ROLE regress_tbl_owner;
CREATE TABLE t.owners (id int PRIMARY KEY);
INSERT INTO t.owners VALUES (1), (2);
CREATE TABLE t.accounts (
	id			int PRIMARY KEY,
	balance		bigint NOT NULL,
	note		text,
	owner_id	int REFERENCES t.owners ON DELETE CASCADE
);
CREATE TABLE t.audit (version bigint, what text);
CREATE TABLE t.other (id int PRIMARY KEY, account int);
GRANT ALL ON t.accounts, t.other, t.audit TO regress_tbl_user;	-- privileges do not let anyone write
-- a trigger made before registration (writes an unregistered table)
CREATE FUNCTION t.audit_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO t.audit VALUES (NEW.id, TG_OP);
	RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER INSERT ON t.accounts FOR EACH ROW EXECUTE FUNCTION t.audit_trg();
-- the handlers
CREATE FUNCTION t.open(version bigint, data jsonb) RETURNS void LANGUAGE sql
AS $$ INSERT INTO t.accounts VALUES ((data->>'id')::int, 0, NULL, (data->>'owner')::int) $$;
CREATE FUNCTION t.deposit(version bigint, data jsonb) RETURNS void LANGUAGE sql
AS $$ UPDATE t.accounts SET balance = balance + (data->>'amount')::bigint WHERE id = (data->>'id')::int $$;
CREATE FUNCTION t.close(version bigint, data jsonb) RETURNS void LANGUAGE sql
AS $$ DELETE FROM t.accounts WHERE id = (data->>'id')::int $$;
CREATE FUNCTION t.prep(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'PREPARE sneaky AS UPDATE t.accounts SET balance = 1000000';
END $$;
-- ways around the handlers an attacker might try
CREATE FUNCTION t.sd_write() RETURNS void LANGUAGE sql SECURITY DEFINER
AS $$ UPDATE t.accounts SET balance = 1000000 $$;
CREATE VIEW t.auto_view AS SELECT id, balance FROM t.accounts;
CREATE VIEW t.trig_view AS SELECT id, balance FROM t.accounts;
CREATE FUNCTION t.trig_view_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO t.accounts VALUES (NEW.id, NEW.balance);
	RETURN NEW;
END $$;
CREATE TRIGGER ins INSTEAD OF INSERT ON t.trig_view FOR EACH ROW EXECUTE FUNCTION t.trig_view_ins();
CREATE FUNCTION t.other_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE t.accounts SET balance = balance + 1 WHERE id = NEW.account;
	RETURN NEW;
END $$;
CREATE TRIGGER bump AFTER INSERT ON t.other FOR EACH ROW EXECUTE FUNCTION t.other_trg();
CREATE TABLE t.parted (id int, balance bigint NOT NULL, note text, owner_id int) PARTITION BY RANGE (id);
GRANT ALL ON t.auto_view, t.trig_view, t.owners TO regress_tbl_user;
CREATE TABLE t.nokey (a int);
CREATE UNLOGGED TABLE t.unlogged (a int PRIMARY KEY);
CREATE TABLE t.parent (a int PRIMARY KEY);
CREATE TABLE t.kid () INHERITS (t.parent);
RESET ROLE;

SELECT rig_register('acct.open', 't.open(bigint,jsonb)');
SELECT rig_register('acct.deposit', 't.deposit(bigint,jsonb)');
SELECT rig_register('acct.close', 't.close(bigint,jsonb)');
SELECT rig_register('acct.prep', 't.prep(bigint,jsonb)');

--
-- who may register: superusers, and roles granted EXECUTE for tables they own
--
SELECT has_function_privilege('public', 'rig_register_table(regclass)', 'EXECUTE') AS public_register,
       has_function_privilege('public', 'rig_unregister_table(regclass)', 'EXECUTE') AS public_unregister;
SET ROLE regress_tbl_owner;
SELECT rig_register_table('t.accounts');
\echo :SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION rig_register_table(regclass) TO regress_tbl_user;
SET ROLE regress_tbl_user;
SELECT rig_register_table('t.accounts');
\echo :SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rig_register_table(regclass) FROM regress_tbl_user;

-- what can be registered: permanent plain tables with a primary key, no inheritance
SELECT rig_register_table('t.nokey');
\echo :SQLSTATE
SELECT rig_register_table('t.unlogged');
\echo :SQLSTATE
SELECT rig_register_table('t.auto_view');
\echo :SQLSTATE
SELECT rig_register_table('t.parted');
\echo :SQLSTATE
SELECT rig_register_table('t.parent');
\echo :SQLSTATE
SELECT rig_register_table('t.kid');
\echo :SQLSTATE
SELECT rig_register_table('rig.log');
\echo :SQLSTATE
SELECT rig_register_table(NULL);
\echo :SQLSTATE
SELECT count(*) AS registered FROM rig.tables;

-- before registration anyone with the privilege may write
SET ROLE regress_tbl_user;
INSERT INTO t.accounts VALUES (100, 5, 'before', 1);
RESET ROLE;

SELECT rig_register_table('t.accounts');
SELECT rig_register_table('t.accounts');	-- again: a notice
SELECT relation FROM rig.tables;

--
-- inside a handler, through rig_do(): works (and the owner's trigger runs)
--
SET ROLE regress_tbl_user;
SELECT rig_do('acct.open', '{"id": 1, "owner": 1}') > 0 AS opened;
SELECT rig_do('acct.open', '{"id": 2, "owner": 2}') > 0 AS opened;
SELECT rig_do('acct.deposit', '{"id": 1, "amount": 50}') > 0 AS deposited;
SELECT rig_do('acct.close', '{"id": 100}') > 0 AS closed;
SELECT rig_do('acct.prep', '{}') > 0 AS prepared_inside;
RESET ROLE;
SELECT id, balance, note, owner_id FROM t.accounts ORDER BY id;
SELECT what, count(*) FROM t.audit GROUP BY what;
CREATE TEMP TABLE before AS SELECT * FROM t.accounts;
SELECT count(*) AS log_rows FROM rig.log \gset

-- one refusal in full
UPDATE t.accounts SET balance = 1000000;
\echo :SQLSTATE
-- a write in a WITH query is named for what it is
WITH u AS (UPDATE t.accounts SET balance = 1000000 RETURNING 1) SELECT count(*) FROM u;
\echo :SQLSTATE
ALTER TABLE t.accounts DISABLE TRIGGER audit;
\echo :SQLSTATE
TRUNCATE t.accounts;
\echo :SQLSTATE
DROP TABLE t.accounts CASCADE;
\echo :SQLSTATE
-- a column default (pg_attrdef): refused on a registered table, not elsewhere
ALTER TABLE t.accounts ALTER COLUMN balance SET DEFAULT 0;
\echo :SQLSTATE
CREATE TABLE t.dflt (a int DEFAULT 1);
ALTER TABLE t.dflt ALTER COLUMN a DROP DEFAULT;
DROP TABLE t.dflt;

--
-- the matrix: every way to change the table's data or shape, for the
-- superuser (rig's administrator), the owner and a role holding ALL on it
--
CREATE TABLE attempts (n serial, stmt text);
INSERT INTO attempts (stmt) VALUES
	('INSERT INTO t.accounts VALUES (9, 0)'),
	('INSERT INTO t.accounts VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET balance = 7'),
	('UPDATE t.accounts SET balance = 1000000'),
	('DELETE FROM t.accounts'),
	('MERGE INTO t.accounts a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN UPDATE SET balance = 5'),
	('WITH d AS (DELETE FROM t.accounts RETURNING 1) SELECT count(*) FROM d'),
	('SELECT * FROM t.accounts FOR UPDATE'),
	('TRUNCATE t.accounts'),
	('TRUNCATE t.owners CASCADE'),
	('DELETE FROM t.owners WHERE id = 2'),
	('COPY t.accounts FROM ''/dev/null'''),
	('ALTER TABLE t.accounts ADD COLUMN x int'),
	('ALTER TABLE t.accounts DISABLE TRIGGER ALL'),
	('ALTER TABLE t.accounts RENAME TO accounts2'),
	('ALTER TABLE t.accounts RENAME COLUMN note TO memo'),
	('ALTER TABLE t.accounts DROP COLUMN note'),
	('ALTER TABLE t.accounts SET UNLOGGED'),
	('ALTER TABLE t.accounts SET SCHEMA public'),
	('ALTER TABLE t.accounts OWNER TO regress_tbl_user'),
	('ALTER TABLE t.accounts ENABLE ROW LEVEL SECURITY'),
	('ALTER TABLE t.parted ATTACH PARTITION t.accounts FOR VALUES FROM (0) TO (1000)'),
	('ALTER TABLE t.other ADD FOREIGN KEY (account) REFERENCES t.accounts'),
	('ALTER TRIGGER audit ON t.accounts RENAME TO audit2'),
	('CREATE TRIGGER t2 BEFORE INSERT ON t.accounts FOR EACH ROW EXECUTE FUNCTION t.audit_trg()'),
	('CREATE RULE r AS ON UPDATE TO t.accounts DO INSTEAD NOTHING'),
	('CREATE POLICY p ON t.accounts USING (true)'),
	('CREATE INDEX ON t.accounts (balance)'),
	('CREATE TABLE t.child () INHERITS (t.accounts)'),
	('CREATE TABLE t.refs (a int REFERENCES t.accounts)'),
	('DROP TRIGGER audit ON t.accounts'),
	('DROP INDEX t.accounts_pkey CASCADE'),
	('DROP TABLE t.accounts CASCADE'),
	('DROP OWNED BY regress_tbl_owner'),
	('DROP SCHEMA t CASCADE'),
	('SELECT t.open(0, ''{"id": 9}'')'),
	('SELECT t.sd_write()'),
	('EXECUTE sneaky'),
	('UPDATE t.auto_view SET balance = 3'),
	('INSERT INTO t.trig_view VALUES (9, 9)'),
	('INSERT INTO t.other VALUES (1, 1)'),
	('EXPLAIN UPDATE t.accounts SET balance = 0'),
	('GRANT SELECT ON t.accounts TO PUBLIC'),
	('COMMENT ON TABLE t.accounts IS ''money''');
GRANT SELECT ON attempts TO PUBLIC;
SET client_min_messages = warning;

SELECT n, stmt, try(stmt) AS superuser FROM attempts ORDER BY n;
SET ROLE regress_tbl_owner;
SELECT n, stmt, try(stmt) AS owner FROM attempts ORDER BY n;
SET ROLE regress_tbl_user;
SELECT n, stmt, try(stmt) AS ordinary_role FROM attempts ORDER BY n;
RESET ROLE;
RESET client_min_messages;

-- harmless rewrites are allowed
CLUSTER t.accounts USING accounts_pkey;
VACUUM FULL t.accounts;
VACUUM ANALYZE t.accounts;

-- nothing half-written: the table, its owners, the audit trail and the log are unchanged
SELECT (SELECT count(*) FROM (SELECT * FROM t.accounts EXCEPT SELECT * FROM before) d) AS changed_rows,
       (SELECT count(*) FROM t.accounts) = (SELECT count(*) FROM before) AS same_count,
       (SELECT count(*) FROM t.owners) AS owners,
       (SELECT count(*) FROM rig.log) = :log_rows AS log_unchanged,
       (SELECT count(*) FROM t.other) AS other_rows;
SELECT attname FROM pg_attribute WHERE attrelid = 't.accounts'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 't.accounts'::regclass AND NOT tgisinternal;

--
-- the maintenance switch: superusers only, and then everything but DROP
--
SET ROLE regress_tbl_owner;
SET rig.maintenance = on;
\echo :SQLSTATE
RESET ROLE;
SET rig.maintenance = on;
UPDATE t.accounts SET note = 'repaired' WHERE id = 1;
ALTER TABLE t.accounts ADD COLUMN extra int;
ALTER TABLE t.accounts DROP COLUMN extra;
DROP TABLE t.accounts CASCADE;
\echo :SQLSTATE
RESET rig.maintenance;
SELECT id, note FROM t.accounts WHERE id = 1;
UPDATE t.accounts SET note = NULL WHERE id = 1;
\echo :SQLSTATE
-- a SECURITY DEFINER function cannot turn it on for a non-superuser
SET ROLE regress_tbl_owner;
CREATE FUNCTION t.sneak() RETURNS void LANGUAGE sql SECURITY DEFINER SET rig.maintenance = on
AS $$ UPDATE t.accounts SET balance = 1 $$;
\echo :SQLSTATE
RESET ROLE;

--
-- unregistering: the same privileges as registering; then the table is free
--
SET ROLE regress_tbl_owner;
SELECT rig_unregister_table('t.accounts');
\echo :SQLSTATE
RESET ROLE;
SELECT rig_unregister_table('t.other');
\echo :SQLSTATE
SELECT rig_unregister_table('t.accounts');
SELECT count(*) AS registered FROM rig.tables;
UPDATE t.accounts SET note = 'free' WHERE id = 2;
SELECT id, note FROM t.accounts WHERE id = 2;

-- clean up: roles are cluster-wide
DEALLOCATE sneaky;
SELECT rig_unregister('acct.open');
SELECT rig_unregister('acct.deposit');
SELECT rig_unregister('acct.close');
SELECT rig_unregister('acct.prep');
DROP SCHEMA t CASCADE;
DROP FUNCTION public.try(text);
DROP TABLE attempts;
DROP OWNED BY regress_tbl_owner, regress_tbl_user;
DROP ROLE regress_tbl_owner, regress_tbl_user;
