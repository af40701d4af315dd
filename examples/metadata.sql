-- examples/metadata.sql: the metadata service that motivated rig.
--
-- Load it after CREATE EXTENSION rig, on the primary and on every replica
-- (replicas must have the same handlers):
--
--     psql -d mydb -f examples/metadata.sql
--
-- Users are changed only through operations:
--
--     SELECT rig_do('user_create', metadata.new_user('ada@example.com', 'Ada', 's3cret'));
--     SELECT rig_do('user_update', '{"id": 1, "name": "Ada Lovelace"}');
--     SELECT rig_do('user_delete', '{"id": 1}');
--
-- Determinism: apply handlers run on every node and must compute the same
-- rows everywhere.  A user's id is the version of the op that created it,
-- timestamps come from rig_op_time(), and the password is hashed (with a
-- random salt) by metadata.new_user() *before* rig_do(), so the log holds
-- only the salt and the hash, and applying needs no randomness.

CREATE SCHEMA metadata;

CREATE TABLE metadata.users (
	id				bigint PRIMARY KEY,		-- version of the user_create op
	email			text NOT NULL UNIQUE,
	name			text NOT NULL,
	password_salt	text NOT NULL,
	password_hash	text NOT NULL,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	version			bigint NOT NULL			-- last op that changed the row
);

CREATE FUNCTION metadata.hash_password(password text, salt text)
	RETURNS text LANGUAGE sql IMMUTABLE STRICT
AS $$
	SELECT encode(sha256(convert_to(salt || ':' || password, 'UTF8')), 'hex')
$$;

-- Client-side helper: builds user_create data with a salted password hash.
-- (A production service would use a slow KDF such as pgcrypto's crypt().)
CREATE FUNCTION metadata.new_user(email text, name text, password text)
	RETURNS jsonb LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	salt text := md5(random()::text || clock_timestamp()::text);
BEGIN
	RETURN jsonb_build_object('email', email, 'name', name,
							  'password_salt', salt,
							  'password_hash', metadata.hash_password(password, salt));
END
$$;

-- Does this password match the stored hash?  (A read: no op needed.)
CREATE FUNCTION metadata.check_password(user_email text, password text)
	RETURNS boolean LANGUAGE sql STABLE
AS $$
	SELECT coalesce((SELECT u.password_hash = metadata.hash_password(password, u.password_salt)
					   FROM metadata.users u WHERE u.email = lower(user_email)), false)
$$;

-- user_create ----------------------------------------------------------

CREATE FUNCTION metadata.user_create_validate(data jsonb)
	RETURNS void LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF data ? 'password' THEN
		RAISE EXCEPTION 'user_create must not carry a plaintext password'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Build the data with metadata.new_user(email, name, password).';
	END IF;
	IF coalesce(data->>'email', '') !~ '^[^@\s]+@[^@\s]+$' THEN
		RAISE EXCEPTION 'invalid email address: %', coalesce(data->>'email', '(none)')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF coalesce(data->>'name', '') = '' THEN
		RAISE EXCEPTION 'a user needs a name' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF coalesce(data->>'password_hash', '') = '' OR coalesce(data->>'password_salt', '') = '' THEN
		RAISE EXCEPTION 'a user needs password_salt and password_hash'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

-- Handlers are PL/pgSQL: PostgreSQL 15 re-plans a LANGUAGE sql function in
-- every transaction, PL/pgSQL keeps its plans for the session.
CREATE FUNCTION metadata.user_create_resources(data jsonb)
	RETURNS text[] LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	RETURN ARRAY['user_email:' || lower(data->>'email')];
END
$$;

CREATE FUNCTION metadata.user_create(version bigint, data jsonb)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM metadata.users WHERE email = lower(data->>'email')) THEN
		RAISE EXCEPTION 'a user with email % already exists', lower(data->>'email')
			USING ERRCODE = 'unique_violation';
	END IF;
	INSERT INTO metadata.users (id, email, name, password_salt, password_hash,
								created_at, updated_at, version)
	VALUES (version, lower(data->>'email'), data->>'name', data->>'password_salt',
			data->>'password_hash', rig_op_time(), rig_op_time(), version);
END
$$;

-- user_update ----------------------------------------------------------

CREATE FUNCTION metadata.user_update_validate(data jsonb)
	RETURNS void LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF jsonb_typeof(data->'id') IS DISTINCT FROM 'number' THEN
		RAISE EXCEPTION 'user_update needs a numeric id' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF data ? 'password' THEN
		RAISE EXCEPTION 'user_update must not carry a plaintext password'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF data ? 'email' AND coalesce(data->>'email', '') !~ '^[^@\s]+@[^@\s]+$' THEN
		RAISE EXCEPTION 'invalid email address: %', data->>'email'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

CREATE FUNCTION metadata.user_update_resources(data jsonb)
	RETURNS text[] LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF data ? 'email' THEN
		RETURN ARRAY['user:' || (data->>'id'), 'user_email:' || lower(data->>'email')];
	END IF;
	RETURN ARRAY['user:' || (data->>'id')];
END
$$;

CREATE FUNCTION metadata.user_update(version bigint, data jsonb)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	UPDATE metadata.users
	   SET name = coalesce(data->>'name', name),
		   email = coalesce(lower(data->>'email'), email),
		   password_salt = coalesce(data->>'password_salt', password_salt),
		   password_hash = coalesce(data->>'password_hash', password_hash),
		   updated_at = rig_op_time(),
		   version = user_update.version
	 WHERE id = (data->>'id')::bigint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', data->>'id' USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

-- user_delete ----------------------------------------------------------

CREATE FUNCTION metadata.user_delete_resources(data jsonb)
	RETURNS text[] LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	RETURN ARRAY['user:' || (data->>'id')];
END
$$;

CREATE FUNCTION metadata.user_delete(version bigint, data jsonb)
	RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	DELETE FROM metadata.users WHERE id = (data->>'id')::bigint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', data->>'id' USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

SELECT rig_register('user_create', 'metadata.user_create(bigint,jsonb)',
					'metadata.user_create_validate(jsonb)',
					'metadata.user_create_resources(jsonb)');
SELECT rig_register('user_update', 'metadata.user_update(bigint,jsonb)',
					'metadata.user_update_validate(jsonb)',
					'metadata.user_update_resources(jsonb)');
SELECT rig_register('user_delete', 'metadata.user_delete(bigint,jsonb)',
					NULL,
					'metadata.user_delete_resources(jsonb)');

-- Applications write through rig_do() only: grant them rig_writer and
-- SELECT on the tables, never INSERT / UPDATE / DELETE.  rig runs the
-- handlers as their owner (the role that loaded this file, which may write
-- the table), and rig_register() revoked EXECUTE on the apply handlers
-- from PUBLIC, so no application can call them around the log.  A fixed
-- search_path (pg_temp last: they run as their owner) makes them
-- independent of the caller's settings and safe from its temporary objects.
ALTER FUNCTION metadata.user_create(bigint, jsonb) SET search_path = pg_catalog, metadata, pg_temp;
ALTER FUNCTION metadata.user_update(bigint, jsonb) SET search_path = pg_catalog, metadata, pg_temp;
ALTER FUNCTION metadata.user_delete(bigint, jsonb) SET search_path = pg_catalog, metadata, pg_temp;
GRANT USAGE ON SCHEMA metadata TO rig_writer;
GRANT SELECT ON metadata.users TO rig_writer;
