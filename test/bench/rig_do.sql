-- test/bench/rig_do.sql: one user created through rig (examples/metadata.sql):
-- validate, lock 'user_email:<email>', version, append to rig.log, apply
-- (and, with a sync peer, 2PC on the peer at commit).
\set n random(1, 1000000000000000)
SELECT rig_do('user_create',
			  metadata.new_user('r' || CAST(:client_id AS text) || '.' || CAST(:n AS text) || '@example.com',
								'Bench User', 'secret'));
