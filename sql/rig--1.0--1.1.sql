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

-- Snapshots of the state tables (rig_snapshot): every version <= watermark
-- plus the later versions in included, rows in chunks of jsonb arrays in
-- primary-key order (the tables' chunks, then the idempotency keys of the
-- versions <= watermark), each with the md5 of its text.  A node being
-- bootstrapped holds an incomplete one until its state hash checked.
-- They hold the tables' contents: no grants at all.
CREATE SEQUENCE rig.snapshot_seq AS bigint MINVALUE 1 NO CYCLE;
COMMENT ON SEQUENCE rig.snapshot_seq IS 'source of snapshot ids';
REVOKE ALL ON SEQUENCE rig.snapshot_seq FROM PUBLIC;
CREATE TABLE rig.snapshots (
	id					bigint PRIMARY KEY,
	watermark			bigint NOT NULL,
	included			bigint[] NOT NULL,
	state_hash			text NOT NULL,
	handler_fingerprint	text NOT NULL,
	tables				text[] NOT NULL,
	chunks				int NOT NULL,
	complete			bool NOT NULL,
	node				text NOT NULL,
	taken_at			timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.snapshots IS 'snapshots of the state tables (rig_snapshot): every version up to watermark plus the included later ones; superuser only';
REVOKE ALL ON rig.snapshots FROM PUBLIC;
CREATE TABLE rig.snapshot_chunks (
	snapshot_id		bigint NOT NULL REFERENCES rig.snapshots ON DELETE CASCADE,
	chunk			int NOT NULL,
	relation		text NOT NULL,
	nrows			int NOT NULL,
	rows			jsonb NOT NULL,
	checksum		text NOT NULL,
	loaded_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (snapshot_id, chunk)
);
COMMENT ON TABLE rig.snapshot_chunks IS 'the rows of each snapshot, a jsonb array per chunk with the md5 of its text; superuser only';
REVOKE ALL ON rig.snapshot_chunks FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rig.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('rig.snapshot_chunks', '');
SELECT pg_catalog.pg_extension_config_dump('rig.snapshot_seq', '');

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

-- Handler and schema changes through the log (sysrec.c, ddl.c): rig_ddl
-- writes a rig.ddl record; rig_register and rig_unregister (1.0's
-- functions, the same C symbols) write rig.register / rig.unregister.
CREATE FUNCTION rig_ddl(sql text)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_ddl'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_ddl(text) IS
	'run transactional DDL on this primary and on every peer at one version (a barrier in the log); returns its version';

CREATE FUNCTION rig_rebuild(progress_every bigint DEFAULT 0)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_rebuild'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_rebuild(bigint) IS
	'empty the registered tables and apply the whole log again through the handlers, in one transaction (a NOTICE every progress_every operations); returns how many';

CREATE FUNCTION rig_snapshot(chunk_rows int DEFAULT 1000)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_snapshot'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_snapshot(int) IS
	'store a consistent snapshot of the registered tables (and idempotency keys) without blocking writers, in chunks of chunk_rows rows; returns its id';

-- A new node bootstrapped from a snapshot (rig_add_peer of an empty node
-- whose needed records were compacted): called by the primary on it.
CREATE FUNCTION rig_bootstrap_state(OUT snapshot_id bigint, OUT complete bool, OUT next_chunk int,
									OUT last_version bigint, OUT compacted_below bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'rig_bootstrap_state'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_bootstrap_state() IS
	'this node''s bootstrap from a snapshot: the latest snapshot it holds, whether complete, the next chunk it needs';
CREATE FUNCTION rig_bootstrap_begin(snapshot jsonb)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_bootstrap_begin'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_bootstrap_begin(jsonb) IS
	'start (or go on with) loading a primary''s snapshot into this empty replica';
CREATE FUNCTION rig_bootstrap_chunk(snapshot_id bigint, chunk int, relation text, nrows int,
									rows text, checksum text)
	RETURNS bool
	AS 'MODULE_PATHNAME', 'rig_bootstrap_chunk'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_bootstrap_chunk(bigint, int, text, int, text, text) IS
	'load one chunk of a snapshot after checking its checksum; false when it was loaded already';
CREATE FUNCTION rig_bootstrap_record(version bigint, epoch bigint, method text, data jsonb,
									 idempotency_key text, op_time timestamptz, origin text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_bootstrap_record'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_bootstrap_record(bigint, bigint, text, jsonb, text, timestamptz, text) IS
	'record (without applying) a log record the snapshot being loaded already holds';
CREATE FUNCTION rig_bootstrap_finish(snapshot_id bigint)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_bootstrap_finish'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_bootstrap_finish(bigint) IS
	'check the loaded tables against the snapshot''s state hash and complete the bootstrap; returns the snapshot''s watermark';

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
	SET bytea_output = 'hex'
	SET lc_monetary = 'C';
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
	SET bytea_output = 'hex'
	SET lc_monetary = 'C';
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
REVOKE ALL ON FUNCTION rig_ddl(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_rebuild(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_snapshot(int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_bootstrap_state() FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_bootstrap_begin(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_bootstrap_chunk(bigint, int, text, int, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_bootstrap_record(bigint, bigint, text, jsonb, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_bootstrap_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_bootstrap_state() TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_bootstrap_begin(jsonb) TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_bootstrap_chunk(bigint, int, text, int, text, text) TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_bootstrap_record(bigint, bigint, text, jsonb, text, timestamptz, text) TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_bootstrap_finish(bigint) TO rig_replication;
REVOKE ALL ON FUNCTION rig_import(bigint, bigint, text, jsonb, text, timestamptz, text) FROM PUBLIC;

-- Transactions across nodes (issue 12)
-- Other rig primaries this node may run transaction branches on
-- (rig_add_node).  Written only by the handlers of rig.node.add and
-- rig.node.drop, so a peer (a replica that may be promoted) holds the same
-- nodes; the op carries the conninfo without its password, which stays in
-- this node's row only.  conninfo: readers see the names only.
CREATE TABLE rig.remote_nodes (
	name			text PRIMARY KEY,
	conninfo		text NOT NULL,
	added_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.remote_nodes IS 'rig primaries this node runs transaction branches on, kept by the ops of rig_add_node and rig_drop_node (conninfo: superuser only; a password stays on the node it was given to)';
REVOKE ALL ON rig.remote_nodes FROM PUBLIC;
GRANT SELECT (name, added_at) ON rig.remote_nodes TO rig_reader;

-- Transactions across nodes (coord.c).  Both tables are written only by
-- the handlers of the reserved methods rig.transaction.start and
-- rig.transaction.event, so every change is an op in this node's log and
-- reaches its peers.  A transaction's id is the version of its start op.
CREATE TABLE rig.transactions (
	id				bigint PRIMARY KEY,
	state			text NOT NULL CHECK (state IN ('preparing', 'committing', 'committed',
												   'aborting', 'aborted', 'failed')),
	reason			text CHECK (reason IN ('timeout', 'branch', 'client')),
	reason_branch	int,
	reason_detail	text,
	created			timestamptz NOT NULL,
	deadline		timestamptz NOT NULL,
	finished		timestamptz,
	branch_count	int NOT NULL,
	idempotency_key	text,
	coordinator		text NOT NULL,
	branches		jsonb NOT NULL
);
-- the coordinator reads the unfinished ones each pass; a client's key finds its transaction
CREATE INDEX transactions_unfinished ON rig.transactions (id)
	WHERE state IN ('preparing', 'committing', 'aborting');
CREATE UNIQUE INDEX transactions_key ON rig.transactions (idempotency_key);
COMMENT ON TABLE rig.transactions IS 'transactions across nodes this node coordinates (or coordinated, before a failover): state, abort or failure reason, deadline, branches';
GRANT SELECT ON rig.transactions TO rig_reader;

CREATE TABLE rig.transaction_events (
	id				bigint NOT NULL,
	seq				int NOT NULL,
	event			text NOT NULL,
	branch			int,
	detail			text,
	at				timestamptz NOT NULL,
	version			bigint NOT NULL,
	PRIMARY KEY (id, seq)
);
COMMENT ON TABLE rig.transaction_events IS 'the history of each transaction across nodes: seq numbers its events in order (1 is started), version is the op that recorded the event (one op records all of one pass''s events of the transaction)';
GRANT SELECT ON rig.transaction_events TO rig_reader;

-- Transactions across nodes: the reserved methods whose ops carry the
-- coordinator's state (coord.c).  Only rig itself may run rig.transaction.start
-- and rig.transaction.event; rig.transaction.claim, a no-op that binds an
-- idempotency key, is run on branch nodes by a coordinator's abort.
-- The handlers on the path of every transaction are PL/pgSQL, not SQL: rig
-- calls them directly, and a SQL function is parsed and planned again in
-- each (sub)transaction.
CREATE FUNCTION rig.transaction_start_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO rig.transactions (id, state, created, deadline, branch_count,
								  idempotency_key, coordinator, branches)
	VALUES (version, 'preparing', rig_op_time(),
			rig_op_time() + (data->>'timeout_ms')::bigint * interval '1 millisecond',
			jsonb_array_length(data->'branches'), data->>'key', data->>'coordinator',
			data->'branches');
	INSERT INTO rig.transaction_events (id, seq, event, at, version)
	VALUES (version, 1, 'started', rig_op_time(), version);
END
$$;

-- The events of a transaction one op records: data is one event
-- {transaction, event, branch, detail, state, reason, ...} (a client's
-- abort, an operator's resolve) or {transaction, events: [event, ...]}
-- (the coordinator's pass: answers, then the decision they allow).  A
-- transition the state machine does not have is refused (the same on every
-- node: the ops apply in version order), so a client abort and the
-- coordinator's decision cannot both win.
CREATE FUNCTION rig.transaction_event_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	txn			bigint := (data->>'transaction')::bigint;
	cur			text;
	n			int;
	ev			jsonb;
	new_state	text;
BEGIN
	SELECT t.state INTO cur FROM rig.transactions t WHERE t.id = txn FOR UPDATE;
	IF cur IS NULL THEN
		RAISE EXCEPTION 'transaction % does not exist', txn USING ERRCODE = '42704';
	END IF;
	SELECT coalesce(max(e.seq), 0) INTO n FROM rig.transaction_events e WHERE e.id = txn;
	FOR ev IN SELECT x FROM jsonb_array_elements(CASE WHEN data ? 'events' THEN data->'events'
													 ELSE jsonb_build_array(data) END) x
	LOOP
		new_state := ev->>'state';
		IF new_state IS NOT NULL THEN
			IF new_state = 'aborting' AND cur IN ('committing', 'committed', 'failed') THEN
				RAISE EXCEPTION 'transaction % is %: too late to abort', txn, cur
					USING ERRCODE = '55000',
						  DETAIL = 'Every branch voted yes and the coordinator decided to commit.';
			END IF;
			IF NOT ((cur = 'preparing' AND new_state IN ('committing', 'aborting')) OR
					(cur = 'committing' AND new_state IN ('committed', 'failed')) OR
					(cur = 'aborting' AND new_state IN ('aborted', 'failed')) OR
					-- an operator's settlement (rig_transaction_resolve)
					(cur = 'failed' AND new_state IN ('committed', 'aborted') AND
					 ev->>'event' = 'resolved')) THEN
				RAISE EXCEPTION 'transaction % is %: it cannot become %', txn, cur, new_state
					USING ERRCODE = '55000';
			END IF;
			UPDATE rig.transactions t
			   SET state = new_state,
				   reason = coalesce(ev->>'reason', t.reason),
				   reason_branch = coalesce((ev->>'reason_branch')::int, t.reason_branch),
				   reason_detail = coalesce(ev->>'reason_detail', t.reason_detail),
				   finished = CASE WHEN new_state IN ('committed', 'aborted', 'failed')
								   THEN rig_op_time() END
			 WHERE t.id = txn;
			cur := new_state;
		END IF;
		n := n + 1;
		INSERT INTO rig.transaction_events (id, seq, event, branch, detail, at, version)
		VALUES (txn, n, ev->>'event', (ev->>'branch')::int, ev->>'detail', rig_op_time(), version);
	END LOOP;
END
$$;

-- Events of one transaction are ordered by a lock on it.
CREATE FUNCTION rig.transaction_event_resources(data jsonb)
	RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN ARRAY['rig.transaction:' || (data->>'transaction')];
END
$$;

-- A no-op: what matters is the idempotency key it binds.
CREATE FUNCTION rig.transaction_claim_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NULL;
END
$$;

-- Remove final transactions (committed, aborted) that finished before
-- data->>'before', with their events (rig_transaction_prune).  Every node
-- applies it to the same state, so peers remove the same ones.
CREATE FUNCTION rig.transaction_prune_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM rig.transaction_events e USING rig.transactions t
	 WHERE e.id = t.id AND t.state IN ('committed', 'aborted')
	   AND t.finished < (data->>'before')::timestamptz;
	DELETE FROM rig.transactions t
	 WHERE t.state IN ('committed', 'aborted')
	   AND t.finished < (data->>'before')::timestamptz;
$$;

-- The nodes branches run on (rig_add_node, rig_drop_node): ops, so this
-- node's peers hold them too.  The conninfo has no password (xnode.c).
CREATE FUNCTION rig.node_add_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO rig.remote_nodes (name, conninfo, added_at)
	VALUES (data->>'name', data->>'conninfo', rig_op_time());
$$;

CREATE FUNCTION rig.node_drop_apply(version bigint, data jsonb)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM rig.remote_nodes WHERE name = data->>'name';
$$;

-- Ops on one node are ordered by a lock on its name.
CREATE FUNCTION rig.node_resources(data jsonb)
	RETURNS text[]
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['rig.node:' || (data->>'name')]
$$;

COMMENT ON FUNCTION rig.transaction_start_apply(bigint, jsonb) IS
	'apply handler of rig.transaction.start: a new transaction across nodes, preparing';
COMMENT ON FUNCTION rig.transaction_event_apply(bigint, jsonb) IS
	'apply handler of rig.transaction.event: events of a transaction across nodes (one, or a pass''s list) and their state transitions';
COMMENT ON FUNCTION rig.transaction_event_resources(jsonb) IS
	'resources of rig.transaction.event: the transaction';
COMMENT ON FUNCTION rig.transaction_claim_apply(bigint, jsonb) IS
	'apply handler of rig.transaction.claim: nothing (the op binds an abandoned prepare''s idempotency key)';
COMMENT ON FUNCTION rig.transaction_prune_apply(bigint, jsonb) IS
	'apply handler of rig.transaction.prune: removes committed and aborted transactions finished before data->>''before'', and their events';
COMMENT ON FUNCTION rig.node_add_apply(bigint, jsonb) IS
	'apply handler of rig.node.add: registers a node transaction branches run on (its conninfo without a password)';
COMMENT ON FUNCTION rig.node_drop_apply(bigint, jsonb) IS
	'apply handler of rig.node.drop: forgets a node transaction branches run on';
COMMENT ON FUNCTION rig.node_resources(jsonb) IS
	'resources of rig.node.add and rig.node.drop: the node''s name';

SELECT rig_register('rig.transaction.start', 'rig.transaction_start_apply(bigint, jsonb)');
SELECT rig_register('rig.transaction.event', 'rig.transaction_event_apply(bigint, jsonb)',
					NULL, 'rig.transaction_event_resources(jsonb)');
SELECT rig_register('rig.transaction.claim', 'rig.transaction_claim_apply(bigint, jsonb)');
SELECT rig_register('rig.transaction.prune', 'rig.transaction_prune_apply(bigint, jsonb)');
SELECT rig_register('rig.node.add', 'rig.node_add_apply(bigint, jsonb)',
					NULL, 'rig.node_resources(jsonb)');
SELECT rig_register('rig.node.drop', 'rig.node_drop_apply(bigint, jsonb)',
					NULL, 'rig.node_resources(jsonb)');

-- Transactions across nodes

CREATE FUNCTION rig_add_node(name text, conninfo text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_add_node'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_add_node(text, text) IS
	'register another rig primary as a target of transaction branches (its role needs rig_writer there)';

CREATE FUNCTION rig_drop_node(name text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_drop_node'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_drop_node(text) IS 'forget a node registered with rig_add_node';

CREATE FUNCTION rig_transaction_start(branches jsonb, timeout interval DEFAULT NULL,
									  idempotency_key text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_transaction_start'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_transaction_start(jsonb, interval, text) IS
	'start a transaction across nodes (each branch: node, prepare, commit, abort, data); returns its id, the worker drives it';

CREATE FUNCTION rig_transaction_wait(id bigint, timeout interval DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'rig_transaction_wait'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_transaction_wait(bigint, interval) IS
	'wait until a transaction across nodes is committed, aborted or failed, or the timeout passes; returns its state';

CREATE FUNCTION rig_transaction_abort(id bigint, reason text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'rig_transaction_abort'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_transaction_abort(bigint, text) IS
	'abort a transaction across nodes that is still preparing; returns its new state';

CREATE FUNCTION rig_transaction_resolve(id bigint, outcome text, note text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'rig_transaction_resolve'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_transaction_resolve(bigint, text, text) IS
	'settle a failed transaction across nodes after manual remediation: outcome committed or aborted, with a note; returns the new state';

CREATE FUNCTION rig_transaction_prune(older_than interval)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_transaction_prune'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_transaction_prune(interval) IS
	'remove committed and aborted transactions across nodes that finished longer ago than older_than, and their events, on this node and its peers; returns how many';

REVOKE ALL ON FUNCTION rig_add_node(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_drop_node(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_transaction_start(jsonb, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_transaction_abort(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_transaction_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_transaction_resolve(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_transaction_prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_transaction_start(jsonb, interval, text) TO rig_writer;
GRANT EXECUTE ON FUNCTION rig_transaction_abort(bigint, text) TO rig_writer;
GRANT EXECUTE ON FUNCTION rig_transaction_wait(bigint, interval) TO rig_reader;

-- rig.in_doubt: a GID whose numbers are too long for a bigint (any role may
-- prepare one) shows NULL versions instead of failing the view
CREATE OR REPLACE VIEW rig.in_doubt AS
	SELECT p.gid, v[1]::bigint AS first_version, v[2]::bigint AS last_version,
		   p.database, p.owner, p.prepared, now() - p.prepared AS age
	  FROM pg_catalog.pg_prepared_xacts p,
		   LATERAL regexp_match(p.gid, '_(\d{1,18})_(\d{1,18})$') v
	 WHERE p.gid LIKE 'rig\_%';

-- the handlers' fingerprints print their definitions alike in every
-- session: quote_all_identifiers = on in a caller's session made them
-- differ from a peer's (rig_add_peer refused it, a snapshot taken so
-- refused every bootstrap from it)
ALTER FUNCTION rig_handler_fingerprints() SET quote_all_identifiers = off;
