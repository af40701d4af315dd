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
	LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, p
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
SELECT count(*) FROM rig.handlers;
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
-- an ordinary (SECURITY INVOKER) handler runs with the writer's privileges:
-- the writer may not insert into p.notes, so the op fails and nothing is logged
SELECT rig_do('note_invoker', '{"body": "invoker"}');
\echo :SQLSTATE
RESET ROLE;
SELECT count(*) AS rows FROM rig.log WHERE version = :by_writer;
SELECT method FROM rig.handlers WHERE method IN ('note', 'sneaky') ORDER BY 1;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();
SELECT count(*) AS invoker_notes FROM p.notes WHERE body = 'invoker';

--
-- EXECUTE on the handler functions: revoked from PUBLIC, rig_do fails with
-- 42501 for a role lacking it, and works again once it is granted.
--
SELECT * FROM p.counts() \gset before_
REVOKE EXECUTE ON FUNCTION p.add_note(bigint, jsonb) FROM PUBLIC;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "no execute on apply"}');
\echo :SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION p.add_note(bigint, jsonb) TO regress_rig_writer;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "execute granted"}') > 0 AS ran;
RESET ROLE;
-- the same for the validate and the resources handler
REVOKE EXECUTE ON FUNCTION p.check_note(jsonb) FROM PUBLIC;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "no execute on validate"}');
\echo :SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION p.check_note(jsonb) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION p.note_resources(jsonb) FROM PUBLIC;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "no execute on resources"}');
\echo :SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION p.note_resources(jsonb) TO PUBLIC;
-- the check is made for the role calling now, not the one that filled the
-- handler cache: a second writer without EXECUTE is refused right after the
-- first writer's op succeeded in the same session
SELECT rig_do('note', '{"body": "superuser again"}') > 0 AS ran;
SET ROLE regress_rig_writer2;
SELECT rig_do('note', '{"body": "writer2 lacks execute"}');
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "writer still has it"}') > 0 AS ran;
SET ROLE regress_rig_writer2;
SELECT rig_do('note', '{"body": "writer2 still lacks it"}');
\echo :SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION p.add_note(bigint, jsonb) FROM regress_rig_writer;
SET ROLE regress_rig_writer;
SELECT rig_do('note', '{"body": "revoked again"}');
\echo :SQLSTATE
RESET ROLE;
SELECT body FROM p.notes WHERE version > (SELECT max(version) FROM p.notes WHERE body = 'writer')
 ORDER BY version;
SELECT log_rows - :before_log_rows AS new_log_rows, notes - :before_notes AS new_notes
  FROM p.counts();

-- losing a role membership takes the right to run its handlers away at once
CREATE ROLE regress_rig_grp;
CREATE ROLE regress_rig_member LOGIN IN ROLE rig_writer;
CREATE FUNCTION p.grp_apply(version bigint, data jsonb) RETURNS void LANGUAGE sql
	SECURITY DEFINER AS $$ INSERT INTO p.notes (version, body) VALUES (version, data->>'body') $$;
REVOKE EXECUTE ON FUNCTION p.grp_apply(bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION p.grp_apply(bigint, jsonb) TO regress_rig_grp;
GRANT regress_rig_grp TO regress_rig_member;
SELECT rig_register('grp', 'p.grp_apply(bigint,jsonb)');
SET ROLE regress_rig_member;
SELECT rig_do('grp', '{"body": "member"}') > 0 AS ran;
RESET ROLE;
REVOKE regress_rig_grp FROM regress_rig_member;
SET ROLE regress_rig_member;
SELECT rig_do('grp', '{"body": "no longer a member"}');
\echo :SQLSTATE
RESET ROLE;
SELECT rig_unregister('grp');
DROP OWNED BY regress_rig_grp, regress_rig_member;
DROP ROLE regress_rig_grp, regress_rig_member;

-- clean up: roles are cluster-wide
SELECT rig_unregister('note');
SELECT rig_unregister('note_invoker');
DROP SCHEMA p CASCADE;
DROP OWNED BY regress_rig_plain, regress_rig_reader, regress_rig_writer, regress_rig_writer2;
DROP ROLE regress_rig_plain, regress_rig_reader, regress_rig_writer, regress_rig_writer2;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname LIKE 'regress_rig%';
