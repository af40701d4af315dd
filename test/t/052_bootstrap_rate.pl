
# Copyright (c) 2026, rig developers

# rig.bootstrap_max_rate (issue 13, the primary's writes during a
# bootstrap): rig_add_peer keeps the chunks it sends to a node it
# bootstraps under the rate, waiting between chunks.  With a rate far below
# a chunk per second (1kB/s, chunks of about 1 MB: some 1000 s between two
# chunks), so that no timing of a loaded machine matters:
#  1. the new node holds the first chunk and no chunk is in flight while
#     the primary's backend waits (wait_event_type Extension); the primary
#     commits rig_do meanwhile (the wait holds nothing a writer needs);
#  2. pg_cancel_backend ends the wait (57014), long before the next chunk
#     was due;
#  3. rig_add_peer again, the rate now from postgresql.conf, resumes at the
#     next chunk and waits after it; raising the rate in postgresql.conf and
#     reloading ends that wait: the bootstrap completes, the new node holds
#     the primary's notes and rig_verify_peer finds no difference;
#  4. the log rig_add_peer ships a new node keeps the rate too (here a
#     whole log, nothing compacted: batches of 1000 notes of 1 kB): after
#     the first batch the primary waits, the new node holds part of the
#     notes and applies nothing, and the primary commits rig_do meanwhile
#     (no commit gate is held); raising the rate ends the wait, the new
#     node holds every note, the one written during the wait included.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $notes = q{SELECT count(*), md5(string_agg(id || ':' || body, ',' ORDER BY id)) FROM notes};

# the notes registered as state, and a method "big_note" writing a note of
# {"n"} copies of {"fill"}
my $notes_sql = rig_notes_sql() . q{SELECT rig_register_table('notes');
CREATE FUNCTION big_note_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.notes VALUES (v, repeat(d->>'fill', (d->>'n')::int)) $$;
SELECT rig_register('big_note', 'big_note_apply(bigint,jsonb)');};

sub notes_node
{
	my ($name) = @_;
	my $node = rig_node($name);
	$node->safe_psql('postgres', $notes_sql);
	return $node;
}

# the next chunk the new node lacks
sub next_chunk
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT next_chunk FROM rig_bootstrap_state()');
}

# poll until the primary's backend $pid waits between chunks: the new node
# holds $n chunks, runs none, and the backend sleeps (wait_event_type Extension)
sub waits_after_chunks
{
	my ($a, $c, $pid, $n) = @_;
	return
		 $c->poll_query_until('postgres', "SELECT next_chunk = $n FROM rig_bootstrap_state()")
	  && $a->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' AND state = 'active' FROM pg_stat_activity WHERE pid = $pid")
	  && $c->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%rig_bootstrap_chunk(%' "
		  . "AND pid <> pg_backend_pid()") eq '0';
}

my $a = notes_node('a');
# 3000 notes of 1000 bytes in chunks of 1000 rows: three chunks of ~1 MB
$a->safe_psql('postgres',
	q{SELECT rig_do('big_note', jsonb_build_object('fill', chr(97 + i % 26), 'n', 1000)) FROM generate_series(1, 3000) i});
my $snap = $a->safe_psql('postgres', 'SELECT rig_snapshot(1000)');
my $chunks = $a->safe_psql('postgres', "SELECT chunks FROM rig.snapshots WHERE id = $snap");
cmp_ok($chunks, '>=', 3, "snapshot $snap has $chunks chunks");
cmp_ok($a->safe_psql('postgres', "SELECT min(length(rows::text)) FROM rig.snapshot_chunks WHERE snapshot_id = $snap"),
	'>', 1000 * 1000, '... each over 1 MB');
$a->safe_psql('postgres', 'SELECT rig_compact(1000000)');
is($a->safe_psql('postgres', 'SELECT compacted_below > 1 FROM rig.node'), 't', 'the primary compacted its log');

my $c = notes_node('c');
my $add_c = "SELECT rig_add_peer('c', \$\$" . $c->connstr('postgres') . "\$\$, 'sync')";

# --- 1. the session's rate: the primary waits after the first chunk
my $sess = rig_session($a);
my $pid = $sess->query_safe('SELECT pg_backend_pid()');
$sess->query_safe(q{SET rig.bootstrap_max_rate = '1kB'});
rig_bg_send($sess, $add_c);
ok(waits_after_chunks($a, $c, $pid, 1),
	'at 1kB/s the primary waits after the first chunk, none in flight on the new node');
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "during the wait"}')});
is($a->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'during the wait'}), '1',
	'rig_do commits on the primary while it waits');
is(next_chunk($c), '1', '... and the new node still holds one chunk');

# --- 2. a cancel ends the wait
$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok($a->poll_query_until('postgres', "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $pid"),
	'pg_cancel_backend ends the wait');
my ($out, $err) = rig_bg_result($sess);
is(sqlstate_of($err), '57014', '... the statement is canceled (57014)') or diag $err;
$sess->quit;
is(next_chunk($c), '1', 'the new node holds the first chunk');

# --- 3. resumed at the rate of postgresql.conf, which a reload raises
$a->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = '1kB'; SELECT pg_reload_conf()});
$sess = rig_session($a);
$pid = $sess->query_safe('SELECT pg_backend_pid()');
is($sess->query_safe('SHOW rig.bootstrap_max_rate'), '1kB', 'a new session has the rate of postgresql.conf');
rig_bg_send($sess, $add_c);
ok(waits_after_chunks($a, $c, $pid, 2), 'rig_add_peer again sends the next chunk and waits after it');
$a->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = 0; SELECT pg_reload_conf()});
($out, $err) = rig_bg_result($sess);
unlike($err, qr/ERROR/, 'after the rate was raised and the configuration reloaded, the bootstrap completes')
  or diag $err;
like($err, qr/bootstrapping peer "c" from snapshot $snap .*: resuming at chunk 1 of $chunks/,
	'... resumed at the second chunk');
$sess->quit;
is($c->safe_psql('postgres', $notes), $a->safe_psql('postgres', $notes), 'the new node holds every note');
rig_verify_ok($a, 'c', 'rig_verify_peer finds no difference');
is(rig_peer_state($a, 'c', 'state'), 'in_sync', 'c is an in-sync peer');

# --- 4. the log shipped to a new node is paced too
my $e = notes_node('e');
$e->safe_psql('postgres',
	q{SELECT rig_do('big_note', jsonb_build_object('fill', chr(97 + i % 26), 'n', 1000)) FROM generate_series(1, 3000) i});
my $f = notes_node('f');
$e->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = '1kB'; SELECT pg_reload_conf()});
$sess = rig_session($e);
$pid = $sess->query_safe('SELECT pg_backend_pid()');
rig_bg_send($sess, "SELECT rig_add_peer('f', \$\$" . $f->connstr('postgres') . "\$\$, 'sync')");
ok( $e->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' AND state = 'active' FROM pg_stat_activity WHERE pid = $pid")
	  && $f->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE state IN ('active', 'idle in transaction') "
		  . "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
	  && $f->poll_query_until('postgres', 'SELECT count(*) > 0 FROM notes'),
	'at 1kB/s the primary waits after shipping a batch of the log, the new node applying nothing');
my $part = $f->safe_psql('postgres', 'SELECT count(*) FROM notes');
cmp_ok($part, '<', 3000, "... the new node holds $part of the 3000 notes");
$e->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "during the log wait"}')});
is($e->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'during the log wait'}), '1',
	'rig_do commits on the primary meanwhile (no commit gate held)');
is($f->safe_psql('postgres', 'SELECT count(*) FROM notes'), $part, '... and the new node got nothing more');
$e->safe_psql('postgres', q{ALTER SYSTEM SET rig.bootstrap_max_rate = 0; SELECT pg_reload_conf()});
($out, $err) = rig_bg_result($sess);
unlike($err, qr/ERROR/, 'after the rate was raised and the configuration reloaded, rig_add_peer completes')
  or diag $err;
$sess->quit;
is($f->safe_psql('postgres', $notes), $e->safe_psql('postgres', $notes),
	'the new node holds every note, the one written during the wait included');
rig_verify_ok($e, 'f', 'rig_verify_peer finds no difference');
is(rig_peer_state($e, 'f', 'state'), 'in_sync', 'f is an in-sync peer');

done_testing();
