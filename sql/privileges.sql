--
-- privileges: who may write (rig_writer), read (rig_reader), administer
-- (superuser) and run which handlers.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE ROLE regress_rig_plain LOGIN;
CREATE ROLE regress_rig_reader LOGIN IN ROLE rig_reader;
CREATE ROLE regress_rig_writer LOGIN IN ROLE rig_writer;
CREATE ROLE regress_rig_writer2 LOGIN IN ROLE rig_writer;

CREATE SCHEMA p;
GRANT USAGE ON SCHEMA p TO PUBLIC;
CREATE TABLE p.notes (version bigint, body text);
GRANT SELECT ON p.notes TO PUBLIC;
-- a SECURITY DEFINER handler: callers need no privilege on p.notes
CREATE FUNCTION p.add_note(version bigint, data jsonb) RETURNS void
	LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, p, pg_temp
AS $$ INSERT INTO p.notes VALUES (version, data->>'body') $$;
-- an ordinary handler: runs with the caller's privileges
CREATE FUNCTION p.add_note_invoker(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ INSERT INTO p.notes VALUES (version, data->>'body') $$;
CREATE FUNCTION p.check_note(data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
CREATE FUNCTION p.note_resources(data jsonb) RETURNS text[]
	LANGUAGE sql AS $$ SELECT ARRAY['notes'] $$;
SELECT rig_register('note', 'p.add_note(bigint,jsonb)', 'p.check_note(jsonb)', 'p.note_resources(jsonb)');
SELECT rig_register('note_invoker', 'p.add_note_invoker(bigint,jsonb)');
SELECT rig_do('note', '{"body": "by the superuser"}') > 0 AS ran;
CREATE FUNCTION p.counts(OUT log_rows bigint, OUT notes bigint)
	SECURITY DEFINER LANGUAGE sql
AS $$ SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM p.notes) $$;
GRANT EXECUTE ON FUNCTION p.counts() TO PUBLIC;

-- what the extension grants, as PostgreSQL sees it
SELECT r.rolname,
       has_function_privilege(r.rolname, 'rig_do(text,jsonb,text)', 'EXECUTE') AS rig_do,
       has_function_privilege(r.rolname, 'rig_log_since(bigint,int)', 'EXECUTE') AS log_since,
       has_function_privilege(r.rolname, 'rig_register(text,regprocedure,regprocedure,regprocedure)', 'EXECUTE') AS register,
       has_function_privilege(r.rolname, 'rig_unregister(text)', 'EXECUTE') AS unregister,
       has_function_privilege(r.rolname, 'rig_compact(bigint)', 'EXECUTE') AS compact,
       has_schema_privilege(r.rolname, 'rig', 'USAGE') AS rig_schema,
       has_table_privilege(r.rolname, 'rig.log', 'SELECT') AS log_select,
       has_table_privilege(r.rolname, 'rig.log', 'INSERT') AS log_insert,
       has_table_privilege(r.rolname, 'rig.log', 'UPDATE') AS log_update,
       has_table_privilege(r.rolname, 'rig.log', 'DELETE') AS log_delete
  FROM pg_roles r
 WHERE r.rolname IN ('regress_rig_plain', 'regress_rig_reader', 'regress_rig_writer')
 ORDER BY 1;

SELECT * FROM p.counts() \gset before_

--
-- A role without rig's roles can neither write nor read the log.
--
SET ROLE regress_rig_plain;
SELECT rig_do('note', '{"body": "plain"}');
\echo :SQLSTATE
SELECT count(*) FROM rig.log;
\echo :SQLSTATE
SELECT count(*) FROM rig_log_since(0);
\echo :SQLSTATE
SELECT count(*) FROM rig.handlers WHERE method NOT LIKE 'rig.%';
\echo :SQLSTATE
SELECT rig_register('plain_op', 'p.add_note(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_compact(1);
\echo :SQLSTATE
SET rig.max_payload = '10MB';
\echo :SQLSTATE
RESET ROLE;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();

--
-- rig_reader: reads rig.log and rig_log_since, cannot write.
--
SET ROLE regress_rig_reader;
SELECT count(*) > 0 AS reads_log FROM rig.log;
SELECT count(*) > 0 AS reads_log_since FROM rig_log_since(rig_last_version() - 1);
SELECT method FROM rig.handlers WHERE method = 'note';
SELECT rig_watermark() >= rig_last_version() AS reads_watermark;
SELECT rig_do('note', '{"body": "reader"}');
\echo :SQLSTATE
INSERT INTO rig.log VALUES (1000000, 1, 'note', '{}', NULL, now(), 'forged');
\echo :SQLSTATE
RESET ROLE;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();

--
-- rig_writer: rig_do works; rig.log is written only through it.
--
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "writer"}') AS by_writer \gset
SELECT body FROM p.notes WHERE version = :by_writer;
-- writers are readers too
SELECT method, data FROM rig.log WHERE version = :by_writer;
SELECT count(*) AS via_log_since FROM rig_log_since(:by_writer - 1) WHERE version = :by_writer;
-- but may not touch rig.log or the registry directly
INSERT INTO rig.log VALUES (1000000, 1, 'note', '{}', NULL, now(), 'forged');
\echo :SQLSTATE
UPDATE rig.log SET data = '{}' WHERE version = :by_writer;
\echo :SQLSTATE
DELETE FROM rig.log WHERE version = :by_writer;
\echo :SQLSTATE
TRUNCATE rig.log;
\echo :SQLSTATE
INSERT INTO rig.handlers (method, apply) VALUES ('sneaky', 'p.add_note(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('sneaky', 'p.add_note(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_unregister('note');
\echo :SQLSTATE
SELECT rig_compact(:by_writer);
\echo :SQLSTATE
-- nor the version sequence
SELECT nextval('rig.version_seq');
\echo :SQLSTATE
SELECT setval('rig.version_seq', 1);
\echo :SQLSTATE
-- an ordinary (SECURITY INVOKER) handler runs as its owner too: the writer
-- may not insert into p.notes, the handler's owner may
SELECT rig_do('note_invoker', '{"body": "invoker"}') > 0 AS ran;
\echo :SQLSTATE
-- and the writer cannot call an apply handler itself: rig_register
-- revoked EXECUTE from PUBLIC (validate and resources stay callable)
SELECT p.add_note(0, '{"body": "direct"}');
\echo :SQLSTATE
SELECT p.add_note_invoker(0, '{"body": "direct"}');
\echo :SQLSTATE
SELECT p.note_resources('{}') AS resources;
RESET ROLE;
SELECT count(*) AS rows FROM rig.log WHERE version = :by_writer;
SELECT method FROM rig.handlers WHERE method IN ('note', 'sneaky') ORDER BY 1;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();
SELECT count(*) AS invoker_notes FROM p.notes WHERE body = 'invoker';
SELECT count(*) AS direct_notes FROM p.notes WHERE body = 'direct';

--
-- Handlers run as their owner.  No caller needs EXECUTE on them, and rig
-- refuses an apply handler that a role other than its owner may EXECUTE:
-- that role could change the tables without a log record.
--
SELECT * FROM p.counts() \gset before_
SELECT p.proname, p.proacl FROM pg_proc p
 WHERE p.oid IN ('p.add_note(bigint,jsonb)'::regprocedure, 'p.add_note_invoker(bigint,jsonb)'::regprocedure)
 ORDER BY 1;
-- validate and resources handlers need no EXECUTE either
REVOKE EXECUTE ON FUNCTION p.check_note(jsonb), p.note_resources(jsonb) FROM PUBLIC;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "no execute on any handler"}') > 0 AS ran;
RESET ROLE;
-- EXECUTE granted on the apply handler to PUBLIC: rig_do refuses, for
-- every caller, until it is revoked
GRANT EXECUTE ON FUNCTION p.add_note(bigint, jsonb) TO PUBLIC;
SET ROLE regress_rig_writer;
SELECT p.add_note(0, '{"body": "direct, granted"}') IS NULL AS called_directly;
SELECT rig_do('note', '{"body": "apply granted to PUBLIC"}');
\echo :SQLSTATE
RESET ROLE;
SELECT rig_do('note', '{"body": "apply granted to PUBLIC, superuser"}');
\echo :SQLSTATE
REVOKE EXECUTE ON FUNCTION p.add_note(bigint, jsonb) FROM PUBLIC;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "revoked again"}') > 0 AS ran;
RESET ROLE;
-- the same for a grant to one role
GRANT EXECUTE ON FUNCTION p.add_note(bigint, jsonb) TO regress_rig_writer2;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "apply granted to writer2"}');
\echo :SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION p.add_note(bigint, jsonb) FROM regress_rig_writer2;
SET ROLE regress_rig_writer2;
SELECT rig_do('note', '{"body": "writer2, revoked"}') > 0 AS ran;
RESET ROLE;
SELECT body FROM p.notes WHERE version > (SELECT max(version) FROM p.notes WHERE body = 'invoker')
 ORDER BY version;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();

-- rig_register revokes EXECUTE from PUBLIC, and refuses an apply handler
-- another role holds EXECUTE on
CREATE ROLE regress_rig_grp;
CREATE FUNCTION p.grp_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO p.notes (version, body) VALUES (version, data->>'body') $$;
GRANT EXECUTE ON FUNCTION p.grp_apply(bigint, jsonb) TO regress_rig_grp;
SELECT rig_register('grp', 'p.grp_apply(bigint,jsonb)');
\echo :SQLSTATE
SELECT count(*) AS registered FROM rig.handlers WHERE method = 'grp';
REVOKE EXECUTE ON FUNCTION p.grp_apply(bigint, jsonb) FROM regress_rig_grp;
SELECT rig_register('grp', 'p.grp_apply(bigint,jsonb)');
SELECT proacl FROM pg_proc WHERE oid = 'p.grp_apply(bigint,jsonb)'::regprocedure;
SELECT rig_unregister('grp');
DROP ROLE regress_rig_grp;

-- a handler owned by a role without privileges runs without them, even
-- when a superuser calls rig_do (or registered it)
CREATE ROLE regress_rig_owner;
CREATE FUNCTION p.whoami(version bigint, data jsonb) RETURNS void LANGUAGE plpgsql
	AS $$ BEGIN INSERT INTO p.notes VALUES (version, current_user); END $$;
ALTER FUNCTION p.whoami(bigint, jsonb) OWNER TO regress_rig_owner;
SELECT rig_register('whoami', 'p.whoami(bigint,jsonb)');
SELECT rig_do('whoami');
\echo :SQLSTATE
GRANT INSERT ON p.notes TO regress_rig_owner;
SELECT rig_do('whoami') AS whoami \gset
SELECT body AS handler_ran_as FROM p.notes WHERE version = :whoami;
-- the caller's identity is back after the handler, also after an error
SELECT current_user = session_user AS caller_again;
REVOKE INSERT ON p.notes FROM regress_rig_owner;
DO $$
BEGIN
	PERFORM rig_do('whoami');
EXCEPTION WHEN insufficient_privilege THEN
	RAISE NOTICE 'refused; current_user is the caller: %', current_user = session_user;
END $$;
SELECT current_user = session_user AS caller_again;

-- a non-superuser may register only functions it owns
GRANT EXECUTE ON FUNCTION rig_register(text, regprocedure, regprocedure, regprocedure) TO regress_rig_owner;
GRANT USAGE, CREATE ON SCHEMA p TO regress_rig_owner;
SET ROLE regress_rig_owner;
SELECT rig_register('not_mine', 'p.add_note(bigint,jsonb)');
\echo :SQLSTATE
SELECT rig_register('not_mine', 'p.whoami(bigint,jsonb)', 'p.check_note(jsonb)');
\echo :SQLSTATE
SELECT rig_register('mine', 'p.whoami(bigint,jsonb)');
RESET ROLE;
SELECT method FROM rig.handlers WHERE method IN ('not_mine', 'mine', 'whoami') ORDER BY 1;
GRANT INSERT ON p.notes TO regress_rig_owner;
SELECT rig_do('mine') AS mine \gset
SELECT body AS handler_ran_as FROM p.notes WHERE version = :mine;
SELECT rig_unregister('mine');
SELECT rig_unregister('whoami');
REVOKE EXECUTE ON FUNCTION rig_register(text, regprocedure, regprocedure, regprocedure) FROM regress_rig_owner;
DROP OWNED BY regress_rig_owner;
DROP ROLE regress_rig_owner;

--
-- Monitoring: rig_reader and pg_monitor read the status views.
--
CREATE ROLE regress_rig_monitor LOGIN IN ROLE pg_monitor;
SET ROLE regress_rig_reader;
SELECT count(*) AS peers FROM rig.peer_status;
SELECT role FROM rig.status;
SELECT count(*) AS in_doubt FROM rig.in_doubt;
RESET ROLE;
SET ROLE regress_rig_monitor;
SELECT count(*) AS peers FROM rig.peer_status;
SELECT role FROM rig.status;
SELECT count(*) AS in_doubt FROM rig.in_doubt;
-- but not the log
SELECT count(*) FROM rig.log;
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_rig_monitor;

--
-- The password rule of dblink: a non-superuser allowed to run rig_add_peer
-- or rig_follow cannot make the server connect without a password.
--
GRANT EXECUTE ON FUNCTION rig_add_peer(text, text, text), rig_follow(text, text) TO regress_rig_plain;
SET ROLE regress_rig_plain;
SELECT rig_add_peer('p1', 'dbname=contrib_regression');
\echo :SQLSTATE
SELECT rig_follow('p1', 'dbname=contrib_regression');
\echo :SQLSTATE
-- a password in the conninfo that the server never asks for (trust)
SELECT rig_add_peer('p1', 'dbname=contrib_regression password=unused');
\echo :SQLSTATE
SELECT rig_follow('p1', 'dbname=contrib_regression password=unused');
\echo :SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rig_add_peer(text, text, text), rig_follow(text, text) FROM regress_rig_plain;
SELECT count(*) AS peers FROM rig.peers;
SELECT role FROM rig.node;

--
-- rig_follower_ack: any rig_reader may report a follower's position, but
-- only for a follower it registered: moving another's position would let
-- rig_compact remove what that follower has not pulled.
--
SELECT rig_follower_ack('regress_follower', 1);
SET ROLE regress_rig_reader;
SELECT rig_follower_ack('regress_follower', rig_last_version());
\echo :SQLSTATE
-- its own follower, but not past what this node has
SELECT rig_follower_ack('regress_reader_follower', rig_last_version() + 1000000);
\echo :SQLSTATE
SELECT rig_follower_ack('regress_reader_follower', 1);
SELECT rig_follower_ack('regress_reader_follower', 2);
RESET ROLE;
SELECT name, acked_version, registered_by FROM rig.followers
 WHERE name LIKE 'regress%' ORDER BY name;
DELETE FROM rig.followers WHERE name LIKE 'regress%';

--
-- A handler runs as its owner, never with code of the caller's: a
-- temporary table (any role may create one) named like the handler's
-- table, with a trigger, must not run as the owner.
--
CREATE FUNCTION p.add_note_unqualified(version bigint, data jsonb) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN INSERT INTO notes VALUES (version, data->>'body'); END $$;
SELECT rig_register('note_unqualified', 'p.add_note_unqualified(bigint,jsonb)');
SET ROLE regress_rig_writer;
SET search_path = p, public;
CREATE TEMP TABLE notes (version bigint, body text);
CREATE FUNCTION pg_temp.grab() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN EXECUTE 'ALTER ROLE regress_rig_writer SUPERUSER'; RETURN NEW; END $$;
CREATE TRIGGER grab BEFORE INSERT ON pg_temp.notes
	FOR EACH ROW EXECUTE FUNCTION pg_temp.grab();
-- (whether rig_do then refuses or writes p.notes is the fix's choice)
DO $$ BEGIN PERFORM rig_do('note_unqualified', '{"body": "shadowed"}');
EXCEPTION WHEN OTHERS THEN NULL; END $$;
RESET search_path;
RESET ROLE;
SELECT rolsuper AS writer_became_superuser FROM pg_roles WHERE rolname = 'regress_rig_writer';
ALTER ROLE regress_rig_writer NOSUPERUSER;
-- and the log says what the table holds (a peer applies the op to p.notes)
SELECT (SELECT count(*) FROM rig.log WHERE method = 'note_unqualified') =
       (SELECT count(*) FROM p.notes WHERE body = 'shadowed') AS table_matches_log;
DROP TABLE pg_temp.notes;
SELECT rig_unregister('note_unqualified');
-- a handler's own search_path must name pg_temp last, and so must rig's
CREATE FUNCTION p.add_note_path(version bigint, data jsonb) RETURNS void
	LANGUAGE sql SET search_path = p
AS $$ INSERT INTO notes VALUES (version, data->>'body') $$;
SELECT rig_register('note_path', 'p.add_note_path(bigint,jsonb)');
\echo :SQLSTATE
ALTER FUNCTION p.add_note_path(bigint, jsonb) SET search_path = p, pg_temp;
SELECT rig_register('note_path', 'p.add_note_path(bigint,jsonb)');
SELECT rig_do('note_path', '{"body": "through p"}') > 0 AS applied;
-- changed afterwards: refused when rig_do looks the handler up again
ALTER FUNCTION p.add_note_path(bigint, jsonb) SET search_path = pg_temp, p;
SELECT rig_do('note_path', '{"body": "refused"}');
\echo :SQLSTATE
SELECT count(*) AS notes_through_p FROM p.notes WHERE body IN ('through p', 'refused');
-- no handler runs in a session with temporary tables or types: whatever
-- the search_path, a name not found elsewhere would find them
CREATE TEMP TABLE scratch (x int);
SELECT rig_do('note', '{"body": "with a temp table"}');
\echo :SQLSTATE
DISCARD TEMP;
SELECT rig_do('note', '{"body": "after DISCARD TEMP"}') > 0 AS applied;
SELECT rig_unregister('note_path');
ALTER SYSTEM SET rig.handler_search_path = 'public';
SHOW rig.handler_search_path;

-- clean up: roles are cluster-wide
SELECT rig_unregister('note');
SELECT rig_unregister('note_invoker');
DROP SCHEMA p CASCADE;
DROP OWNED BY regress_rig_plain, regress_rig_reader, regress_rig_writer, regress_rig_writer2;
DROP ROLE regress_rig_plain, regress_rig_reader, regress_rig_writer, regress_rig_writer2;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname LIKE 'regress_rig%';
