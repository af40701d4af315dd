--
-- snapshot: rig_snapshot(), and what it changes in rig_compact() and
-- rig_rebuild(), on one node: bad arguments, privileges, SQLSTATEs.
-- (Snapshots under load and bootstrapping a new node: TAP 044.)
--
\set SHOW_CONTEXT never

CREATE SCHEMA snap;
CREATE TABLE snap.items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
CREATE FUNCTION snap.item_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap.items VALUES ((d->>'id')::bigint, d->>'name', (d->>'qty')::int)
	ON CONFLICT (id) DO UPDATE SET qty = snap.items.qty + EXCLUDED.qty $$;
SELECT rig_register('snap_item', 'snap.item_apply(bigint,jsonb)');
-- lines reference items, and sort before them: a snapshot's chunks come in
-- table-name order, so loading them must not check foreign keys row by row
CREATE TABLE snap.a_lines (id bigint PRIMARY KEY, item bigint NOT NULL REFERENCES snap.items);
CREATE FUNCTION snap.line_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap.a_lines VALUES (v, (d->>'item')::bigint) $$;
SELECT rig_register('snap_line', 'snap.line_apply(bigint,jsonb)');
-- try(statement): 'ok' or the SQLSTATE and message (in a subtransaction)
CREATE FUNCTION snap.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
GRANT USAGE ON SCHEMA snap TO PUBLIC;
GRANT EXECUTE ON FUNCTION snap.try(text) TO PUBLIC;

-- nothing registered: nothing to snapshot (55000)
SELECT count(*) AS registered FROM rig.tables;
SELECT snap.try('SELECT rig_snapshot()');

SELECT rig_register_table('snap.items'), rig_register_table('snap.a_lines');
SELECT count(*) AS ops FROM (SELECT rig_do('snap_item', jsonb_build_object('id', i % 7, 'name', 'item ' || i % 7, 'qty', i))
                               FROM generate_series(1, 20) i) d;
SELECT count(*) AS ops FROM (SELECT rig_do('snap_line', jsonb_build_object('item', i % 7)) FROM generate_series(1, 5) i) d;

-- bad arguments (22023, 22004 for NULL)
SELECT snap.try('SELECT rig_snapshot(0)');
SELECT snap.try('SELECT rig_snapshot(-5)');
SELECT snap.try('SELECT rig_snapshot(NULL)');
SELECT snap.try('SELECT rig_compact(-1)');
SELECT count(*) AS snapshots FROM rig.snapshots;

-- its own uncommitted ops would be in it (25001)
BEGIN;
SELECT rig_do('snap_item', '{"id": 100, "name": "x", "qty": 1}') > 0 AS wrote;
SELECT snap.try('SELECT rig_snapshot()');
ROLLBACK;

-- with state tables and no snapshot, compaction is refused (55000), nothing removed
SELECT compacted_below AS below_before FROM rig.node \gset
SELECT snap.try('SELECT rig_compact(1000000)');
SELECT compacted_below = :below_before AS unchanged FROM rig.node;

-- privileges: superuser only unless granted; the stored rows are nobody else's
CREATE ROLE regress_snap LOGIN IN ROLE rig_writer, rig_reader;
SET ROLE regress_snap;
SELECT snap.try('SELECT rig_snapshot()');
SELECT snap.try('SELECT count(*) FROM rig.snapshots');
SELECT snap.try('SELECT count(*) FROM rig.snapshot_chunks');
SELECT snap.try('SELECT rig_bootstrap_state()');
SELECT snap.try('SELECT rig_bootstrap_finish(1)');
RESET ROLE;
SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
 WHERE table_schema = 'rig' AND table_name LIKE 'snapshot%' AND grantee <> current_user
 ORDER BY 1, 2, 3;
SELECT p.proname, array_agg(a.grantee::regrole ORDER BY a.grantee::regrole::text) AS may_execute
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE (p.proname LIKE 'rig\_snapshot%' OR p.proname LIKE 'rig\_bootstrap%')
   AND a.grantee <> p.proowner
 GROUP BY p.proname ORDER BY p.proname;

-- a snapshot: W, no later version (nothing in flight), the rows in chunks of 2
SELECT rig_snapshot(2) AS snap \gset
SELECT watermark = rig_watermark() AS w_is_the_watermark, included, tables, complete,
       chunks = (SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = :snap) AS all_chunks
  FROM rig.snapshots WHERE id = :snap;
SELECT relation, count(*) AS chunks, sum(nrows) AS nrows, bool_and(checksum = md5(rows::text)) AS checksums_ok
  FROM rig.snapshot_chunks WHERE snapshot_id = :snap GROUP BY relation ORDER BY relation COLLATE "C";
SELECT string_agg(e.r::text, ' ' ORDER BY c.chunk, e.o) AS stored
  FROM rig.snapshot_chunks c, jsonb_array_elements(c.rows) WITH ORDINALITY e(r, o)
 WHERE c.snapshot_id = :snap AND c.relation = 'snap.items';

-- the new node's side runs only on a replica being bootstrapped (55000)
SELECT snap.try('SELECT rig_bootstrap_begin(''{"id": 1}'')');
SELECT snap.try($$SELECT rig_bootstrap_chunk(1, 0, 'snap.items', 0, '[]', md5('[]'))$$);
SELECT snap.try('SELECT rig_bootstrap_record(1, 1, ''snap_item'', ''{}'', NULL, now(), ''x'')');
SELECT snap.try('SELECT rig_bootstrap_finish(1)');
-- and NULLs are refused before anything is read (22004), never a crash
SELECT snap.try('SELECT rig_bootstrap_begin(NULL)');
SELECT snap.try($$SELECT rig_bootstrap_chunk(1, 0, NULL, 0, '[]', md5('[]'))$$);
SELECT snap.try($$SELECT rig_bootstrap_chunk(1, 0, 'snap.items', 0, NULL, NULL)$$);
SELECT snap.try('SELECT rig_bootstrap_record(1, 1, NULL, ''{}'', NULL, now(), ''x'')');
SELECT snap.try('SELECT rig_bootstrap_finish(NULL)');
SELECT snapshot_id = :snap AS latest, complete, next_chunk AS chunks_here FROM rig_bootstrap_state();

-- compaction goes up to W (its NOTICE names the snapshot: TAP 044 reads it)
SELECT count(*) AS ops FROM (SELECT rig_do('snap_item', jsonb_build_object('id', i, 'name', 'new', 'qty', 1))
                               FROM generate_series(50, 52) i) d;
SET client_min_messages = warning;
SELECT rig_compact(1000000) > 0 AS compacted;
RESET client_min_messages;
SELECT compacted_below = (SELECT watermark + 1 FROM rig.snapshots WHERE id = :snap) AS up_to_w
  FROM rig.node;

-- rig_rebuild starts from it (its NOTICE says so: TAP 044) and gives the same table
CREATE TABLE snap.before AS SELECT string_agg(i::text, ',' ORDER BY id) AS items,
	(SELECT string_agg(l::text, ',' ORDER BY id) FROM snap.a_lines l) AS lines FROM snap.items i;
SET client_min_messages = warning;
SELECT rig_rebuild() AS replayed;
RESET client_min_messages;
SELECT items = (SELECT string_agg(i::text, ',' ORDER BY id) FROM snap.items i) AS same_items,
       lines = (SELECT string_agg(l::text, ',' ORDER BY id) FROM snap.a_lines l) AS same_lines FROM snap.before;
-- a chunk changed after the snapshot: the rebuild stops, nothing changed (XX001)
UPDATE rig.snapshot_chunks SET rows = '[]' WHERE snapshot_id = :snap AND chunk = 0;
SET client_min_messages = warning;
SELECT snap.try('SELECT rig_rebuild()');
RESET client_min_messages;
SELECT items = (SELECT string_agg(i::text, ',' ORDER BY id) FROM snap.items i) AS unchanged FROM snap.before;

-- a handler changed outside rig since the snapshot, or the registered
-- tables: the rebuild is refused before anything is changed (55000)
CREATE OR REPLACE FUNCTION snap.item_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap.items VALUES ((d->>'id')::bigint, d->>'name', 2 * (d->>'qty')::int)
	ON CONFLICT (id) DO UPDATE SET qty = snap.items.qty + EXCLUDED.qty $$;
SELECT snap.try('SELECT rig_rebuild()');
CREATE OR REPLACE FUNCTION snap.item_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap.items VALUES ((d->>'id')::bigint, d->>'name', (d->>'qty')::int)
	ON CONFLICT (id) DO UPDATE SET qty = snap.items.qty + EXCLUDED.qty $$;
SELECT rig_unregister_table('snap.a_lines');
SELECT snap.try('SELECT rig_rebuild()');
SELECT rig_register_table('snap.a_lines');
SELECT items = (SELECT string_agg(i::text, ',' ORDER BY id) FROM snap.items i) AS unchanged FROM snap.before;

-- a snapshot's rows do not depend on how the caller's session shows values
-- (floats, intervals, times): taken under other settings, it loads back
-- exactly (its state hash matches) and rig_rebuild gives the same rows
CREATE TABLE snap.readings (id bigint PRIMARY KEY, x float8, span interval, at timestamptz);
CREATE FUNCTION snap.reading_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap.readings VALUES (v, (d->>'x')::float8, (d->>'span')::interval, (d->>'at')::timestamptz) $$;
SELECT rig_register('snap_reading', 'snap.reading_apply(bigint,jsonb)');
SELECT rig_register_table('snap.readings');
SELECT count(*) AS ops FROM (SELECT rig_do('snap_reading', jsonb_build_object('x', pi() / i,
		'span', make_interval(days => -i, hours => 2 * i, secs => 0.5),
		'at', '2026-01-01 00:00:00.123456+00'::timestamptz + i * interval '1 day'))
	FROM generate_series(1, 3) i) d;
CREATE TABLE snap.readings_before AS SELECT string_agg(r::text, ',' ORDER BY id) AS rows FROM snap.readings r;
SET extra_float_digits = 0;
SET IntervalStyle = 'sql_standard';
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SELECT rig_snapshot() > :snap AS snapped;
RESET extra_float_digits;
RESET IntervalStyle;
RESET TimeZone;
RESET DateStyle;
SET client_min_messages = warning;
SELECT snap.try('SELECT rig_rebuild()');
RESET client_min_messages;
SELECT rows = (SELECT string_agg(r::text, ',' ORDER BY id) FROM snap.readings r) AS same_readings
  FROM snap.readings_before;

-- rig.bootstrap_max_rate: the chunk data per second rig_add_peer sends to a
-- node it bootstraps, in kB (memory units accepted), 0 (the default) = no
-- limit; any role that may run rig_add_peer may set it for its session
SHOW rig.bootstrap_max_rate;
SET rig.bootstrap_max_rate = '1MB';
SHOW rig.bootstrap_max_rate;
SET ROLE regress_snap;
SET rig.bootstrap_max_rate = 512;
SHOW rig.bootstrap_max_rate;
RESET ROLE;
-- bad values: 22023, naming the valid range or units
SET rig.bootstrap_max_rate = -1;
\echo :SQLSTATE
SET rig.bootstrap_max_rate = '4TB';
\echo :SQLSTATE
SET rig.bootstrap_max_rate = '1MB/s';
\echo :SQLSTATE
SET rig.bootstrap_max_rate = 'fast';
\echo :SQLSTATE
SHOW rig.bootstrap_max_rate;
RESET rig.bootstrap_max_rate;
SHOW rig.bootstrap_max_rate;

-- clean up
SELECT rig_unregister_table('snap.items'), rig_unregister_table('snap.a_lines'),
       rig_unregister_table('snap.readings');
SELECT rig_unregister('snap_item'), rig_unregister('snap_line'), rig_unregister('snap_reading');
DROP SCHEMA snap CASCADE;
DROP ROLE regress_snap;
DELETE FROM rig.snapshots;
