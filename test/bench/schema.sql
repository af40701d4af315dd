-- test/bench/schema.sql: what the hand-written (non-rig) service writes.
--
-- Loaded on every bench node.  bench.users has exactly the columns of
-- metadata.users (examples/metadata.sql); its ids come from a sequence, as
-- a service without rig would do it, and bench.hash_password is
-- metadata.hash_password verbatim, so the direct INSERT hashes the password
-- the same way metadata.new_user() does before rig_do().

CREATE SCHEMA bench;

CREATE SEQUENCE bench.users_id_seq AS bigint;

CREATE TABLE bench.users (
	id				bigint PRIMARY KEY,
	email			text NOT NULL UNIQUE,
	name			text NOT NULL,
	password_salt	text NOT NULL,
	password_hash	text NOT NULL,
	created_at		timestamptz NOT NULL,
	updated_at		timestamptz NOT NULL,
	version			bigint NOT NULL
);

CREATE FUNCTION bench.hash_password(password text, salt text)
	RETURNS text LANGUAGE sql IMMUTABLE STRICT
AS $$
	SELECT encode(sha256(convert_to(salt || ':' || password, 'UTF8')), 'hex')
$$;
