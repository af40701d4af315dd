/* rig--1.1.sql: rig 1.1 (a fresh install; rig--1.0--1.1.sql updates 1.0 to the same objects) */

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

-- Idempotency keys, kept apart from the log so that they outlive its
-- compaction: each key names the op it was first used for (method and a
-- hash of its data), on every node.
CREATE TABLE rig.idempotency_keys (
	idempotency_key	text PRIMARY KEY,
	version			bigint NOT NULL,
	method			text NOT NULL,
	data_hash		bigint NOT NULL,
	op_time			timestamptz NOT NULL
);
COMMENT ON TABLE rig.idempotency_keys IS
	'every idempotency key used and the op it names; outlives compaction of rig.log (rig.key_retention)';
GRANT SELECT ON rig.idempotency_keys TO rig_reader;

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

-- State tables: the tables the handlers own.  Only a handler under
-- rig_do() (or a peer's apply) or a superuser with rig.maintenance = on
-- may change them.  Registration is local to each node.
CREATE TABLE rig.tables (
	relation		regclass PRIMARY KEY,
	registered_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.tables IS 'state tables of the handlers (rig_register_table): changed only through rig_do() and peers'' apply';
GRANT SELECT ON rig.tables TO rig_reader;

-- This node: one row.
CREATE TABLE rig.node (
	singleton		bool PRIMARY KEY DEFAULT true CHECK (singleton),
	epoch			bigint NOT NULL DEFAULT 1,
	role			text NOT NULL DEFAULT 'primary' CHECK (role IN ('primary', 'replica', 'promoting', 'fenced')),
	primary_name	text,
	compacted_below	bigint NOT NULL DEFAULT 1
);
COMMENT ON TABLE rig.node IS 'this node''s role, epoch, primary, and the lowest version its log may still hold';
INSERT INTO rig.node DEFAULT VALUES;
GRANT SELECT ON rig.node TO rig_reader;

-- History of epochs: (epoch, first version) pairs detect divergence at failover.
-- node: the primary of the epoch (rig_promote() records itself; NULL for
-- the first epoch, which had no promotion).
CREATE TABLE rig.epochs (
	epoch			bigint PRIMARY KEY,
	first_version	bigint NOT NULL,
	node			text,
	started_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.epochs IS 'each epoch this node knows, the first version written in it, its primary (NULL: the first epoch) and when it started';
INSERT INTO rig.epochs (epoch, first_version) VALUES (1, 1);
GRANT SELECT ON rig.epochs TO rig_reader;

-- Peers of this primary.  conninfo may hold a password: no grants at all.
CREATE TABLE rig.peers (
	name			text PRIMARY KEY,
	conninfo		text NOT NULL,
	mode			text NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'semisync', 'async')),
	added_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rig.peers IS 'replicas this primary commits on (superuser only: conninfo may hold passwords)';
REVOKE ALL ON rig.peers FROM PUBLIC;

-- The primary an async follower pulls from (rig_follow).  Superuser only.
CREATE TABLE rig.follow_source (
	primary_name	text PRIMARY KEY,
	conninfo		text NOT NULL
);
COMMENT ON TABLE rig.follow_source IS 'the primary this follower pulls rig_log_since from (superuser only)';
REVOKE ALL ON rig.follow_source FROM PUBLIC;

-- Followers of this primary and how far they pulled (rig_follower_ack):
-- compaction keeps what they lack, within rig.follower_max_lag.
-- A follower's row belongs to the role that registered it: another
-- rig_reader cannot move its position and so let compaction take what it lacks.
CREATE TABLE rig.followers (
	name			text PRIMARY KEY,
	acked_version	bigint NOT NULL,
	last_seen		timestamptz NOT NULL,
	registered_by	name NOT NULL
);
COMMENT ON TABLE rig.followers IS 'followers that pull this node''s log and the version each holds everything up to';
GRANT SELECT ON rig.followers TO rig_reader;

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

-- The commit gate: every committing rig transaction holds it in ROW SHARE
-- mode from PRE_COMMIT to the end; rig_add_peer / rig_drop_peer /
-- rig_set_peer_mode take it EXCLUSIVE so no commit straddles a peer change.
CREATE TABLE rig.commit_gate ();
COMMENT ON TABLE rig.commit_gate IS 'lock target only: serializes peer changes against commits';

SELECT pg_catalog.pg_extension_config_dump('rig.log', '');
SELECT pg_catalog.pg_extension_config_dump('rig.idempotency_keys', '');
SELECT pg_catalog.pg_extension_config_dump('rig.peers', '');
SELECT pg_catalog.pg_extension_config_dump('rig.follow_source', '');
SELECT pg_catalog.pg_extension_config_dump('rig.followers', '');
SELECT pg_catalog.pg_extension_config_dump('rig.handlers', '');
SELECT pg_catalog.pg_extension_config_dump('rig.tables', '');
SELECT pg_catalog.pg_extension_config_dump('rig.node', '');
SELECT pg_catalog.pg_extension_config_dump('rig.epochs', '');
SELECT pg_catalog.pg_extension_config_dump('rig.version_seq', '');

CREATE FUNCTION rig.log_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'rig_log_guard' LANGUAGE C;
COMMENT ON FUNCTION rig.log_guard() IS 'refuses UPDATE, DELETE and TRUNCATE of rig.log and rig.idempotency_keys outside rig_compact()';
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON rig.log
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON rig.log
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();
CREATE TRIGGER keys_append_only BEFORE UPDATE OR DELETE ON rig.idempotency_keys
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();
CREATE TRIGGER keys_no_truncate BEFORE TRUNCATE ON rig.idempotency_keys
	FOR EACH STATEMENT EXECUTE FUNCTION rig.log_guard();

-- Direct changes to rig's own tables (by a superuser) reach every
-- session's caches too.
CREATE FUNCTION rig.invalidate_caches() RETURNS trigger
	AS 'MODULE_PATHNAME', 'rig_invalidate_caches' LANGUAGE C;
COMMENT ON FUNCTION rig.invalidate_caches() IS 'sends a cache invalidation for the changed rig table';
CREATE TRIGGER handlers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rig.handlers
	FOR EACH STATEMENT EXECUTE FUNCTION rig.invalidate_caches();
CREATE TRIGGER tables_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rig.tables
	FOR EACH STATEMENT EXECUTE FUNCTION rig.invalidate_caches();
CREATE TRIGGER node_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rig.node
	FOR EACH STATEMENT EXECUTE FUNCTION rig.invalidate_caches();
CREATE TRIGGER peers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rig.peers
	FOR EACH STATEMENT EXECUTE FUNCTION rig.invalidate_caches();

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

CREATE FUNCTION rig_ddl(sql text)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_ddl'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_ddl(text) IS
	'run transactional DDL on this primary and on every peer at one version (a barrier in the log); returns its version';

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

-- Writes

CREATE FUNCTION rig_do(method text, data jsonb DEFAULT '{}',
					   idempotency_key text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_do'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_do(text, jsonb, text) IS
	'validate, lock, version, log and apply an operation; returns its version';

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
	AS 'MODULE_PATHNAME', 'rig_log_since'
	LANGUAGE C VOLATILE STRICT ROWS 1000;
COMMENT ON FUNCTION rig_log_since(bigint, int) IS
	'final log records after a version, in version order, never past the watermark';

CREATE FUNCTION rig_compact(before_version bigint)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_compact'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_compact(bigint) IS
	'delete final log records with version < before_version that no peer or follower needs; returns how many';

CREATE FUNCTION rig_follower_ack(name text, acked_version bigint)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_follower_ack'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rig_follower_ack(text, bigint) IS
	'called by a follower: it holds every version up to acked_version (compaction keeps the rest)';

-- rigctl import: one exported record, with its version, epoch and op time,
-- applied through the handlers on a standalone primary (superuser only).
CREATE FUNCTION rig_import(version bigint, epoch bigint, method text, data jsonb,
						   idempotency_key text, op_time timestamptz, origin text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'rig_import'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_import(bigint, bigint, text, jsonb, text, timestamptz, text) IS
	'append an exported log record with its version, epoch and op time and apply it (rigctl import); false when this node holds it already';

-- Peers

CREATE FUNCTION rig_add_peer(name text, conninfo text, mode text DEFAULT 'sync')
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_add_peer'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_add_peer(text, text, text) IS
	'check a node, make it this primary''s replica, catch it up and commit on it from now on';

CREATE FUNCTION rig_drop_peer(name text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_drop_peer'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rig_drop_peer(text) IS 'stop committing on a peer';

CREATE FUNCTION rig_set_peer_mode(name text, mode text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_set_peer_mode'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_set_peer_mode(text, text) IS 'change a peer''s mode (sync, semisync, async)';

-- Failover: promote this replica (the worker does the steps; see docs/design.md).
CREATE FUNCTION rig_promote()
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_promote'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_promote() IS
	'make this replica the primary of a new epoch: commit every operation its old primary left prepared here, then accept rig_do(); returns the new epoch';

-- Planned switchover, on the primary (see docs/design.md).
CREATE FUNCTION rig_switchover(name text)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'rig_switchover'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_switchover(text) IS
	'hand the primary role over to an in-sync peer: stop rig_do, let commits in flight finish, promote the peer, follow it; returns the new epoch';

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

CREATE FUNCTION rig_node_info(OUT node_name text, OUT role text, OUT primary_name text,
							  OUT epoch bigint, OUT last_version bigint)
	AS 'MODULE_PATHNAME', 'rig_node_info'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_node_info() IS 'this node''s name, role, primary, epoch and last version';

CREATE FUNCTION rig_handler_fingerprints(OUT method text, OUT fingerprint text)
	RETURNS SETOF record
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	SET quote_all_identifiers = off
AS $$
	SELECT h.method,
		   md5(concat_ws(' | ', pg_get_functiondef(h.apply::oid),
						 CASE WHEN h.validate IS NOT NULL THEN pg_get_functiondef(h.validate::oid) END,
						 CASE WHEN h.resources IS NOT NULL THEN pg_get_functiondef(h.resources::oid) END))
	  FROM rig.handlers h
$$;
COMMENT ON FUNCTION rig_handler_fingerprints() IS
	'a hash of each method''s handler definitions; peers must match the primary';

-- Anti-entropy: both nodes hash ranges of their logs with this same SQL
-- (fixed TimeZone and DateStyle, so timestamps print alike); a bucket's
-- hash is the sum of its records' 64-bit md5 prefixes.
CREATE FUNCTION rig_log_range_hashes(from_version bigint, to_version bigint, width bigint,
									 OUT bucket bigint, OUT n bigint, OUT first_version bigint,
									 OUT last_version bigint, OUT hash text)
	RETURNS SETOF record
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
AS $$
	SELECT (l.version - from_version) / greatest(width, 1), count(*), min(l.version), max(l.version),
		   sum(('x' || left(md5(row(l.version, l.epoch, l.method, l.data, l.idempotency_key,
									 l.op_time, l.origin)::text), 16))::bit(64)::bigint::numeric)::text
	  FROM rig.log l
	 WHERE l.version BETWEEN from_version AND to_version
	 GROUP BY 1
	 ORDER BY 1
$$;
COMMENT ON FUNCTION rig_log_range_hashes(bigint, bigint, bigint) IS
	'hashes of the log records from_version..to_version in buckets width versions wide (rig_verify_peer compares them)';

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

CREATE FUNCTION rig_verify_peer(name text)
	RETURNS TABLE(relation text, first_version bigint, last_version bigint, key_range text, problem text)
	AS 'MODULE_PATHNAME', 'rig_verify_peer'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rig_verify_peer(text) IS
	'compare a peer''s log, handlers and registered tables with this node''s (the log up to the lower watermark, the tables at one version both hold); one row per difference, none when identical';

CREATE FUNCTION rig_resolve()
	RETURNS int
	AS 'MODULE_PATHNAME', 'rig_resolve'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_resolve() IS
	'finish this node''s in-doubt prepared transactions on its peers now; returns how many';

CREATE FUNCTION rig_follow(primary_name text, conninfo text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_follow'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_follow(text, text) IS
	'make this empty node an async follower that pulls the primary''s log (as a rig_reader role)';

CREATE FUNCTION rig_sync_peer(name text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_sync_peer'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rig_sync_peer(text) IS 'catch a peer up from the log now and return it to sync';

CREATE FUNCTION rig_peer_states(OUT name text, OUT state text, OUT acked_version bigint,
								OUT acked_at timestamptz, OUT last_contact timestamptz,
								OUT last_error text, OUT connection text,
								OUT commits_missed bigint, OUT prepare_ms float8,
								OUT prepare_avg_ms float8)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'rig_peer_states'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_peer_states() IS 'shared health of each peer (behind rig.peer_status)';

-- The peer side: only roles granted rig_replication.

CREATE FUNCTION rig_become_replica(primary_name text, epoch bigint,
								   epochs jsonb DEFAULT '[]')
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_become_replica'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rig_become_replica(text, bigint, jsonb) IS
	'called by a primary''s rig_add_peer: follow that primary from now on, in its epoch, recording its epochs';

CREATE FUNCTION rig_apply_remote(sender text, sender_epoch bigint, version bigint,
								 epoch bigint, method text, data jsonb,
								 idempotency_key text, op_time timestamptz, origin text,
								 locks bigint[] DEFAULT NULL, confirmed bigint DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_apply_remote'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION rig_apply_remote(text, bigint, bigint, bigint, text, jsonb, text, timestamptz, text, bigint[], bigint) IS
	'called by this replica''s primary: apply one of its operations with its version (under the resource locks it names; NULL: the resources handler''s)';

CREATE FUNCTION rig_confirm_remote(sender text, sender_epoch bigint, confirmed bigint,
								   mode text DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'rig_confirm_remote'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_confirm_remote(text, bigint, bigint, text) IS
	'called by this replica''s primary: this node holds every version up to confirmed (its watermark may rise that far)';

-- Administration views

CREATE FUNCTION rig_status(OUT node_name text, OUT role text, OUT primary_name text,
						   OUT epoch bigint, OUT last_version bigint, OUT watermark bigint,
						   OUT in_flight int, OUT worker_state text, OUT worker_pid int,
						   OUT worker_restarts int, OUT worker_last_error text,
						   OUT worker_last_error_at timestamptz, OUT in_sync_peers int,
						   OUT safe_to_promote bool, OUT safe_to_promote_reason text)
	AS 'MODULE_PATHNAME', 'rig_status'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION rig_status() IS 'this node at a glance (the rig.status view)';

CREATE VIEW rig.status AS SELECT * FROM pg_catalog.rig_status();
COMMENT ON VIEW rig.status IS
	'node, role, epoch, last version, watermark, transactions with versions in flight, worker state, restarts and last error, in-sync peers, and whether promoting this replica would lose no acknowledged op (with why)';

-- GIDs are rig_<primary>_<epoch>_<incarnation>_<xid>_<first version>_<last version>.
-- Any role may prepare a transaction named like that: numbers too long for
-- a bigint show as NULL versions instead of failing the view.
CREATE VIEW rig.in_doubt AS
	SELECT p.gid, v[1]::bigint AS first_version, v[2]::bigint AS last_version,
		   p.database, p.owner, p.prepared, now() - p.prepared AS age
	  FROM pg_catalog.pg_prepared_xacts p,
		   LATERAL regexp_match(p.gid, '_(\d{1,18})_(\d{1,18})$') v
	 WHERE p.gid LIKE 'rig\_%';
COMMENT ON VIEW rig.in_doubt IS
	'rig''s prepared transactions on this node: the versions they hold, their age';

-- Per peer: mode, state, lag, last contact and last error (never the conninfo).
-- A peer that lacks operations and cannot be reached shows unreachable
-- (degraded when semisync) rather than catching_up or unknown.
CREATE VIEW rig.peer_status AS
	SELECT p.name, p.mode,
		   CASE WHEN s.state IN ('catching_up', 'unknown') AND s.connection = 'unreachable'
				THEN CASE WHEN p.mode = 'semisync' THEN 'degraded' ELSE 'unreachable' END
				ELSE coalesce(s.state, 'unknown') END AS state,
		   (SELECT count(*) FROM rig.log l WHERE l.version > coalesce(s.acked_version, 0)) AS versions_behind,
		   coalesce(extract(epoch FROM now() -
				(SELECT l.op_time FROM rig.log l WHERE l.version > coalesce(s.acked_version, 0)
				  ORDER BY l.version LIMIT 1)), 0)::float8 AS seconds_behind,
		   s.last_contact, s.last_error,
		   coalesce(s.connection, 'unknown') AS connection,
		   s.acked_version, s.acked_at,
		   coalesce(s.commits_missed, 0) AS commits_missed,
		   s.prepare_ms, s.prepare_avg_ms
	  FROM rig.peers p
	  LEFT JOIN pg_catalog.rig_peer_states() s ON s.name = p.name;
COMMENT ON VIEW rig.peer_status IS
	'per peer: mode, state (in_sync, catching_up, degraded, unreachable, unknown, diverged), lag in versions and seconds, last contact and error, connection (reachable, unreachable, unknown), last acknowledged version and when, commits that went on without it, PREPARE round trip (last, average) in ms';

-- Privileges: nothing that writes is open to PUBLIC.
REVOKE ALL ON FUNCTION rig_add_peer(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_drop_peer(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_set_peer_mode(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_promote() FROM PUBLIC;
-- a primary's rig_switchover() promotes its peer over the peer connection
GRANT EXECUTE ON FUNCTION rig_promote() TO rig_replication;
REVOKE ALL ON FUNCTION rig_switchover(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_resolve() FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_sync_peer(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_follow(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_peer_states() FROM PUBLIC;
-- monitoring: rig_reader and pg_monitor read the status views
GRANT USAGE ON SCHEMA rig TO pg_monitor;
GRANT EXECUTE ON FUNCTION rig_peer_states() TO rig_reader, pg_monitor;
GRANT SELECT ON rig.peer_status TO rig_reader, pg_monitor;
REVOKE ALL ON FUNCTION rig_become_replica(text, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_apply_remote(text, bigint, bigint, bigint, text, jsonb, text, timestamptz, text, bigint[], bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_node_info() FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_handler_fingerprints() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_become_replica(text, bigint, jsonb) TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_apply_remote(text, bigint, bigint, bigint, text, jsonb, text, timestamptz, text, bigint[], bigint) TO rig_replication;
REVOKE ALL ON FUNCTION rig_confirm_remote(text, bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_confirm_remote(text, bigint, bigint, text) TO rig_replication;
GRANT EXECUTE ON FUNCTION rig_node_info() TO rig_reader;
REVOKE ALL ON FUNCTION rig_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_status() TO rig_reader, pg_monitor;
GRANT SELECT ON rig.status, rig.in_doubt TO rig_reader, pg_monitor;
GRANT EXECUTE ON FUNCTION rig_handler_fingerprints() TO rig_reader;
REVOKE ALL ON FUNCTION rig_log_range_hashes(bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_log_range_hashes(bigint, bigint, bigint) TO rig_reader;
REVOKE ALL ON FUNCTION rig_table_range_hashes(text, text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_table_range_hashes(text, text[], text[], text[]) TO rig_replication;
REVOKE ALL ON FUNCTION rig_table_key_bounds(text, text[], text[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_verify_peer(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_verify_peer(text) TO rig_reader, pg_monitor;

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
REVOKE ALL ON FUNCTION rig_register(text, regprocedure, regprocedure, regprocedure) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_unregister(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_ddl(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_register_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_unregister_table(regclass) FROM PUBLIC;
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
REVOKE ALL ON FUNCTION rig_do(text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_compact(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_import(bigint, bigint, text, jsonb, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_follower_ack(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_follower_ack(text, bigint) TO rig_reader;
REVOKE ALL ON FUNCTION rig_log_since(bigint, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_watermark() FROM PUBLIC;
REVOKE ALL ON FUNCTION rig_last_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rig_watermark() TO rig_reader;
GRANT EXECUTE ON FUNCTION rig_last_version() TO rig_reader;
GRANT EXECUTE ON FUNCTION rig_do(text, jsonb, text) TO rig_writer;
GRANT EXECUTE ON FUNCTION rig_log_since(bigint, int) TO rig_reader;
