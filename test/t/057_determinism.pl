
# Copyright (c) 2026, rig developers

# Handlers run under fixed settings, not the caller's (rig.handler_timezone,
# DateStyle, IntervalStyle, extra_float_digits, bytea_output; found by the
# role break-it pass; since session 11 also rig.handler_locale for the
# lc_ settings and default_text_search_config): a rig_writer's session with
# other display and input settings (German month names and money) writes
# through a handler that reads a date, a timestamptz with an offset, an
# interval, a float, a bytea and a money amount from its data, stems a text
# with to_tsvector(text) and names a month with to_char, and
#  1. the primary and its sync peer (whose apply session has the server's
#     defaults: the peer's server stems in english and prints dates, numbers
#     and money in German) store the same row, and rig_verify_peer finds
#     nothing (it hashes the money column under lc_monetary C on both);
#  2. rig_rebuild() on either node, called from a session with still other
#     settings, reproduces it; on the primary from a snapshot taken in a
#     session with German money (the snapshot writes it under lc_monetary C,
#     and loads it so).
#  3. those settings must be the same on every node: rig.handler_timezone
#     changed on the peer alone (postgresql.conf and a reload) makes it
#     diverged, naming the setting, rig_verify_peer names it, and rig_do
#     refuses; the same zone on the primary too brings it back to sync, and
#     handlers read a day in Tokyo on both; no session may SET it (it is
#     the node's, PGC_SIGHUP);
#     set back, the peer is in sync again; rig_add_peer of a node with
#     another rig.handler_locale is refused, naming both values.
# Needs the locale de_DE.UTF-8 (test/run.sh generates it).
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
CREATE TABLE det.t (version bigint PRIMARY KEY, day date, day_of_at date, iv text, f text, b text,
	tsv text, month text, amount money);
CREATE FUNCTION det.apply(v bigint, d jsonb) RETURNS void
	LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO det.t VALUES (v, (d->>'day')::date, (d->>'at')::timestamptz::date,
		(d->>'iv')::interval::text, ((d->>'f')::float8 + 0.2)::text, (d->>'b')::bytea::text,
		to_tsvector(d->>'text')::text, to_char(date '2026-03-05', 'TMMonth'), (d->>'amount')::money) $$;
SELECT rig_register('det', 'det.apply(bigint,jsonb)');
SELECT rig_register_table('det.t');
CREATE ROLE det_writer LOGIN IN ROLE rig_writer;
};
BAIL_OUT('the locale de_DE.UTF-8 is missing: run test/run.sh as root, or localedef -i de_DE -f UTF-8 de_DE.UTF-8')
  unless grep { /^de_DE\.utf-?8$/i } split /\n/, `locale -a`;
my $german = "'de_DE.UTF-8'";
my $p = rig_node('p');
my $r = rig_node('r',
	conf => "default_text_search_config = 'pg_catalog.english'\n"
	  . "lc_time = $german\nlc_monetary = $german\nlc_numeric = $german\n");
$_->safe_psql('postgres', $schema) for ($p, $r);
my $connstr_r = $r->connstr('postgres');
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$$connstr_r\$\$, 'sync')");

my $odd = q{SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard'; SET extra_float_digits = 0; SET bytea_output = 'escape';
SET default_text_search_config = 'pg_catalog.english'; SET lc_time = 'de_DE.UTF-8';
SET lc_monetary = 'de_DE.UTF-8'; SET lc_numeric = 'de_DE.UTF-8';};
my $op = q{SELECT rig_do('det', '{"day": "01/02/2026", "at": "2026-01-01 23:30:00+00",
	"iv": "1 day 2 hours", "f": 0.1, "b": "\\\\x01ff", "text": "The running dogs", "amount": "1234.50"}') > 0};
is($p->safe_psql('postgres', "$odd $op", extra_params => [ '-U', 'det_writer' ]),
	't', 'a rig_writer with other settings writes');

my $row = q{SELECT to_char(day, 'YYYY-MM-DD'), to_char(day_of_at, 'YYYY-MM-DD'), iv, f, b, tsv, month, amount::numeric FROM det.t};
my $expected = q{2026-01-02|2026-01-01|1 day 02:00:00|0.30000000000000004|\x01ff|'dogs':3 'running':2 'the':1|March|1234.50};
is($p->safe_psql('postgres', $row), $expected, '1: the primary stored the row of the fixed settings');
is($r->safe_psql('postgres', $row), $expected, '1: its sync peer stored the same row');
rig_verify_ok($p, 'r', '1: rig_verify_peer finds nothing');

# 2. a rebuild from a session with still other settings; the primary's from
# a snapshot taken with German money
$p->safe_psql('postgres', "SET lc_monetary = $german; SELECT rig_snapshot()");
my $other = q{SET TimeZone = 'America/Los_Angeles'; SET DateStyle = 'German';
SET IntervalStyle = 'iso_8601'; SET extra_float_digits = -3;
SET default_text_search_config = 'pg_catalog.english'; SET lc_numeric = 'C.UTF-8';};
for my $node ($r, $p)
{
	$node->safe_psql('postgres', "$other SELECT rig_rebuild()");
	is($node->safe_psql('postgres', $row), $expected,
		'2: rig_rebuild() on ' . $node->name . ' reproduces the row');
}

# 3. the settings handlers run under must match on every node
rig_set_resolver($p, 100);
$r->safe_psql('postgres', q{ALTER SYSTEM SET rig.handler_timezone = 'Asia/Tokyo'; SELECT pg_reload_conf()});
ok( $p->poll_query_until('postgres',
		q{SELECT state = 'diverged' AND last_error LIKE '%rig.handler_timezone (differs)%' FROM rig.peer_status WHERE name = 'r'}),
	'3: r with another rig.handler_timezone becomes diverged, naming the setting');
is($p->safe_psql('postgres', q{SELECT relation, key_range, problem FROM rig_verify_peer('r')}),
	'rig.handlers|rig.handler_timezone|differs', '3: rig_verify_peer names it');
my ($ret, $out, $err) = $p->psql('postgres', $op, extra_params => [ '-U', 'det_writer' ]);
like($err, qr/sync peer "r" has diverged from this node/, '3: rig_do refuses while the sync peer is diverged');
# the same zone on the primary too: in sync, and handlers read the day in Tokyo on both
$p->safe_psql('postgres', q{ALTER SYSTEM SET rig.handler_timezone = 'Asia/Tokyo'; SELECT pg_reload_conf()});
ok($p->poll_query_until('postgres', q{SELECT current_setting('rig.handler_timezone') = 'Asia/Tokyo'})
	  && $p->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'r'}),
	'3: the same zone on the primary, r is in_sync again');
is($p->safe_psql('postgres', $op, extra_params => [ '-U', 'det_writer' ]), 't', '3: and rig_do commits');
my $last_day = q{SELECT to_char(day_of_at, 'YYYY-MM-DD') FROM det.t ORDER BY version DESC LIMIT 1};
is($p->safe_psql('postgres', $last_day), '2026-01-02', '3: the primary read 23:30 UTC as the next day in Tokyo');
is($r->safe_psql('postgres', $last_day), '2026-01-02', '3: ... and so did r');
# a session cannot set its own (superuser or not): it is the node's
($ret, $out, $err) = $p->psql('postgres', q{SET rig.handler_timezone = 'UTC'});
like($err, qr/parameter "rig.handler_timezone" cannot be changed now/, '3: no session sets rig.handler_timezone');
$_->safe_psql('postgres', q{ALTER SYSTEM RESET rig.handler_timezone; SELECT pg_reload_conf()}) for ($r, $p);
ok($p->poll_query_until('postgres', q{SELECT current_setting('rig.handler_timezone') = 'UTC'})
	  && $r->poll_query_until('postgres', q{SELECT current_setting('rig.handler_timezone') = 'UTC'})
	  && $p->poll_query_until('postgres', q{SELECT state = 'in_sync' FROM rig.peer_status WHERE name = 'r'}),
	'3: both set back, r is in_sync');
is($p->safe_psql('postgres', $op, extra_params => [ '-U', 'det_writer' ]), 't', '3: and rig_do commits');
rig_verify_ok($p, 'r', '3: rig_verify_peer finds nothing');

my $n = rig_node('n', conf => "rig.handler_locale = $german\n");
$n->safe_psql('postgres', $schema);
($ret, $out, $err) = $p->psql('postgres', "SELECT rig_add_peer('n', \$\$" . $n->connstr('postgres') . "\$\$, 'sync')");
like($err, qr/node "n" runs handlers under other settings than this node.*rig\.handler_locale \(here C, there de_DE\.UTF-8\)/s,
	'3: rig_add_peer of a node with another rig.handler_locale is refused, naming both values');
is($p->safe_psql('postgres', q{SELECT count(*) FROM rig.peers WHERE name = 'n'}), '0', '3: ... and it is not a peer');

done_testing();
