/* rig--1.0--1.1.sql: update rig 1.0 to 1.1 (the objects a fresh 1.1 install creates; TAP 034 compares them) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION rig UPDATE TO '1.1'" to load this file. \quit

-- State tables: the tables the handlers own.  Only a handler under
-- rig_do() (or a peer's apply) or a superuser with rig.maintenance = on
-- may change them.  Registration is local to each node.
CREATE TABLE rig.tables (
	relation		regclass PRIMARY KEY,
	registered_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.tables IS 'state tables of the handlers (rig_register_table): changed only through rig_do() and peers'' apply';
GRANT SELECT ON rig.tables TO rig_reader;
SELECT pg_catalog.pg_extension_config_dump('rig.tables', '');
CREATE TRIGGER tables_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rig.tables
	FOR EACH STATEMENT EXECUTE FUNCTION rig.invalidate_caches();

CREATE FUNCTION rig_register_table(tbl regclass)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_register_table'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_register_table(regclass) IS
	'make a table a state table: from now on only handlers (rig_do, peers'' apply) may change it, on this node';

CREATE FUNCTION rig_unregister_table(tbl regclass)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_unregister_table'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_unregister_table(regclass) IS
	'let a state table be changed outside the handlers again, on this node';

CREATE FUNCTION rig_rebuild(progress_every bigint DEFAULT 0)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_rebuild'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_rebuild(bigint) IS
	'empty the registered tables and apply the whole log again through the handlers, in one transaction (a NOTICE every progress_every operations); returns how many';

-- rigctl import: one exported record, with its version, epoch and op time,
-- applied through the handlers on a standalone primary (superuser only).
CREATE FUNCTION rig_import(version bigint, epoch bigint, method text, data jsonb,
						   idempotency_key text, op_time timestamptz, origin text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'rig_import'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_import(bigint, bigint, text, jsonb, text, timestamptz, text) IS
	'append an exported log record with its version, epoch and op time and apply it (rigctl import); false when this node holds it already';

-- Registered tables are compared by primary-key ranges: both nodes hash
-- the rows of a range in buckets split at keys the comparing node chose.
-- Rows print alike on both nodes (fixed TimeZone, DateStyle, ...).
CREATE FUNCTION rig_table_range_hashes(relation text, lo text[], hi text[], bounds text[],
									   OUT bucket int, OUT n bigint, OUT hash text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'rig_table_range_hashes'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	SET IntervalStyle = 'postgres'
	SET extra_float_digits = 1
	SET bytea_output = 'hex';
COMMENT ON FUNCTION rig_table_range_hashes(text, text[], text[], text[]) IS
	'hashes of a registered table''s rows with keys in [lo, hi), in buckets split at bounds (rig_verify_peer compares them)';

CREATE FUNCTION rig_table_key_bounds(relation text, lo text[], hi text[], buckets int,
									 OUT n bigint, OUT key text[])
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'rig_table_key_bounds'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	SET IntervalStyle = 'postgres'
	SET extra_float_digits = 1
	SET bytea_output = 'hex';
COMMENT ON FUNCTION rig_table_key_bounds(text, text[], text[], int) IS
	'keys that split a registered table''s rows in [lo, hi) into even buckets, and how many rows it holds there';

COMMENT ON FUNCTION rig_verify_peer(text) IS
	'compare a peer''s log, handlers and registered tables with this node''s (the log up to the lower watermark, the tables at one version both hold); one row per difference, none when identical';

-- Privileges
REVOKE ALL ON FUNCTION rig_table_range_hashes(text, text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_table_range_hashes(text, text[], text[], text[]) TO rig_replication;
REVOKE ALL ON FUNCTION rig_table_key_bounds(text, text[], text[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_register_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_unregister_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_rebuild(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_import(bigint, bigint, text, jsonb, text, timestamptz, text) FROM PUBLIC;
