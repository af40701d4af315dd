
# Copyright (c) 2026, rig developers

# PostgreSQL's logical replication writes a subscriber's tables without the
# executor (the apply worker builds its own EState; the initial copy calls
# COPY's code directly), so neither of the hooks that guard a registered
# table sees it.  A subscription whose publication carries a table of the
# same name as a registered one would change that table around the log, on
# this node only.  rig refuses such a write when the worker's transaction
# commits (tableguard.c, rig_tableguard_pre_commit):
#  1. the initial copy of a published table into a registered one fails,
#     the registered table keeps only what rig_do wrote;
#  2. so does the apply of later changes (INSERT, UPDATE, DELETE,
#     TRUNCATE), whatever the worker retries, and the error says why;
#  3. a table that is not registered, in the same database, replicates as
#     usual (subscriptions stay usable for anything else);
#  4. rig_do keeps working meanwhile, and the node's log and table agree;
#  5. a two_phase subscription: the prepare the apply worker makes of a
#     publisher's prepared transaction is refused the same way, nothing
#     stays prepared on the subscriber, and the publisher's COMMIT
#     PREPARED changes nothing here either.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

# Whether the server log shows $re after $offset (waits for it).
sub log_shows
{
	my ($node, $re, $offset) = @_;
	return eval { $node->wait_for_log($re, $offset); 1 } ? 1 : 0;
}

my $tables = q{
CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE notes (id int PRIMARY KEY, body text);
};

# the publisher: plain PostgreSQL, no rig
my $pub = PostgreSQL::Test::Cluster->new('pub');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', 'max_prepared_transactions = 10');
$pub->start;
$pub->safe_psql('postgres', $tables . q{
INSERT INTO acct VALUES (100, 5), (101, 6);
INSERT INTO notes VALUES (1, 'first');
CREATE PUBLICATION pub_acct FOR TABLE acct;
CREATE PUBLICATION pub_notes FOR TABLE notes;
});

# the subscriber: a rig node whose handler owns acct
my $sub = rig_node('sub', conf => "max_logical_replication_workers = 4\nwal_retrieve_retry_interval = 200ms\n");
$sub->safe_psql('postgres', $tables . rig_acct_sql()
	  . q{SELECT rig_do('acct_open', '{"id": 1, "balance": 10}')});
my $acct = q{SELECT coalesce(string_agg(id || '=' || balance, ' ' ORDER BY id), '') FROM acct};
my $logged = q{SELECT coalesce(string_agg((data->>'id') || '=' || (data->>'balance'), ' ' ORDER BY version), '')
	FROM rig.log WHERE method = 'acct_open'};

my $pubconn = $pub->connstr('postgres');
my $offset = -s $sub->logfile;
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION sub_notes CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_notes");
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION sub_acct CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_acct");

# --- 3. (first, as the baseline) an unregistered table replicates
$sub->poll_query_until('postgres', q{SELECT count(*) = 1 FROM notes})
  or die 'notes never arrived';
is($sub->safe_psql('postgres', q{SELECT body FROM notes}), 'first', '3: an unregistered table replicates');

# --- 1. the initial copy into the registered table is refused, again and again
ok(log_shows($sub, qr/(?s)table (?:public\.)?acct is registered with rig: only its handlers may change it.*table (?:public\.)?acct is registered with rig/, $offset),
	'1: the initial copy of a published table into a registered one is refused (and retried)');
like(slurp_file($sub->logfile, $offset), qr/by logical replication was refused/,
	'1: the error says logical replication was refused');
is($sub->safe_psql('postgres', $acct), '1=10', '1: the registered table holds only what rig_do wrote');

# --- 2. no copy: the apply of each later change is refused the same way
# (a subscription per change, so that each one is refused on its own and
# not behind the retries of the one before)
$sub->safe_psql('postgres', q{DROP SUBSCRIPTION sub_acct});
$pub->safe_psql('postgres', q{INSERT INTO acct VALUES (1, 5)});
my $n = 0;
for my $change ('INSERT INTO acct VALUES (102, 7)', 'UPDATE acct SET balance = 0 WHERE id = 1',
	'DELETE FROM acct WHERE id = 1', 'TRUNCATE acct')
{
	$n++;
	$sub->safe_psql('postgres',
		"CREATE SUBSCRIPTION sub_acct$n CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_acct WITH (copy_data = false)");
	$offset = -s $sub->logfile;
	$pub->safe_psql('postgres', $change);
	ok(log_shows($sub, qr/table (?:public\.)?acct is registered with rig/, $offset), "2: refused: $change");
	is($sub->safe_psql('postgres', $acct), '1=10', "2: the registered table is unchanged after: $change");
	$sub->safe_psql('postgres', "DROP SUBSCRIPTION sub_acct$n");
}

# --- 3. the other subscription kept working through all of it
$pub->safe_psql('postgres', q{INSERT INTO notes VALUES (2, 'second')});
$sub->poll_query_until('postgres', q{SELECT count(*) = 2 FROM notes})
  or die 'notes stopped replicating';
pass('3: the unregistered table still replicates');

# --- 4. rig_do meanwhile, and the log agrees with the table
$sub->safe_psql('postgres', q{SELECT rig_do('acct_open', '{"id": 2, "balance": 20}')});
is($sub->safe_psql('postgres', $acct), '1=10 2=20', '4: rig_do still writes the registered table');
is($sub->safe_psql('postgres', $acct), $sub->safe_psql('postgres', $logged),
	'4: the registered table is exactly what the log says');

# --- 5. two_phase: the apply worker's PREPARE is refused too
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub_2pc CONNECTION \$\$$pubconn\$\$ PUBLICATION pub_acct WITH (copy_data = false, two_phase = true)");
$sub->poll_query_until('postgres',
	q{SELECT subtwophasestate = 'e' FROM pg_subscription WHERE subname = 'sub_2pc'})
  or die 'sub_2pc never enabled two_phase';
$offset = -s $sub->logfile;
$pub->safe_psql('postgres', q{BEGIN; INSERT INTO acct VALUES (103, 8); PREPARE TRANSACTION 'pub_x'});
ok(log_shows($sub, qr/table (?:public\.)?acct is registered with rig/, $offset),
	'5: the apply of a prepared transaction is refused');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts}), '0',
	'5: nothing stays prepared on the subscriber');
$pub->safe_psql('postgres', q{COMMIT PREPARED 'pub_x'});
$offset = -s $sub->logfile;
ok(log_shows($sub, qr/table (?:public\.)?acct is registered with rig/, $offset),
	'5: and still refused once the publisher committed it');
is($sub->safe_psql('postgres', $acct), '1=10 2=20', '5: the registered table is unchanged');
$sub->safe_psql('postgres', q{DROP SUBSCRIPTION sub_2pc});

$sub->safe_psql('postgres', q{DROP SUBSCRIPTION sub_notes});
done_testing();
