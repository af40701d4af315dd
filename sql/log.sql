--
-- log: rig.log is append-only; rig_log_since, rig_watermark,
-- rig_last_version and rig_compact.
--
-- Error checks print the message (with DETAIL / HINT) and then the SQLSTATE.
\set SHOW_CONTEXT never

CREATE SCHEMA l;
CREATE FUNCTION l.noop(version bigint, data jsonb) RETURNS void
	LANGUAGE sql AS $$ SELECT $$;
SELECT rig_register('entry', 'l.noop(bigint,jsonb)');
-- base: the last version assigned before this file's ops
SELECT rig_watermark() AS base \gset
SELECT rig_do('entry', jsonb_build_object('n', n)) > 0 AS ran FROM generate_series(1, 5) n;
SELECT count(*) AS rows, md5(string_agg(l::text, '|' ORDER BY version)) AS checksum
  FROM rig.log l \gset before_

--
-- UPDATE, DELETE and TRUNCATE are refused, even for a superuser.
--
UPDATE rig.log SET data = '{"forged": true}' WHERE version = (SELECT max(version) FROM rig.log);
\echo :SQLSTATE
-- also when no row matches (the check is per statement)
UPDATE rig.log SET data = '{}' WHERE false;
\echo :SQLSTATE
DELETE FROM rig.log WHERE version = (SELECT min(version) FROM rig.log);
\echo :SQLSTATE
DELETE FROM rig.log;
\echo :SQLSTATE
TRUNCATE rig.log;
\echo :SQLSTATE
TRUNCATE rig.log, rig.handlers;
\echo :SQLSTATE
-- INSERT ... ON CONFLICT DO UPDATE is an UPDATE too
INSERT INTO rig.log SELECT * FROM rig.log WHERE version = (SELECT min(version) FROM rig.log)
  ON CONFLICT (version) DO UPDATE SET data = '{"forged": true}';
\echo :SQLSTATE
-- every row is intact
SELECT count(*) = :before_rows AS same_rows,
       md5(string_agg(l::text, '|' ORDER BY version)) = :'before_checksum' AS same_content
  FROM rig.log l;
SELECT count(*) AS handlers FROM rig.handlers WHERE method = 'entry';

--
-- rig_last_version() and rig_watermark()
--
SELECT rig_last_version() = (SELECT max(version) FROM rig.log) AS last_version_is_max;
SELECT rig_watermark() >= rig_last_version() AS watermark_not_behind;
BEGIN;
SELECT rig_do('entry', '{"n": "in flight"}') AS inflight \gset
-- rig_last_version() sees the own, uncommitted row; the watermark stops below it
SELECT rig_last_version() = :inflight AS last_version_sees_own_row,
       rig_watermark() = :inflight - 1 AS watermark_below_in_flight;
ROLLBACK;
SELECT rig_last_version() < :inflight AS rolled_back_row_gone,
       rig_watermark() = :inflight AS watermark_passed_it;

--
-- rig_log_since(after, max_rows)
--
-- final records in version order (the columns of rig.log); versions are
-- shown relative to base
SELECT version - :base AS rel_version, epoch, method, data, idempotency_key, origin
  FROM rig_log_since(:base);
SELECT array_agg(version ORDER BY version) = array_agg(version) AS in_version_order,
       count(*) = (SELECT count(*) FROM rig.log) AS all_rows
  FROM rig_log_since(0);
-- after: strictly greater
SELECT version - :base AS rel_version FROM rig_log_since(:base + 3);
SELECT count(*) AS rows FROM rig_log_since(:base + 4);
SELECT count(*) AS rows FROM rig_log_since(:base + 5);
SELECT count(*) AS rows FROM rig_log_since(:base + 1000);
-- max_rows: the first max_rows records
SELECT version - :base AS rel_version FROM rig_log_since(:base, 2);
SELECT count(*) AS rows FROM rig_log_since(:base, 0);
-- 1000 by default
SELECT count(rig_do('entry', jsonb_build_object('bulk', n))) AS ops FROM generate_series(1, 1005) n;
SELECT count(*) AS default_max_rows FROM rig_log_since(:base);
SELECT count(*) AS rows FROM rig_log_since(:base, 100000);
SELECT count(*) FROM rig_log_since(0, -1);
\echo :SQLSTATE
-- STRICT: NULL arguments return nothing
SELECT count(*) AS rows FROM rig_log_since(NULL);
SELECT count(*) AS rows FROM rig_log_since(0, NULL);

-- never an uncommitted, in-flight version, not even the caller's own
SELECT max(version) AS last FROM rig.log \gset
BEGIN;
SELECT rig_do('entry', '{"n": "uncommitted"}') AS mine \gset
SELECT count(*) AS own_row_in_rig_log FROM rig.log WHERE version = :mine;
SELECT count(*) AS rows FROM rig_log_since(:last);
SELECT count(*) AS rows_with_mine FROM rig_log_since(0, 100000) WHERE version = :mine;
COMMIT;
-- once committed it is final and returned
SELECT version = :mine AS is_mine, data FROM rig_log_since(:last);

-- refused in REPEATABLE READ and SERIALIZABLE (the watermark must be read
-- before the snapshot that reads the log)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM rig_log_since(0);
\echo :SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM rig_log_since(0);
\echo :SQLSTATE
ROLLBACK;

--
-- rig_compact(before_version): removes final records below before_version.
--
SELECT count(*) AS rows, min(version) AS first FROM rig.log \gset
SELECT version AS cut FROM rig.log ORDER BY version OFFSET 3 LIMIT 1 \gset
SELECT rig_compact(:cut) AS removed;
SELECT min(version) = :cut AS first_kept, count(*) = :rows - 3 AS rows_left FROM rig.log;
-- nothing below that any more
SELECT rig_compact(:cut) AS removed;
SELECT rig_compact(0) AS removed;
SELECT rig_compact(NULL);
\echo :SQLSTATE
-- reading from just below the first kept record works; from further down,
-- rig_log_since says the records are gone instead of returning a hole
SELECT version = :cut AS first_returned FROM rig_log_since(:cut - 1, 1);
SELECT count(*) FROM rig_log_since(0, 1);
\echo :SQLSTATE
SELECT compacted_below = :cut AS compacted_below_recorded FROM rig.node;
-- a registered follower holds compaction back at what it has not pulled
SELECT rig_follower_ack('follower1', :cut);
SELECT rig_do('entry', '{"n": "for the follower"}') AS for_follower \gset
SELECT rig_do('entry', '{"n": "and one more"}') AS one_more \gset
SELECT rig_compact(:one_more) AS removed;
SELECT min(version) > :cut AND bool_or(version = :for_follower) AS follower_needs_kept FROM rig.log;
SELECT name, acked_version = :cut AS acked FROM rig.followers;
-- one that falls more than rig.follower_max_lag behind no longer does
SET rig.follower_max_lag = 1;
SELECT rig_compact(:one_more) > 0 AS removed_some;
RESET rig.follower_max_lag;
SELECT min(version) = :one_more AS compacted_past_the_lagging_follower FROM rig.log;
SELECT rig_follower_ack('bad name', 1);
\echo :SQLSTATE
SELECT rig_follower_ack('follower1', -1);
\echo :SQLSTATE
-- a superuser forgets a follower that is gone for good
DELETE FROM rig.followers WHERE name = 'follower1';
-- idempotency keys outlive compaction of their records: a retry after
-- rig_compact() still returns the first version and applies nothing
SELECT rig_do('entry', '{"n": "keyed"}', 'log-key-1') AS kept \gset
SELECT rig_do('entry', '{"n": "newest"}') AS newest \gset
SELECT rig_compact(:newest) > 0 AS compacted;
SELECT count(*) AS log_rows_with_key FROM rig.log WHERE idempotency_key = 'log-key-1';
SELECT rig_do('entry', '{"n": "keyed"}', 'log-key-1') = :kept AS same_version_after_compaction;
SELECT rig_do('entry', '{"n": "other"}', 'log-key-1');
\echo :SQLSTATE
SELECT rig_last_version() = :newest AS nothing_new;
-- rig.key_retention: a key goes once its record is compacted and it is old enough
SET rig.key_retention = 0;
SELECT rig_compact(:newest) AS removed;
RESET rig.key_retention;
SELECT count(*) AS keys_left_after_retention FROM rig.idempotency_keys WHERE idempotency_key = 'log-key-1';
SELECT version AS cut FROM rig.log ORDER BY version LIMIT 1 \gset
-- it cannot remove past the watermark: an in-flight op and everything after it stay
SELECT count(*) AS rows FROM rig.log \gset
BEGIN;
SELECT rig_do('entry', '{"n": "in flight during compaction"}') AS inflight \gset
SELECT rig_watermark() = :inflight - 1 AS watermark_below_in_flight;
SELECT rig_compact(:inflight + 1000) = :rows AS removed_all_final_rows;
SELECT array_agg(version) = ARRAY[:inflight]::bigint[] AS only_in_flight_row_left FROM rig.log;
COMMIT;
SELECT array_agg(version) = ARRAY[:inflight]::bigint[] AS only_in_flight_row_left FROM rig.log;
SELECT rig_last_version() = :inflight AS last_version;
-- the newest record always stays, so rig_last_version() survives compaction
SELECT rig_compact(:inflight + 1) AS removed;
SELECT rig_last_version() = :inflight AS last_version_kept;
-- a rolled-back compaction removes nothing
SELECT rig_do('entry', '{"n": "after compaction"}') AS after \gset
BEGIN;
SELECT rig_compact(:after + 1) AS removed;
ROLLBACK;
SELECT count(*) AS rows FROM rig.log;
-- the guard is back after rig_compact: DELETE is refused again
DELETE FROM rig.log;
\echo :SQLSTATE
SELECT count(*) AS rows FROM rig.log;

-- new ops continue after the compacted ones
SELECT rig_do('entry', '{"n": "after compaction"}') > :inflight AS continues;

-- clean up
SELECT rig_unregister('entry');
DROP SCHEMA l CASCADE;
