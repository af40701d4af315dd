-- test/bench/direct.sql: one user created by a hand-written service, without rig.
-- Same row as rig's user_create handler writes: id from a sequence, salted
-- password hash computed in the same statement (as metadata.new_user does),
-- email unique per transaction (client id + a random 50-bit number).
\set n random(1, 1000000000000000)
INSERT INTO bench.users (id, email, name, password_salt, password_hash,
						 created_at, updated_at, version)
SELECT s.id, lower('d' || CAST(:client_id AS text) || '.' || CAST(:n AS text) || '@example.com'),
	   'Bench User', s.salt, bench.hash_password('secret', s.salt), now(), now(), s.id
  FROM (SELECT nextval('bench.users_id_seq') AS id,
			   md5(random()::text || clock_timestamp()::text) AS salt) s;
