/* rig--0.1.sql: the first version of the rig extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION rig" to load this file. \quit

-- Refuse the wrong database (and an unloaded library) before creating anything.
CREATE FUNCTION rig_check_install() RETURNS void
	AS 'MODULE_PATHNAME', 'rig_check_install' LANGUAGE C STRICT;
SELECT rig_check_install();
DROP FUNCTION rig_check_install();

-- Roles.  They are cluster-wide, so they may exist from an earlier install.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rig_reader') THEN
		CREATE ROLE rig_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rig_writer') THEN
		CREATE ROLE rig_writer NOLOGIN IN ROLE rig_reader;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rig_replication') THEN
		CREATE ROLE rig_replication NOLOGIN IN ROLE rig_reader;
	END IF;
END
$$;

CREATE SCHEMA rig;
GRANT USAGE ON SCHEMA rig TO rig_reader;
COMMENT ON SCHEMA rig IS 'tables and views of the rig extension';

-- The operation log.  Append-only: rows come from rig_do() (or, on a
-- replica, from its primary) and leave only through rig_compact().
CREATE TABLE rig.log (
	version			bigint PRIMARY KEY,
	epoch			bigint NOT NULL,
	method			text NOT NULL,
	data			jsonb NOT NULL,
	idempotency_key	text UNIQUE,
	op_time			timestamptz NOT NULL,
	origin			text NOT NULL
);
COMMENT ON TABLE rig.log IS 'append-only log of every operation, in version order';
GRANT SELECT ON rig.log TO rig_reader;

-- Node-wide durable version counter: never goes backwards, even after a crash.
CREATE SEQUENCE rig.version_seq AS bigint MINVALUE 1 NO CYCLE;
COMMENT ON SEQUENCE rig.version_seq IS 'source of operation versions';

CREATE TABLE rig.handlers (
	method			text PRIMARY KEY,
	apply			regprocedure NOT NULL,
	validate		regprocedure,
	resources		regprocedure,
	registered_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.handlers IS 'handler functions registered for each method (rig_register)';
GRANT SELECT ON rig.handlers TO rig_reader;

-- This node: one row.
CREATE TABLE rig.node (
	singleton		bool PRIMARY KEY DEFAULT true CHECK (singleton),
	epoch			bigint NOT NULL DEFAULT 1,
	role			text NOT NULL DEFAULT 'primary' CHECK (role IN ('primary', 'replica')),
	primary_name	text
);
COMMENT ON TABLE rig.node IS 'this node''s role, epoch and primary';
INSERT INTO rig.node DEFAULT VALUES;
GRANT SELECT ON rig.node TO rig_reader;

-- History of epochs: (epoch, first version) pairs detect divergence at failover.
CREATE TABLE rig.epochs (
	epoch			bigint PRIMARY KEY,
	first_version	bigint NOT NULL,
	started_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.epochs IS 'each epoch this node knows and the first version written in it';
INSERT INTO rig.epochs (epoch, first_version) VALUES (1, 1);
GRANT SELECT ON rig.epochs TO rig_reader;

SELECT pg_catalog.pg_extension_config_dump('rig.log', '');
SELECT pg_catalog.pg_extension_config_dump('rig.handlers', '');
SELECT pg_catalog.pg_extension_config_dump('rig.node', '');
SELECT pg_catalog.pg_extension_config_dump('rig.epochs', '');
SELECT pg_catalog.pg_extension_config_dump('rig.version_seq', '');

CREATE FUNCTION rig.log_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'rig_log_guard' LANGUAGE C;
COMMENT ON FUNCTION rig.log_guard() IS 'refuses UPDATE, DELETE and TRUNCATE of rig.log outside rig_compact()';
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON rig.log
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON rig.log
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();

-- Handlers

CREATE FUNCTION rig_register(method text, apply regprocedure,
							 validate regprocedure DEFAULT NULL,
							 resources regprocedure DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_register'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_register(text, regprocedure, regprocedure, regprocedure) IS
	'register (or replace) the apply, validate and resources handlers of a method';

CREATE FUNCTION rig_unregister(method text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_unregister'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_unregister(text) IS 'remove a method''s handlers';

-- Writes

CREATE FUNCTION rig_do(method text, data jsonb DEFAULT '{}',
					   idempotency_key text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_do'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_do(text, jsonb, text) IS
	'validate, lock, version, log and apply an operation; returns its version';

CREATE FUNCTION rig_version()
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_version'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION rig_version() IS 'inside a handler: the version being applied';

CREATE FUNCTION rig_op_time()
	RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'rig_op_time'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION rig_op_time() IS
	'inside a handler: the primary''s timestamp of the op, the same on every node';

-- Log

CREATE FUNCTION rig_watermark()
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_watermark'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_watermark() IS
	'highest version V such that every version <= V is final';

CREATE FUNCTION rig_last_version()
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_last_version'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_last_version() IS 'highest committed version in rig.log (0 when empty)';

CREATE FUNCTION rig_log_since(after bigint, max_rows int DEFAULT 1000)
	RETURNS SETOF rig.log
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	wm bigint;
BEGIN
	IF max_rows < 0 THEN
		RAISE EXCEPTION 'max_rows must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'rig_log_since() requires the READ COMMITTED isolation level'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'The watermark must be read before the snapshot that reads the log.';
	END IF;
	-- the watermark first, then a fresh snapshot for the query below
	wm := rig_watermark();
	RETURN QUERY
		SELECT l.* FROM rig.log l
		 WHERE l.version > after AND l.version <= wm
		 ORDER BY l.version
		 LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION rig_log_since(bigint, int) IS
	'final log records after a version, in version order, never past the watermark';

CREATE FUNCTION rig_compact(before_version bigint)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_compact'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_compact(bigint) IS
	'delete final log records with version < before_version; returns how many';

-- Privileges: nothing that writes is open to PUBLIC.
REVOKE ALL ON FUNCTION rig_register(text, regprocedure, regprocedure, regprocedure) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_unregister(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_do(text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_compact(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_log_since(bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_do(text, jsonb, text) TO rig_writer;
GRANT EXECUTE ON FUNCTION rig_log_since(bigint, int) TO rig_reader;
