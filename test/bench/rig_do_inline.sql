-- test/bench/rig_do_inline.sql: as rig_do.sql, but the op's data is built in
-- the statement itself (same salt and hash expressions as metadata.new_user)
-- instead of by calling the SQL function metadata.new_user(), which
-- PostgreSQL 15 parses and plans again in every transaction.  Separates
-- rig's own cost from that helper's.
\set n random(1, 1000000000000000)
SELECT rig_do('user_create',
			  jsonb_build_object('email', 'i' || CAST(:client_id AS text) || '.' || CAST(:n AS text) || '@example.com',
								 'name', 'Bench User',
								 'password_salt', s.salt,
								 'password_hash', metadata.hash_password('secret', s.salt)))
  FROM (SELECT md5(random()::text || clock_timestamp()::text) AS salt) s;
