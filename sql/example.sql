--
-- example: the metadata service of examples/metadata.sql, end to end.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

\i examples/metadata.sql

SELECT method, apply, validate, resources FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method;
CREATE FUNCTION pg_temp.counts(OUT log_rows bigint, OUT users bigint)
	LANGUAGE sql AS $$ SELECT (SELECT count(*) FROM rig.log), (SELECT count(*) FROM metadata.users) $$;

--
-- user_create: the user's id is the version of its op, timestamps are the op_time
--
SELECT rig_do('user_create', metadata.new_user('Ada@Example.com', 'Ada', 's3cret')) AS ada \gset
SELECT rig_do('user_create', metadata.new_user('alan@example.com', 'Alan', 'enigma')) AS alan \gset
SELECT u.id = :ada AS id_is_version, u.email, u.name, u.version = :ada AS version,
       u.created_at = l.op_time AS created_at_is_op_time, u.updated_at = u.created_at AS updated_at
  FROM metadata.users u JOIN rig.log l ON l.version = u.id
 WHERE u.id = :ada;
SELECT id = :alan AS id_is_version, email, name FROM metadata.users WHERE id = :alan;
SELECT method, data ? 'email' AS has_email, data ? 'password_salt' AS has_salt,
       data ? 'password_hash' AS has_hash, data ? 'password' AS has_plaintext
  FROM rig.log WHERE version IN (:ada, :alan) ORDER BY version;

-- check_password
SELECT metadata.check_password('ada@example.com', 's3cret') AS right_password,
       metadata.check_password('ADA@example.com', 's3cret') AS email_case_insensitive,
       metadata.check_password('ada@example.com', 'S3cret') AS wrong_password,
       metadata.check_password('nobody@example.com', 's3cret') AS unknown_user;
-- the salt is random: the same password gives another hash for another user
SELECT rig_do('user_create', metadata.new_user('twin@example.com', 'Twin', 's3cret')) AS twin \gset
SELECT count(DISTINCT password_hash) AS distinct_hashes FROM metadata.users WHERE id IN (:ada, :twin);

-- the log never holds a plaintext password
SELECT count(*) AS log_rows_with_a_password
  FROM rig.log
 WHERE data::text LIKE ANY (ARRAY['%s3cret%', '%enigma%']) OR data ? 'password';

--
-- validation errors: nothing logged, nothing applied
--
SELECT * FROM pg_temp.counts() \gset before_
SELECT rig_do('user_create', metadata.new_user('not-an-email', 'Bad', 'pw'));
\echo :SQLSTATE
SELECT rig_do('user_create', metadata.new_user('two@at@example.com', 'Bad', 'pw'));
\echo :SQLSTATE
SELECT rig_do('user_create', metadata.new_user('noname@example.com', '', 'pw'));
\echo :SQLSTATE
SELECT rig_do('user_create', '{"email": "plain@example.com", "name": "Plain", "password": "hunter2"}');
\echo :SQLSTATE
SELECT rig_do('user_create', '{"email": "nohash@example.com", "name": "No hash"}');
\echo :SQLSTATE
SELECT rig_do('user_update', '{"id": "one", "name": "x"}');
\echo :SQLSTATE
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'password', 'hunter2'));
\echo :SQLSTATE
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'email', 'broken'));
\echo :SQLSTATE
-- duplicate email (emails are case-insensitive)
SELECT rig_do('user_create', metadata.new_user('ADA@example.com', 'Ada twin', 'pw'));
\echo :SQLSTATE
-- no such user
SELECT rig_do('user_update', '{"id": 999999999, "name": "ghost"}');
\echo :SQLSTATE
SELECT rig_do('user_delete', '{"id": 999999999}');
\echo :SQLSTATE
SELECT log_rows - :before_log_rows AS new_log_rows, users - :before_users AS new_users
  FROM pg_temp.counts();
SELECT count(*) AS log_rows_with_a_password FROM rig.log WHERE data::text LIKE '%hunter2%';

--
-- user_update
--
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'name', 'Ada Lovelace')) AS upd \gset
SELECT name, email, version = :upd AS version_is_update, id = :ada AS id_unchanged,
       updated_at = (SELECT op_time FROM rig.log WHERE version = :upd) AS updated_at_is_op_time,
       created_at < updated_at AS created_before_updated
  FROM metadata.users WHERE id = :ada;
-- a new password: data built with a fresh salt and hash, never the password
SELECT rig_do('user_update', jsonb_build_object('id', :ada) ||
              (metadata.new_user('-', '-', 'n3w-s3cret') - 'email' - 'name')) > 0 AS password_changed;
SELECT metadata.check_password('ada@example.com', 's3cret') AS old_password,
       metadata.check_password('ada@example.com', 'n3w-s3cret') AS new_password;
SELECT count(*) AS log_rows_with_a_password FROM rig.log WHERE data::text LIKE '%n3w-s3cret%';
-- an email change to an address another user holds is refused by the table
SELECT rig_do('user_update', jsonb_build_object('id', :ada, 'email', 'alan@example.com'));
\echo :SQLSTATE
SELECT email FROM metadata.users WHERE id = :ada;

--
-- user_delete
--
SELECT rig_do('user_delete', jsonb_build_object('id', :twin)) > 0 AS deleted;
SELECT count(*) AS twin_rows FROM metadata.users WHERE id = :twin;
SELECT metadata.check_password('twin@example.com', 's3cret') AS deleted_user_password;
-- deleting twice (the message names the user's id, which is a version:
-- only the SQLSTATE is printed, and the message is compared)
\set VERBOSITY sqlstate
SELECT rig_do('user_delete', jsonb_build_object('id', :twin));
\set VERBOSITY default
SELECT :'LAST_ERROR_MESSAGE' = format('user %s does not exist', :twin) AS message_names_the_id;

-- a retried create with an idempotency key creates the user once
SELECT metadata.new_user('grace@example.com', 'Grace', 'cobol') AS grace_data \gset
SELECT rig_do('user_create', :'grace_data', 'signup-grace') AS grace \gset
SELECT rig_do('user_create', :'grace_data', 'signup-grace') = :grace AS same_version;
SELECT count(*) AS grace_rows FROM metadata.users WHERE email = 'grace@example.com';

-- the users, as the log built them
SELECT id = version AS never_updated, email, name FROM metadata.users ORDER BY id;
SELECT method, count(*) FROM rig.log WHERE version >= :ada GROUP BY method ORDER BY method;

--
-- an application role writes through rig_do only
--
CREATE ROLE regress_rig_app LOGIN IN ROLE rig_writer;
SET ROLE regress_rig_app;
SELECT rig_do('user_create', metadata.new_user('app@example.com', 'App', 'pw')) AS app_user \gset
SELECT id = :app_user AS id_is_version, email FROM metadata.users WHERE id = :app_user;
INSERT INTO metadata.users VALUES (1, 'direct@example.com', 'Direct', 's', 'h', now(), now(), 1);
\echo :SQLSTATE
UPDATE metadata.users SET name = 'Mallory' WHERE id = :app_user;
\echo :SQLSTATE
DELETE FROM metadata.users WHERE id = :app_user;
\echo :SQLSTATE
-- nor by calling an apply handler itself
SELECT metadata.user_delete(0, jsonb_build_object('id', :app_user));
\echo :SQLSTATE
SELECT count(*) AS still_there FROM metadata.users WHERE id = :app_user;
RESET ROLE;
DROP OWNED BY regress_rig_app;
DROP ROLE regress_rig_app;

-- clean up
SELECT rig_unregister(method) FROM rig.handlers WHERE method NOT LIKE 'rig.%' ORDER BY method;
DROP SCHEMA metadata CASCADE;
