--
-- snapshot: rig_snapshot(), and what it changes in rig_compact() and
-- rig_rebuild(), on one node: bad arguments, privileges, SQLSTATEs.
-- (Snapshots under load and bootstrapping a new node: TAP 044.)
--
\set SHOW_CONTEXT never

-- the tables registered by the earlier tests (ledger, tables)
SELECT relation FROM rig.tables ORDER BY relation::text COLLATE "C";

-- nothing registered: nothing to snapshot (55000), nothing changed
BEGIN;
SELECT count(*) FROM (SELECT rig_unregister_table(relation) FROM rig.tables) u;
SELECT try('SELECT rig_snapshot()');
ROLLBACK;

-- bad arguments
SELECT try('SELECT rig_snapshot(0)');
SELECT try('SELECT rig_snapshot(-5)');

-- its own uncommitted ops would be in it (25001)
BEGIN;
SELECT rig_do('account_open', '{"id": 900, "ledger": 1, "code": 1}', 'account:900') > 0 AS wrote;
SELECT try('SELECT rig_snapshot()');
ROLLBACK;

-- with state tables and no snapshot, compaction is refused (55000)
SELECT try('SELECT rig_compact(1000000)');
SELECT compacted_below FROM rig.node;

-- privileges: superuser only unless granted; the stored rows are nobody else's
CREATE ROLE regress_snap LOGIN IN ROLE rig_writer, rig_reader;
SET ROLE regress_snap;
SELECT try('SELECT rig_snapshot()');
SELECT try('SELECT count(*) FROM rig.snapshots');
SELECT try('SELECT count(*) FROM rig.snapshot_chunks');
SELECT try('SELECT rig_bootstrap_state()');
SELECT try('SELECT rig_bootstrap_finish(1)');
RESET ROLE;
SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
 WHERE table_schema = 'rig' AND table_name LIKE 'snapshot%' AND grantee <> current_user
 ORDER BY 1, 2, 3;
SELECT p.proname, array_agg(a.grantee::regrole ORDER BY a.grantee::regrole::text) AS may_execute
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE (p.proname LIKE 'rig\_snapshot%' OR p.proname LIKE 'rig\_bootstrap%')
   AND a.grantee <> p.proowner
 GROUP BY p.proname ORDER BY p.proname;

-- a snapshot: W, no later version (nothing in flight), the tables in chunks
SELECT rig_snapshot(2) AS snap \gset
SELECT watermark = rig_watermark() AS w_is_the_watermark, included, tables, complete,
       chunks = (SELECT count(*) FROM rig.snapshot_chunks WHERE snapshot_id = :snap) AS all_chunks
  FROM rig.snapshots WHERE id = :snap;
SELECT relation, count(*) AS chunks, sum(nrows) AS nrows, bool_and(checksum = md5(rows::text)) AS checksums_ok
  FROM rig.snapshot_chunks WHERE snapshot_id = :snap GROUP BY relation ORDER BY relation COLLATE "C";
SELECT (SELECT sum(nrows) FROM rig.snapshot_chunks WHERE snapshot_id = :snap AND relation = 'ledger.transfers')
     = (SELECT count(*) FROM ledger.transfers) AS every_transfer;

-- the new node's side runs only on a replica being bootstrapped (55000)
SELECT try('SELECT rig_bootstrap_begin(''{"id": 1}'')');
SELECT try($$SELECT rig_bootstrap_chunk(1, 0, 'ledger.accounts', 0, '[]', md5('[]'))$$);
SELECT try('SELECT rig_bootstrap_finish(1)');
SELECT snapshot_id = :snap AS latest, complete, next_chunk > 0 AS has_chunks FROM rig_bootstrap_state();

-- compaction goes up to W (its NOTICE names the snapshot: TAP 044 reads it)
SELECT rig_do('account_open', '{"id": 901, "ledger": 1, "code": 1}', 'account:901') > 0 AS wrote;
SET client_min_messages = warning;
SELECT rig_compact(1000000) > 0 AS compacted;
RESET client_min_messages;
SELECT compacted_below = (SELECT watermark + 1 FROM rig.snapshots WHERE id = :snap) AS up_to_w
  FROM rig.node;

-- rig_rebuild starts from it (its NOTICE says so: TAP 044) and gives the same tables
CREATE TABLE snap_before AS
	SELECT (SELECT string_agg(a::text, ',' ORDER BY id) FROM ledger.accounts a) AS accounts,
	       (SELECT string_agg(t::text, ',' ORDER BY id) FROM ledger.transfers t) AS transfers;
SET client_min_messages = warning;
SELECT rig_rebuild() >= 1 AS replayed;
RESET client_min_messages;
SELECT accounts = (SELECT string_agg(a::text, ',' ORDER BY id) FROM ledger.accounts a) AS same_accounts,
       transfers = (SELECT string_agg(t::text, ',' ORDER BY id) FROM ledger.transfers t) AS same_transfers
  FROM snap_before;
-- a chunk changed after the snapshot: the rebuild stops, nothing changed (XX001)
UPDATE rig.snapshot_chunks SET rows = '[]' WHERE snapshot_id = :snap AND chunk = 0;
SELECT try('SELECT rig_rebuild()');
SELECT accounts = (SELECT string_agg(a::text, ',' ORDER BY id) FROM ledger.accounts a) AS accounts_unchanged
  FROM snap_before;
DROP TABLE snap_before;
