
# Copyright (c) 2026, rig developers

# Break-it pass on session 11's changes (issue 13):
#  1. rig_verify_peer descends into a registered table keyed by money from
#     a session with German money (lc_monetary de_DE.UTF-8): the keys that
#     split a range (rig_table_key_bounds) are written as text there and
#     read back by rig_table_range_hashes under lc_monetary C on both
#     nodes, so they must be written under C too.  (Failed before the fix:
#     rig_verify_peer failed with "invalid input syntax for type money"
#     instead of naming the key range that differs.)
#  2. a money constant in a rig_ddl change from a session with German
#     money: the rig.ddl record carries lc_monetary (as it carries
#     TimeZone, DateStyle and IntervalStyle), so the peer reads '1,5' as
#     1.50 too.  (Failed before the fix: 15.00 there.)
#  3. rig_compact while rig_add_peer ships a new node the log at
#     rig.bootstrap_max_rate (no bootstrap: nothing compacted yet, but a
#     snapshot, so compaction may go up to its W): the new node is no peer
#     yet, so no horizon kept what it still lacked.  Now compaction keeps
#     everything while a rig_add_peer runs and says so; once the add
#     committed it compacts again.  (Failed before the fix: the compaction
#     removed the 2499 records below the snapshot's W, 1500 of them not
#     shipped yet; rig_add_peer then failed with 55000, "log records after
#     version 2000 are no longer on node", and the new node, holding 1000
#     notes, had to be rebuilt from an empty node.)
#  4. writers faster than rig.bootstrap_max_rate while rig_add_peer ships a
#     new node the log: every pass at the rate took longer than the one
#     before (the backlog grew by the writes of the pass), 20 of them, and
#     then the rest went under the commit gate with every writer waiting.
#     Now a pass that finds at least as many versions to ship as the one
#     before says so and the rest goes at full speed.  (Failed before the
#     fix: rig_add_peer was still shipping after 45 s of pgbench's 75.)
#  5. (run between 1 and 2) a superuser's SET rig.handler_timezone in the
#     session that calls rig_verify_peer made the healthy sync peer
#     diverged ("rig.handler_timezone differs") and every rig_do was
#     refused, and a superuser's SET (or ALTER ROLE ... SET) before rig_do
#     made the primary store other rows than its peers computed, unseen.
#     The rig.handler_* settings are now PGC_SIGHUP, the node's alone: SET
#     and ALTER ROLE SET are refused, and the comparison reads the values
#     RESET gives.
# Needs the locale de_DE.UTF-8 (test/run.sh generates it).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

BAIL_OUT('the locale de_DE.UTF-8 is missing: run test/run.sh as root, or localedef -i de_DE -f UTF-8 de_DE.UTF-8')
  unless grep { /^de_DE\.utf-?8$/i } split /\n/, `locale -a`;

# --- 1. a money key under German money
my $prices = q{
CREATE TABLE prices (amount money PRIMARY KEY, label text NOT NULL);
CREATE FUNCTION price_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.prices VALUES ((d->>'amount')::numeric::money, d->>'label') $$;
SELECT rig_register('price', 'price_apply(bigint,jsonb)');
SELECT rig_register_table('prices');
};
my $p = rig_node('p');
my $r = rig_node('r', conf => "rig.ddl_role = 'ddl_owner'\n");
$_->safe_psql('postgres', $prices) for ($p, $r);
$r->safe_psql('postgres', 'CREATE ROLE ddl_owner; GRANT CREATE ON SCHEMA public TO ddl_owner');
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$" . $r->connstr('postgres') . "\$\$, 'sync')");
$p->safe_psql('postgres',
	q{SELECT rig_do('price', jsonb_build_object('amount', 1000 + i * 10.5, 'label', 'p' || i)) FROM generate_series(1, 60) i});
$r->poll_query_until('postgres', 'SELECT count(*) = 60 FROM prices')
  or die 'the peer did not get the prices';
rig_verify_ok($p, 'r', '1: rig_verify_peer finds nothing at first');
$r->safe_psql('postgres',
	q{SET rig.maintenance = on; UPDATE prices SET label = 'changed' WHERE amount = 1315::numeric::money});
my ($ret, $out, $err) = $p->psql('postgres',
	q{SET lc_monetary = 'de_DE.UTF-8'; SELECT relation, key_range, problem FROM rig_verify_peer('r')});
is($ret, 0, '1: rig_verify_peer from a session with German money works') or diag $err;
like($out, qr/^public\.prices\|[^€]+\|differs$/,
	'1: ... and names the key range that differs (money under lc_monetary C)');
unlike($out, qr/\n/, '1: ... once');
$r->safe_psql('postgres',
	q{SET rig.maintenance = on; UPDATE prices SET label = 'p30' WHERE amount = 1315::numeric::money});
rig_verify_ok($p, 'r', '1: set back, rig_verify_peer finds nothing');

# --- 5. the handler settings are the node's: no session or role sets its own
my ($ret5, $out5, $err5) = $p->psql('postgres', q{SET rig.handler_timezone = 'Asia/Tokyo'});
like($err5, qr/parameter "rig.handler_timezone" cannot be changed now/,
	'5: a superuser session cannot SET rig.handler_timezone');
($ret5, $out5, $err5) = $p->psql('postgres', q{ALTER ROLE postgres SET rig.handler_locale = 'de_DE.UTF-8'});
like($err5, qr/parameter "rig.handler_locale" cannot be (changed now|set)/,
	'5: ... nor ALTER ROLE set rig.handler_locale for a role') or diag $err5;
rig_verify_ok($p, 'r', '5: rig_verify_peer finds nothing');
is(rig_peer_state($p, 'r', 'state'), 'in_sync', '5: ... and r stays in sync');

# --- 2. a money constant in rig_ddl, from a session with German money
$p->safe_psql('postgres', q{SET lc_monetary = 'de_DE.UTF-8'; SELECT rig_ddl($ddl$
CREATE TABLE fees (version bigint PRIMARY KEY, fee money NOT NULL DEFAULT '1,5');
CREATE FUNCTION fee_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS 'INSERT INTO public.fees (version) VALUES (v)';
$ddl$)});
$p->safe_psql('postgres', q{SELECT rig_register('fee', 'fee_apply(bigint,jsonb)')});
$p->safe_psql('postgres', q{SELECT rig_do('fee', '{}')});
is($p->safe_psql('postgres', 'SELECT fee::numeric FROM fees'), '1.50',
	"2: the primary's German session read the default '1,5' as 1.50");
$r->poll_query_until('postgres', 'SELECT count(*) = 1 FROM fees') or die 'the peer did not get the fee';
is($r->safe_psql('postgres', 'SELECT fee::numeric FROM fees'), '1.50',
	'2: so did the peer, applying the change under the lc_monetary it carries');

# --- 3. rig_compact while rig_add_peer paces the log it ships a new node
my $notes = q{SELECT count(*), md5(string_agg(id || ':' || body, ',' ORDER BY id)) FROM notes};
my $notes_sql = rig_notes_sql() . q{SELECT rig_register_table('notes');
CREATE FUNCTION big_note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.notes VALUES (v, repeat(d->>'fill', (d->>'n')::int)) $$;
SELECT rig_register('big_note', 'big_note_apply(bigint,jsonb)');};
my $e = rig_node('e');
my $f = rig_node('f');
$_->safe_psql('postgres', $notes_sql) for ($e, $f);
$e->safe_psql('postgres',
	q{SELECT rig_do('big_note', jsonb_build_object('fill', chr(97 + i % 26), 'n', 1000)) FROM generate_series(1, 2500) i});
$e->safe_psql('postgres', 'SELECT rig_snapshot()');
$e->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = '1kB'; SELECT pg_reload_conf()});
my $sess = rig_session($e);
my $pid  = $sess->query_safe('SELECT pg_backend_pid()');
rig_bg_send($sess, "SELECT rig_add_peer('f', \$\$" . $f->connstr('postgres') . "\$\$, 'sync')");
ok( $e->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' AND state = 'active' FROM pg_stat_activity WHERE pid = $pid")
	  && $f->poll_query_until('postgres', 'SELECT count(*) > 0 FROM notes'),
	'3: rig_add_peer waits after the first batch of the log it ships the new node');
my $part = $f->safe_psql('postgres', 'SELECT count(*) FROM notes');
cmp_ok($part, "<", 2000, "3: ... which holds $part of the 2500 notes");
($ret, $out, $err) = $e->psql('postgres', 'SELECT rig_compact(1000000)');
is($out, '0', '3: rig_compact meanwhile removes nothing') or diag $err;
like($err, qr/a running rig_add_peer\(\) still needs them/, '3: ... and says why');
$e->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = 0; SELECT pg_reload_conf()});
($out, $err) = rig_bg_result($sess);
unlike($err, qr/ERROR/, '3: rig_add_peer completes') or diag $err;
$sess->quit;
is($f->safe_psql('postgres', $notes), $e->safe_psql('postgres', $notes), '3: the new node holds every note');
rig_verify_ok($e, 'f', '3: rig_verify_peer finds no difference');
cmp_ok($e->safe_psql('postgres', 'SELECT rig_compact(1000000)'), '>', 0,
	'3: once the add committed, rig_compact removes records again');
rig_verify_ok($e, 'f', '3: ... and rig_verify_peer still finds no difference');

# --- 4. writers outrun rig.bootstrap_max_rate while rig_add_peer ships the log
my $g = rig_node('g');
my $h = rig_node('h');
$_->safe_psql('postgres', rig_notes_sql()) for ($g, $h);
$g->safe_psql('postgres', q{SELECT rig_do('note', jsonb_build_object('body', 'n' || i)) FROM generate_series(1, 1001) i});
my $script = $g->basedir . '/note.sql';
append_to_file($script, q{SELECT rig_do('note', jsonb_build_object('body', md5(random()::text)));} . "\n");
$g->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = '4kB'; SELECT pg_reload_conf()});
my ($bench_out, $bench_err) = ('', '');
my $bench = rig_pgbench($g, \$bench_out, \$bench_err, '-c', '2', '-T', '75', '-f', $script);
$sess = rig_session($g);
rig_bg_send($sess, "SELECT rig_add_peer('h', \$\$" . $h->connstr('postgres') . "\$\$, 'sync')");
{
	# pgbench writes for 75 s, far more than 4 kB/s of notes
	local $PostgreSQL::Test::Utils::timeout_default = 60;
	ok($g->poll_query_until('postgres', q{SELECT count(*) = 1 FROM rig.peers WHERE name = 'h'}),
		'4: rig_add_peer completes while the writers outrun rig.bootstrap_max_rate');
}
$g->safe_psql('postgres', q{ALTER SYSTEM RESET rig.bootstrap_max_rate; SELECT pg_reload_conf()});
($out, $err) = rig_bg_result($sess);
$sess->quit;
unlike($err, qr/ERROR/, '4: ... without an error') or diag $err;
like($err, qr/the log grows faster than rig.bootstrap_max_rate ships it to node "h"/,
	'4: ... and says that it ships the rest at full speed');
ok($bench->finish, '4: pgbench ran without an error') or diag $bench_err;
cmp_ok($g->safe_psql('postgres', 'SELECT count(*) FROM notes'), '>', 2000, '4: the writers wrote');
$h->poll_query_until('postgres',
	'SELECT count(*) = ' . $g->safe_psql('postgres', 'SELECT count(*) FROM notes') . ' FROM notes')
  or diag 'the new peer did not get every note';
is($h->safe_psql('postgres', $notes), $g->safe_psql('postgres', $notes), '4: the new peer holds every note');
rig_verify_ok($g, 'h', '4: rig_verify_peer finds no difference');

done_testing();
