
# Copyright (c) 2026, rig developers

# Settings an ordinary DBA or user sets on a node, its server, a role or a
# session, that rig's remote calls or handlers might not pin (a helper's
# break-it pass):
#  1. a caller's session on the primary: transform_null_equals = on,
#     array_nulls = off, standard_conforming_strings = off,
#     quote_all_identifiers = on, timezone_abbreviations = 'India',
#     xmlbinary = hex before
#     rig_do; a handler whose rows depend on each: the peer computes the
#     same rows (handlers run under rig's pinned settings, handlers.c).
#  2. the same set on the peer's server (ALTER SYSTEM + reload: the
#     primary's cached connection takes them at its next command).
#  3. default_transaction_read_only = on on a sync peer: rig's connections
#     set it off.
#  4. statement_timeout = 200ms for the role rig connects as on the peer,
#     a handler of 0.5 s (rig's SET after connecting wins).
#  5. search_path = evil, pg_catalog, public for that role on the peer,
#     evil holding "=" / "<" ... for bigint and text (always true/false).
#  6. the same search_path in the caller's session on the primary.
#  7. a follower, and an async peer, whose server has
#     default_transaction_read_only = on (the follower's worker sets it
#     off), and a follower serializable by default.
#  8. a branch node with default_transaction_read_only = on.
#  9. rig_ddl under the caller's array_nulls = off, transform_null_equals
#     = on, timezone_abbreviations = 'India' (a column default, a view):
#     the same on both nodes (the first two pinned, the last carried in
#     the record like TimeZone).
# 10. rig_add_peer from a session with quote_all_identifiers = on (the
#     handlers' fingerprints differed from the peer's: refused).
# Failed before: 10, 1, 2 (rows differ, verify reports "differs"), 3, 7
# (read-only), 8 (stays "aborting"), 9.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
rig.sync_timeout = 8000
log_min_messages = log
};

my $flags_sql = q{
CREATE TABLE flags (id bigint PRIMARY KEY, eq_null boolean, arr text[], lit text, qi text, ts timestamptz, xb text);
CREATE FUNCTION flag_resources(d jsonb) RETURNS text[] LANGUAGE sql
	AS $$ SELECT ARRAY['flag'] $$;
CREATE FUNCTION flag_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.flags VALUES (v, (d->>'x') = NULL, (d->>'arr')::text[], 'a\tb', quote_ident('abc'),
		'2020-01-01 00:00 IST'::timestamptz, xmlelement(name b, '\x0102'::bytea)::text) $$;
SELECT rig_register('flag', 'flag_apply(bigint,jsonb)', NULL, 'flag_resources(jsonb)');
SELECT rig_register_table('flags');
CREATE FUNCTION slow_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ SELECT pg_sleep((d->>'s')::float8); INSERT INTO public.flags VALUES (v, NULL, NULL, 'slow') $$;
SELECT rig_register('slow', 'slow_apply(bigint,jsonb)', NULL, 'flag_resources(jsonb)');
};
my $rows = q{SELECT string_agg(id || ':' || coalesce(eq_null::text, 'null') || ':' || array_to_string(arr, ',', '<N>') || ':' || replace(lit, E'\t', '<TAB>') || ':' || coalesce(qi, '-') || ':' || coalesce(ts::text, '-') || ':' || coalesce(xb, '-'), ' ' ORDER BY id) FROM flags};

my $a = rig_node('a', conf => $conf);
my $b = rig_node('b', conf => $conf);
$_->safe_psql('postgres', $flags_sql) for ($a, $b);
$a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");

# a baseline op under the defaults
$a->safe_psql('postgres', q{SELECT rig_do('flag', '{"arr": "{p,NULL}"}')});
is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows), '0: baseline: same rows');

# --- 1. the caller's session sets them
for my $set ('transform_null_equals = on', 'array_nulls = off', 'standard_conforming_strings = off',
	'quote_all_identifiers = on', "timezone_abbreviations = 'India'", 'xmlbinary = hex')
{
	my ($ret, $out, $err) = $a->psql('postgres',
		"SET $set; SELECT rig_do('flag', '{\"arr\": \"{p,NULL}\"}')");
	is($ret, 0, "1: rig_do after SET $set") or diag $err;
	is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows),
		"1: SET $set in the caller's session: primary and peer hold the same rows");
}
rig_verify_ok($a, 'b', '1: rig_verify_peer finds nothing');

# --- 2. the peer's server sets them
for my $set ('transform_null_equals = on', 'array_nulls = off', 'standard_conforming_strings = off',
	'quote_all_identifiers = on', "timezone_abbreviations = 'India'", 'xmlbinary = hex')
{
	$b->safe_psql('postgres', "ALTER SYSTEM SET $set; SELECT pg_reload_conf()");
	my ($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{p,NULL}"}')});
	is($ret, 0, "2: rig_do with $set on the peer's server") or diag $err;
	is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows),
		"2: $set on the peer's server: primary and peer hold the same rows");
	$b->safe_psql('postgres', "ALTER SYSTEM RESET " . (split / /, $set)[0] . "; SELECT pg_reload_conf()");
}
rig_verify_ok($a, 'b', '2: rig_verify_peer finds nothing');

# --- 3. default_transaction_read_only = on on the sync peer
{
	$b->safe_psql('postgres', "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()");
	my ($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{ro}"}')});
	is($ret, 0, '3: rig_do with default_transaction_read_only = on on the sync peer') or diag $err;
	$b->safe_psql('postgres', "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf()");
	($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{after_ro}"}')});
	is($ret, 0, '3: after the reset, rig_do works again') or diag $err;
	is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows), '3: same rows');
	is($b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0', '3: nothing left prepared on the peer');
}

# --- 4. statement_timeout for the role rig connects as on the peer, lower
# than a handler takes there: rig's SET after connecting must win
{
	my $user = $b->safe_psql('postgres', 'SELECT current_user');
	$b->safe_psql('postgres', "ALTER ROLE $user IN DATABASE postgres SET statement_timeout = '200ms'");
	$b->restart;	# the primary's cached connection is gone: a new one
	my ($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('slow', '{"s": 0.5}')});
	if ($ret != 0)
	{
		note "4: first attempt after the restart: $err";
		($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('slow', '{"s": 0.5}')});
	}
	is($ret, 0, '4: a handler slower than the role\'s statement_timeout on the peer') or diag $err;
	is($b->safe_psql('postgres', "SELECT count(*) FROM flags WHERE lit = 'slow'"),
		$a->safe_psql('postgres', "SELECT count(*) FROM flags WHERE lit = 'slow'"), '4: same slow rows');
	$b->safe_psql('postgres', "ALTER ROLE $user IN DATABASE postgres RESET ALL");
}

# --- 5. a search_path for the role rig connects as on the peer that puts
# a schema before pg_catalog, whose "=" (bigint, bigint) and (text, text)
# are always true and "<"/">" always false
my $evil = q{
CREATE SCHEMA evil;
CREATE FUNCTION evil.yes(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION evil.no(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE FUNCTION evil.tyes(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.yes);
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.no);
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.no);
CREATE OPERATOR evil.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.no);
CREATE OPERATOR evil.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.no);
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.tyes);
};
{
	my $user = $b->safe_psql('postgres', 'SELECT current_user');
	$b->safe_psql('postgres', $evil);
	$b->safe_psql('postgres', "ALTER ROLE $user IN DATABASE postgres SET search_path = evil, pg_catalog, public");
	$b->restart;
	my ($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{e1}"}')});
	if ($ret != 0)
	{
		note "5: first attempt after the restart: $err";
		($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{e1}"}')});
	}
	note "5: rig_do with an evil search_path on the peer's role: ret $ret: $err";
	($ret, $out, $err) = $a->psql('postgres', q{SELECT rig_do('flag', '{"arr": "{e2}"}', 'key-e2'); SELECT rig_do('flag', '{"arr": "{e3}"}', 'key-e3')});
	note "5: two more with idempotency keys: ret $ret: $err";
	$b->safe_psql('postgres', "ALTER ROLE $user IN DATABASE postgres RESET ALL");
	is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows), '5: same rows');
	is($b->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), $a->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), '5: same last version');
	rig_verify_ok($a, 'b', '5: rig_verify_peer finds nothing');
}

# --- 6. the same evil schema in the caller's search_path on the primary
{
	$a->safe_psql('postgres', $evil);
	my ($ret, $out, $err) = $a->psql('postgres', q{SET search_path = evil, pg_catalog, public; SELECT rig_do('flag', '{"arr": "{e4}"}', 'key-e4'); SELECT rig_do('flag', '{"arr": "{e5}"}', 'key-e5'); SELECT rig_do('flag', '{"arr": "{e5b}"}', 'key-e5')});
	note "6: rig_do under an evil search_path on the primary: ret $ret: out $out: $err";
	is($b->safe_psql('postgres', $rows), $a->safe_psql('postgres', $rows), '6: same rows');
	is($b->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), $a->safe_psql('postgres', 'SELECT max(version) FROM rig.log'), '6: same last version');
	is($a->safe_psql('postgres', q{SELECT count(*) FROM flags WHERE arr = '{e5b}'}), '0', '6: a repeated idempotency key applied once');
	rig_verify_ok($a, 'b', '6: rig_verify_peer finds nothing');
}

# --- 7. a follower whose server has default_transaction_read_only = on
# (a DBA keeping applications off a replica), worker on
{
	my $wconf = $conf . "rig.resolver_interval = 200\n";
	my $p = rig_node('p7', conf => $wconf);
	my $c = rig_node('c7', conf => $wconf);
	$_->safe_psql('postgres', $flags_sql) for ($p, $c);
	$c->safe_psql('postgres', "SELECT rig_follow('p7', \$\$" . $p->connstr('postgres') . "\$\$)");
	$c->safe_psql('postgres', "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()");
	$p->safe_psql('postgres', q{SELECT rig_do('flag', '{"arr": "{f1}"}')});
	my $last = $p->safe_psql('postgres', 'SELECT rig_last_version()');
	ok($c->poll_query_until('postgres', "SELECT rig_last_version() >= $last"),
		'7: a follower with default_transaction_read_only = on follows')
	  or diag $c->safe_psql('postgres', 'SELECT worker_last_error FROM rig.status');

	# a follower serializable by default
	$c->safe_psql('postgres', "ALTER SYSTEM RESET default_transaction_read_only; "
		  . "ALTER SYSTEM SET default_transaction_isolation = 'serializable'; SELECT pg_reload_conf()");
	$p->safe_psql('postgres', q{SELECT rig_do('flag', '{"arr": "{f1s}"}')});
	$last = $p->safe_psql('postgres', 'SELECT rig_last_version()');
	ok($c->poll_query_until('postgres', "SELECT rig_last_version() >= $last"),
		'7: a follower with default_transaction_isolation = serializable follows')
	  or diag $c->safe_psql('postgres', 'SELECT worker_last_error FROM rig.status');

	# and a peer with it on, reached by catch-up (async)
	my $q = rig_node('q7', conf => $wconf);
	$q->safe_psql('postgres', $flags_sql);
	$q->safe_psql('postgres', "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()");
	my ($ret, $out, $err) = $p->psql('postgres', "SELECT rig_add_peer('q7', \$\$" . $q->connstr('postgres') . "\$\$, 'async')");
	is($ret, 0, '7: rig_add_peer of a node with default_transaction_read_only = on') or diag $err;
	$p->safe_psql('postgres', q{SELECT rig_do('flag', '{"arr": "{f2}"}')});
	$last = $p->safe_psql('postgres', 'SELECT rig_last_version()');
	ok($q->poll_query_until('postgres', "SELECT rig_last_version() >= $last"),
		'7: an async peer with default_transaction_read_only = on is caught up')
	  or diag $p->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM rig.peer_status WHERE name = 'q7'");
	$_->stop for ($p, $c, $q);
}

# --- 8. a branch node with default_transaction_read_only = on
{
	my $east = rig_node('east', conf => $conf);
	my $west = rig_node('west', conf => $conf);
	rig_xfer_setup($east, { 1 => 1000 });
	rig_xfer_setup($west, { 2 => 1000 });
	$west->safe_psql('postgres', q{ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()});
	$east->safe_psql('postgres', "SELECT rig_add_node('west', \$\$" . $west->connstr('postgres') . "\$\$)");
	my $t = rig_xfer_start($east, rig_xfer_branches('east', 1, 'west', 2, 5));
	my $st = $east->safe_psql('postgres', "SELECT rig_transaction_wait($t, '60s')");
	is($st, "committed", "8: a transfer to a branch node read-only by default commits");
	is(rig_xfer_money($east, $west), '2000 holds 0', '8: the money whole, no hold left');
	$east->stop;
	$west->stop;
}

# --- 9. rig_ddl under the caller's array_nulls = off / transform_null_equals
# = on: a column default and a view parsed on each node
{
	my $dconf = $conf . "rig.ddl_role = 'ddl_owner'\n";
	my $p = rig_node('p9', conf => $dconf);
	my $r = rig_node('r9', conf => $dconf);
	for my $n ($p, $r)
	{
		$n->safe_psql('postgres', q{
CREATE ROLE ddl_owner;
GRANT CREATE ON DATABASE postgres TO ddl_owner;
GRANT CREATE ON SCHEMA public TO ddl_owner;
});
	}
	$p->safe_psql('postgres', "SELECT rig_add_peer('r9', \$\$" . $r->connstr('postgres') . "\$\$, 'sync')");
	my ($ret, $out, $err) = $p->psql('postgres', q{SET array_nulls = off; SET transform_null_equals = on; SET timezone_abbreviations = 'India'; SELECT rig_ddl($ddl$
CREATE TABLE d9 (id int PRIMARY KEY, tags text[] DEFAULT '{a,NULL}', x text, t timestamptz DEFAULT '2020-01-01 00:00 IST');
CREATE VIEW v9 AS SELECT id, x = NULL AS no_x FROM d9;
$ddl$)});
	is($ret, 0, '9: rig_ddl under odd settings') or diag $err;
	my $def = q{SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'd9'::regclass};
	my $view = q{SELECT pg_get_viewdef('v9')};
	is($r->safe_psql('postgres', $def), $p->safe_psql('postgres', $def), '9: the same column default on both nodes');
	is($r->safe_psql('postgres', $view), $p->safe_psql('postgres', $view), '9: the same view on both nodes');
	$_->stop for ($p, $r);
}

# --- 10. rig_add_peer from a session with quote_all_identifiers = on: the
# handlers' fingerprints print the definitions alike in every session
{
	my $p = rig_node('p10', conf => $conf);
	my $r = rig_node('r10', conf => $conf);
	$_->safe_psql('postgres', $flags_sql) for ($p, $r);
	my $fp = q{SELECT string_agg(method || ' ' || fingerprint, ',' ORDER BY method) FROM rig_handler_fingerprints()};
	is($p->safe_psql('postgres', "SET quote_all_identifiers = on; $fp"), $p->safe_psql('postgres', $fp),
		'10: the handlers\' fingerprints do not depend on quote_all_identifiers');
	my ($ret, $out, $err) = $p->psql('postgres', "SET quote_all_identifiers = on; SELECT rig_add_peer('r10', \$\$"
		  . $r->connstr('postgres') . "\$\$, 'sync')");
	is($ret, 0, '10: rig_add_peer from a session with quote_all_identifiers = on') or diag $err;
	$_->stop for ($p, $r);
}

done_testing();
