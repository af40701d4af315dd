-- test/bench/dblink_2pc.sql: the do-it-yourself baseline, two-phase commit
-- by hand as an application would write it without rig: local INSERT; the
-- same row on the peer in a prepared transaction (dblink); local COMMIT;
-- then COMMIT PREPARED on the peer.  bench.peer() (created by run.sh) opens
-- the session's dblink connection once and returns its name.
\set n random(1, 1000000000000000)
BEGIN;
INSERT INTO bench.users (id, email, name, password_salt, password_hash,
						 created_at, updated_at, version)
SELECT s.id, lower('k' || CAST(:client_id AS text) || '.' || CAST(:n AS text) || '@example.com'),
	   'Bench User', s.salt, bench.hash_password('secret', s.salt), now(), now(), s.id
  FROM (SELECT nextval('bench.users_id_seq') AS id,
			   md5(random()::text || clock_timestamp()::text) AS salt) s
RETURNING id AS uid, email AS uemail, password_salt AS usalt, password_hash AS uhash, created_at AS uts
\gset
SELECT dblink_exec(bench.peer(),
	format('BEGIN; INSERT INTO bench.users (id, email, name, password_salt, password_hash, created_at, updated_at, version) '
		   'VALUES (%s, %L, %L, %L, %L, %L, %L, %s); PREPARE TRANSACTION %L',
		   CAST(:uid AS bigint), CAST(:uemail AS text), 'Bench User', CAST(:usalt AS text),
		   CAST(:uhash AS text), CAST(:uts AS text), CAST(:uts AS text), CAST(:uid AS bigint),
		   'bench_' || CAST(:client_id AS text) || '_' || CAST(:n AS text)));
COMMIT;
SELECT dblink_exec(bench.peer(),
	'COMMIT PREPARED ' || quote_literal('bench_' || CAST(:client_id AS text) || '_' || CAST(:n AS text)));
