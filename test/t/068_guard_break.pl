
# Copyright (c) 2026, rig developers

# A break-it pass on the table guard (tableguard.c): ways to change the
# rows or the shape of a registered table without rig.  One rig node "g"
# (alice: an ordinary role), a plain publisher "pub" for the logical
# replication parts.
#
#  1. the row type of another table (alice's): cust.a is of type addr,
#     cust.l of type addr[]; ALTER TABLE addr DROP / ADD / RENAME COLUMN
#     changed every row of the registered table cust (a field vanished,
#     appeared, was renamed for the handlers and to_jsonb), by a role that
#     has no right on cust at all; the same for a partition's row type
#     through ALTER TABLE of its parent, and a view's by CREATE OR REPLACE
#     VIEW.  Now refused (42501), cust unchanged, and other tables'
#     columns change as before;
#  2. the same through a composite type: ALTER TYPE ct DROP / ADD /
#     RENAME ATTRIBUTE of a type a registered column holds (in an array);
#  3. rig.maintenance reached by a non-superuser: PGC_SUSET stops SET and
#     PGOPTIONS, but a superuser's ALTER ROLE alice SET rig.maintenance,
#     GRANT SET ON PARAMETER, or SET ROLE after the SET gave alice's
#     session maintenance: her UPDATE went through.  Now maintenance
#     lets only a superuser write;
#  4. (held) loopback through postgres_fdw (INSERT, UPDATE, TRUNCATE,
#     COPY into the foreign table) and dblink: the other backend's hooks
#     refuse;
#  5. (not a test: documented) pg_surgery's heap_force_kill() deletes a
#     row of a registered table with no hook seeing it; it is a
#     superuser's tool (its EXECUTE can be granted), left to them like
#     unloading rig;
#  6. (held) logical replication: a streaming = on subscription with a
#     transaction larger than logical_decoding_work_mem, through a
#     publication with a row filter and a column list, is refused and
#     the table unchanged; a subscription in another database (no rig
#     there) replicates as usual;
#  7. a false positive of the pre-commit check: an ENABLE ALWAYS trigger
#     on a subscribed, unregistered table calls rig_do(); in a session
#     that works, in the apply worker the check counted the handler's own
#     writes as the worker's and refused the transaction for ever.  Now
#     what handlers write is counted apart (apply.c's handler context
#     hook), and a worker's own write of the registered table in the same
#     transaction is still refused;
#  8. track_counts = off for the worker (PGC_SUSET: a superuser's ALTER
#     ROLE / DATABASE ... SET reaches it; a non-superuser cannot): the
#     pre-commit check saw no counts and the publisher's INSERT landed in
#     the registered table.  Now such a worker's transactions are refused
#     while tables are registered.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use RigTestLib;

my $g = rig_node('g', conf => "wal_level = logical\nmax_logical_replication_workers = 6\n"
	  . "wal_retrieve_retry_interval = 200ms\n");

# psql as $user; returns (sqlstate, stdout)
sub run_as
{
	my ($user, $sql, $db) = @_;
	my ($ret, $out, $err) = $g->psql($db // 'postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => ['-U', $user]);
	return (sqlstate_of($err), $out);
}

# Whether the server log shows $re after $offset (waits for it).
sub log_shows
{
	my ($node, $re, $offset) = @_;
	return eval { $node->wait_for_log($re, $offset); 1 } ? 1 : 0;
}

# Poll $sql on $node until it returns 't', for at most $secs seconds.
sub poll_short
{
	my ($node, $sql, $secs, $db) = @_;
	for (1 .. $secs * 10)
	{
		return 1 if $node->safe_psql($db // 'postgres', $sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

$g->safe_psql('postgres', q{
CREATE ROLE alice LOGIN;
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE inbox (id int PRIMARY KEY, balance bigint NOT NULL);
GRANT ALL ON acct TO alice;
} . rig_acct_sql() . q{
SELECT rig_do('acct_open', '{"id": 1, "balance": 10}');
SELECT rig_do('acct_open', '{"id": 2, "balance": 20}');
});
my $acct = q{SELECT coalesce(string_agg(id || '=' || balance, ' ' ORDER BY id), '') FROM acct};

# --- 1. the row type of another table
$g->safe_psql('postgres', q{
CREATE TABLE addr (street text, city text);
ALTER TABLE addr OWNER TO alice;
CREATE TABLE cust (id int PRIMARY KEY, a addr, l addr[]);
INSERT INTO cust VALUES (1, ROW('main st', 'paris'), ARRAY[ROW('rue', 'lyon')::addr]);
SELECT rig_register_table('cust');
});
my $cust = q{SELECT to_jsonb(c)::text FROM cust c};
my $cust_before = $g->safe_psql('postgres', $cust);
for my $stmt ('ALTER TABLE addr DROP COLUMN city', 'ALTER TABLE addr ADD COLUMN zip text',
	'ALTER TABLE addr RENAME COLUMN street TO road', 'ALTER TABLE addr RENAME street TO road')
{
	my ($state) = run_as('alice', $stmt);
	is($state, '42501', "1: refused: $stmt (alice owns addr, a registered table holds its row type)");
}
my ($state) = run_as('postgres', 'ALTER TABLE addr DROP COLUMN city');
is($state, '42501', '1: refused for a superuser too');
is($g->safe_psql('postgres', $cust), $cust_before, '1: the registered table\'s rows are unchanged');
# the row type of a partition, changed through its parent; of a view, by
# CREATE OR REPLACE VIEW
$g->safe_psql('postgres', q{
CREATE TABLE par (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE par1 PARTITION OF par FOR VALUES FROM (0) TO (10);
CREATE VIEW vaddr AS SELECT 'a'::text AS street;
CREATE TABLE cust4 (id int PRIMARY KEY, p par1, v vaddr);
INSERT INTO cust4 VALUES (1, ROW(1, 2), ROW('x'));
SELECT rig_register_table('cust4');
});
my $cust4 = q{SELECT to_jsonb(c)::text FROM cust4 c};
my $cust4_before = $g->safe_psql('postgres', $cust4);
for my $stmt ('ALTER TABLE par RENAME COLUMN b TO c', 'ALTER TABLE par ADD COLUMN d int',
	'ALTER TABLE par DROP COLUMN b', q{CREATE OR REPLACE VIEW vaddr AS SELECT 'a'::text AS street, 'b'::text AS city})
{
	($state) = run_as('postgres', $stmt);
	is($state, '42501', "1: refused: $stmt");
}
is($g->safe_psql('postgres', $cust4), $cust4_before, '1: the registered table\'s rows are unchanged');
($state) = run_as('postgres', q{CREATE TABLE par2 PARTITION OF par FOR VALUES FROM (10) TO (20)});
is($state, '(none)', '1: a new partition of that parent is still fine');
($state) = run_as('postgres', q{DROP TABLE addr CASCADE});
is($state, '42501', '1: DROP TABLE addr CASCADE (drops cust.a) is refused as before');
($state) = run_as('postgres', q{CREATE TABLE other (a int, b int);
ALTER TABLE other ADD COLUMN c int; ALTER TABLE other DROP COLUMN a; ALTER TABLE other RENAME b TO d;
SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'other'::regclass AND attnum > 0 AND NOT attisdropped});
is($state, '(none)', '1: the columns of a table no registered table holds change as usual');
# the way to make such a change: rig_ddl, at one version of the log on every node
($state) = run_as('postgres', q{SELECT rig_ddl('ALTER TABLE public.addr ADD COLUMN zip text')});
is($state, '(none)', '1: rig_ddl may add a column to a row type a registered table holds');
like($g->safe_psql('postgres', $cust), qr/"zip": null/, '1: and the registered table\'s rows show it');

# --- 2. a composite type a registered column holds (in an array)
$g->safe_psql('postgres', q{
CREATE TYPE ct AS (x int, y int);
ALTER TYPE ct OWNER TO alice;
CREATE TABLE c2 (id int PRIMARY KEY, v ct[]);
INSERT INTO c2 VALUES (1, ARRAY[ROW(1, 2)::ct]);
SELECT rig_register_table('c2');
});
my $c2 = q{SELECT to_jsonb(c)::text FROM c2 c};
my $c2_before = $g->safe_psql('postgres', $c2);
for my $stmt ('ALTER TYPE ct DROP ATTRIBUTE y', 'ALTER TYPE ct ADD ATTRIBUTE z int',
	'ALTER TYPE ct RENAME ATTRIBUTE x TO w')
{
	($state) = run_as('alice', $stmt);
	is($state, '42501', "2: refused: $stmt");
}
is($g->safe_psql('postgres', $c2), $c2_before, '2: the registered table\'s rows are unchanged');

# --- 3. rig.maintenance reached by a non-superuser
($state) = run_as('alice', 'SET rig.maintenance = on');
is($state, '42501', '3: alice cannot SET rig.maintenance (held)');
{
	local $ENV{PGOPTIONS} = '-c rig.maintenance=on';
	my ($ret, $out, $err) = $g->psql('postgres', 'SELECT 1', extra_params => ['-U', 'alice']);
	like($err, qr/permission denied to set parameter "rig.maintenance"/, '3: nor through PGOPTIONS (held)');
}
$g->safe_psql('postgres', q{ALTER ROLE alice SET rig.maintenance = on});
($state) = run_as('alice', 'UPDATE acct SET balance = 111 WHERE id = 1');
is($state, '42501', '3: ALTER ROLE alice SET rig.maintenance = on: her UPDATE is refused');
$g->safe_psql('postgres', q{ALTER ROLE alice RESET rig.maintenance; GRANT SET ON PARAMETER rig.maintenance TO alice});
($state) = run_as('alice', 'SET rig.maintenance = on; UPDATE acct SET balance = 222 WHERE id = 1');
is($state, '42501', '3: GRANT SET ON PARAMETER rig.maintenance TO alice: her UPDATE is refused');
$g->safe_psql('postgres', q{REVOKE SET ON PARAMETER rig.maintenance FROM alice});
($state) = run_as('postgres', 'SET rig.maintenance = on; SET ROLE alice; UPDATE acct SET balance = 333 WHERE id = 1');
is($state, '42501', '3: a superuser\'s SET ROLE alice after SET rig.maintenance: refused');
is($g->safe_psql('postgres', $acct), '1=10 2=20', '3: the registered table is unchanged');
($state) = run_as('postgres', 'SET rig.maintenance = on; UPDATE acct SET balance = 11 WHERE id = 1; UPDATE acct SET balance = 10 WHERE id = 1');
is($state, '(none)', '3: a superuser in maintenance still repairs');

# --- 4. loopback through postgres_fdw and dblink (held)
my ($host, $port) = ($g->host, $g->port);
$g->safe_psql('postgres', qq{
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION dblink;
CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$host', port '$port', dbname 'postgres');
CREATE USER MAPPING FOR CURRENT_USER SERVER loop;
CREATE FOREIGN TABLE facct (id int, balance bigint) SERVER loop OPTIONS (table_name 'acct');
});
for my $stmt ('INSERT INTO facct VALUES (70, 7)', 'UPDATE facct SET balance = 0', 'DELETE FROM facct',
	'TRUNCATE facct', q{COPY facct FROM PROGRAM 'echo 71,7' WITH (format csv)},
	"SELECT dblink_exec('host=$host port=$port dbname=postgres', 'INSERT INTO acct VALUES (72, 7)')")
{
	my ($ret, $out, $err) = $g->psql('postgres', $stmt);
	like($err, qr/table public\.acct is registered with rig/, "4: refused in the loopback session: $stmt");
}
is($g->safe_psql('postgres', $acct), '1=10 2=20', '4: the registered table is unchanged');

# --- 6. logical replication: streaming, row filter, column list (held)
my $pub = PostgreSQL::Test::Cluster->new('pub');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', "logical_decoding_work_mem = 64kB\n");
$pub->start;
$pub->safe_psql('postgres', q{
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, extra text);
CREATE TABLE inbox (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE plain (id int PRIMARY KEY);
CREATE PUBLICATION pub_acct FOR TABLE acct (id, balance) WHERE (id > 1000);
CREATE PUBLICATION pub_inbox FOR TABLE inbox;
CREATE PUBLICATION pub_plain FOR TABLE plain;
});
my $pubconn = $pub->connstr('postgres');
$g->safe_psql('postgres', "CREATE SUBSCRIPTION s_acct CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_acct "
	  . "WITH (copy_data = false, streaming = on)");
$g->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 's_acct' AND pid IS NOT NULL})
  or die 's_acct never started';
my $offset = -s $g->logfile;
$pub->safe_psql('postgres', q{INSERT INTO acct SELECT g, g, repeat('x', 100) FROM generate_series(1001, 6000) g});
ok(log_shows($g, qr/table (?:public\.)?acct is registered with rig/, $offset),
	'6: a streamed large transaction (row filter, column list) is refused');
is($g->safe_psql('postgres', $acct), '1=10 2=20', '6: the registered table is unchanged');
$g->safe_psql('postgres', q{DROP SUBSCRIPTION s_acct});
$g->safe_psql('postgres', q{CREATE DATABASE other_db});
$g->safe_psql('other_db', q{CREATE TABLE plain (id int PRIMARY KEY)});
$g->safe_psql('other_db', "CREATE SUBSCRIPTION s_plain CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_plain");
$pub->safe_psql('postgres', q{INSERT INTO plain VALUES (1)});
ok(poll_short($g, q{SELECT count(*) = 1 FROM plain}, 20, 'other_db'),
	'6: a subscription in another database replicates as usual');
$g->safe_psql('other_db', q{DROP SUBSCRIPTION s_plain});

# --- 8. (before 7, which leaves a subscription retrying) track_counts off
# for the worker: a superuser's ALTER DATABASE reaches it, and the
# pre-commit check, blind without counts, let the write through
$g->safe_psql('postgres', q{ALTER DATABASE postgres SET track_counts = off});
$g->safe_psql('postgres', "CREATE SUBSCRIPTION s_acct8 CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_acct "
	  . "WITH (copy_data = false)");
$offset = -s $g->logfile;
$pub->safe_psql('postgres', q{INSERT INTO acct VALUES (9999, 1)});
ok(log_shows($g, qr/needs track_counts = on/, $offset),
	'8: with track_counts off for the worker, its transaction is refused');
is($g->safe_psql('postgres', $acct), '1=10 2=20', '8: the registered table is unchanged');
$g->safe_psql('postgres', q{DROP SUBSCRIPTION s_acct8});
$g->safe_psql('postgres', q{ALTER DATABASE postgres RESET track_counts});

# --- 7. rig_do from a trigger the apply worker fires (a false positive, fixed)
$g->safe_psql('postgres', q{
CREATE FUNCTION inbox_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM rig_do('acct_open', jsonb_build_object('id', NEW.id, 'balance', NEW.balance));
	RETURN NEW;
END $$;
CREATE TRIGGER inbox_rig AFTER INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION inbox_trg();
ALTER TABLE inbox ENABLE ALWAYS TRIGGER inbox_rig;
INSERT INTO inbox VALUES (5, 50);
});
is($g->safe_psql('postgres', $acct), '1=10 2=20 5=50', '7: in a session, the trigger\'s rig_do writes the registered table');
$g->safe_psql('postgres', "CREATE SUBSCRIPTION s_inbox CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_inbox "
	  . "WITH (copy_data = false)");
$g->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 's_inbox' AND pid IS NOT NULL})
  or die 's_inbox never started';
$pub->safe_psql('postgres', q{INSERT INTO inbox VALUES (6, 60)});
ok(poll_short($g, q{SELECT count(*) = 1 FROM inbox WHERE id = 6}, 10),
	'7: the apply worker\'s trigger runs rig_do and its transaction commits');
is($g->safe_psql('postgres', $acct), '1=10 2=20 5=50 6=60', '7: the registered table holds the op');
is($g->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE method = 'acct_open'}), '4',
	'7: the op is in the log');
$g->safe_psql('postgres', q{DROP SUBSCRIPTION s_inbox});

# ... and what the worker itself writes in the same transaction is still refused
$pub->safe_psql('postgres', q{CREATE PUBLICATION pub_both FOR TABLE inbox, acct (id, balance)});
$g->safe_psql('postgres', "CREATE SUBSCRIPTION s_both CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_both "
	  . "WITH (copy_data = false)");
$g->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 's_both' AND pid IS NOT NULL})
  or die 's_both never started';
$offset = -s $g->logfile;
$pub->safe_psql('postgres', q{BEGIN; INSERT INTO inbox VALUES (8, 80); INSERT INTO acct VALUES (8008, 1); COMMIT});
ok(log_shows($g, qr/A change of (?:public\.)?acct by logical replication was refused/, $offset),
	'7: a worker write of the registered table beside a trigger\'s rig_do is refused');
is($g->safe_psql('postgres', $acct), '1=10 2=20 5=50 6=60', '7: the registered table is unchanged');
is($g->safe_psql('postgres', q{SELECT count(*) FROM inbox WHERE id = 8}), '0',
	'7: nothing of that transaction stays');
$g->safe_psql('postgres', q{DROP SUBSCRIPTION s_both});

done_testing();
