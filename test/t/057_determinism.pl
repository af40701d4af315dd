
# Copyright (c) 2026, rig developers

# Handlers run under fixed settings, not the caller's (rig.handler_timezone,
# DateStyle, IntervalStyle, extra_float_digits, bytea_output; found by the
# role break-it pass): a rig_writer's session with other display and input
# settings writes through a handler that reads a date, a timestamptz with
# an offset, an interval, a float and a bytea from its data, and
#  1. the primary and its sync peer (whose apply session has the server's
#     defaults) store the same row, and rig_verify_peer finds nothing;
#  2. rig_rebuild() on either node, called from a session with still other
#     settings, reproduces it.
# (Failed before the fix: the primary stored 2026-02-01 for '01/02/2026'
# and the peer 2026-01-02, rig_verify_peer said the table differs, and a
# rebuild from another session stored a third row: interval 'P1DT2H'.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $schema = q{
CREATE SCHEMA det;
CREATE TABLE det.t (version bigint PRIMARY KEY, day date, day_of_at date, iv text, f text, b text);
CREATE FUNCTION det.apply(v bigint, d jsonb) RETURNS void
	LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO det.t VALUES (v, (d->>'day')::date, (d->>'at')::timestamptz::date,
		(d->>'iv')::interval::text, ((d->>'f')::float8 + 0.2)::text, (d->>'b')::bytea::text) $$;
SELECT rig_register('det', 'det.apply(bigint,jsonb)');
SELECT rig_register_table('det.t');
CREATE ROLE det_writer LOGIN IN ROLE rig_writer;
};
my $p = rig_node('p');
my $r = rig_node('r');
$_->safe_psql('postgres', $schema) for ($p, $r);
my $connstr_r = $r->connstr('postgres');
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$$connstr_r\$\$, 'sync')");

my $odd = q{SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard'; SET extra_float_digits = 0; SET bytea_output = 'escape';};
my $op = q{SELECT rig_do('det', '{"day": "01/02/2026", "at": "2026-01-01 23:30:00+00",
	"iv": "1 day 2 hours", "f": 0.1, "b": "\\\\x01ff"}') > 0};
is($p->safe_psql('postgres', "$odd $op", extra_params => [ '-U', 'det_writer' ]),
	't', 'a rig_writer with other settings writes');

my $row = q{SELECT to_char(day, 'YYYY-MM-DD'), to_char(day_of_at, 'YYYY-MM-DD'), iv, f, b FROM det.t};
my $expected = '2026-01-02|2026-01-01|1 day 02:00:00|0.30000000000000004|\x01ff';
is($p->safe_psql('postgres', $row), $expected, '1: the primary stored the row of the fixed settings');
is($r->safe_psql('postgres', $row), $expected, '1: its sync peer stored the same row');
rig_verify_ok($p, 'r', '1: rig_verify_peer finds nothing');

# 2. a rebuild from a session with still other settings
my $other = q{SET TimeZone = 'America/Los_Angeles'; SET DateStyle = 'German';
SET IntervalStyle = 'iso_8601'; SET extra_float_digits = -3;};
for my $node ($r, $p)
{
	$node->safe_psql('postgres', "$other SELECT rig_rebuild()");
	is($node->safe_psql('postgres', $row), $expected,
		'2: rig_rebuild() on ' . $node->name . ' reproduces the row');
}

done_testing();
