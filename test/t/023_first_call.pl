
# Copyright (c) 2026, rig developers

# The first call of a session after a server restart, and after DROP /
# CREATE EXTENSION, sees the versions the node handed out before: the
# counter of versions in shared memory starts at zero after a restart and
# must be loaded (from the version sequence, the log and the prepared
# transactions) before anything reads or draws a version.
#
# Each of rig.status, rig_node_info(), rig_watermark(), rig_log_since()
# and rig_do() is the first call of a fresh session on a freshly
# restarted primary "a" (its worker is idle, rig.resolver_interval = -1,
# so it loads nothing first); then the replica "b" is restarted and the
# primary's next commit is b's first rig_apply_remote.  A standalone "c"
# recreates its extension and is asked again, in a new session and in one
# that was open across the DROP.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $node_a = rig_node('a');
my $node_b = rig_node('b');
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
$node_a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $node_b->connstr('postgres') . "\$\$, 'sync')");

# three ops committed, two drawn and rolled back: the sequence is at 5
$node_a->safe_psql('postgres', "SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 3) i");
$node_a->safe_psql('postgres', q{BEGIN; SELECT rig_do('note', '{"body": "gone1"}'); SELECT rig_do('note', '{"body": "gone2"}'); ROLLBACK;});

# Restart a and ask, each time from a new session, as the first rig call
# of that session after the restart.  (Each restart makes the next call
# the first one of the server, too.)
my %first = (
	'rig.status' => [ q{SELECT last_version || ' ' || watermark || ' ' || in_flight FROM rig.status}, '3 5 0' ],
	'rig_node_info()' => [ q{SELECT last_version FROM rig_node_info()}, '3' ],
	'rig_watermark()' => [ q{SELECT rig_watermark()}, '5' ],
	'rig_log_since()' => [ q{SELECT count(*) || ' ' || max(version) FROM rig_log_since(0, 100)}, '3 3' ],
);
for my $what (sort keys %first)
{
	$node_a->restart;
	is($node_a->safe_psql('postgres', $first{$what}[0]), $first{$what}[1],
		"a restarted: $what as the server's first call sees every version handed out");
}

# rig_do first after a restart: a new version above the sequence, on both nodes
$node_a->restart;
is($node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "after-restart"}')}),
	'6', 'a restarted: rig_do as the first call takes the version after the sequence');
is($node_a->safe_psql('postgres', q{SELECT last_version || ' ' || watermark FROM rig.status}),
	'6 6', 'a: the op is final there');
is($node_b->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM notes}),
	'1,2,3,6', 'b holds every committed op');

# b restarted: a's next commit is b's first rig_apply_remote since
$node_b->restart;
is($node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "b-restarted"}')}),
	'7', 'b restarted: a commits the next op on it');
is($node_b->safe_psql('postgres', q{SELECT string_agg(version::text, ',' ORDER BY version) FROM rig.log}),
	'1,2,3,6,7', "b restarted: its first rig_apply_remote wrote the op");
is($node_b->safe_psql('postgres', q{SELECT last_version FROM rig.status}),
	'7', 'b restarted: rig.status shows it');
$node_b->restart;
is($node_b->safe_psql('postgres', q{SELECT last_version FROM rig_node_info()}),
	'7', 'b restarted: rig_node_info as the first call');
is($node_b->safe_psql('postgres', q{SELECT count(*) FROM notes}), '5', 'b applied each op once');

# c: recreate the extension, with a session open across the DROP
my $node_c = rig_node('c');
$node_c->safe_psql('postgres', rig_notes_sql());
$node_c->safe_psql('postgres', "SELECT rig_do('note', jsonb_build_object('body', 'c' || i)) FROM generate_series(1, 4) i");
my $old = rig_session($node_c);
is($old->query_safe(q{SELECT rig_watermark()}), '4', 'c: the old session sees the watermark');
$node_c->safe_psql('postgres', q{DROP EXTENSION rig; TRUNCATE notes; CREATE EXTENSION rig;
SELECT rig_register('note', 'note_apply(bigint,jsonb)', NULL, 'note_resources(jsonb)');});
is($old->query_safe(q{SELECT rig_watermark() || ' ' || (SELECT watermark FROM rig.status)}), '0 0',
	'c recreated: the session open across the DROP sees the new, empty log');
is($node_c->safe_psql('postgres', q{SELECT count(*) FROM rig_log_since(0, 100)}), '0',
	'c recreated: rig_log_since as a new session\'s first call sees the new log');
is($old->query_safe(q{SELECT rig_do('note', '{"body": "c-new"}')}), '1',
	'c recreated: rig_do in the old session starts the new log at 1');
is($node_c->safe_psql('postgres', q{SELECT last_version || ' ' || watermark FROM rig.status}), '1 1',
	'c recreated: rig.status in a new session');
$old->quit;

done_testing();
