
# Copyright (c) 2026, rig developers

# Break-it pass of session 12 on three gaps nobody had attacked:
#  1. deferrable constraints on registered tables.  A deferrable
#     constraint (unique, foreign key, constraint trigger) is checked when
#     its transaction commits, or when the client's SET CONSTRAINTS says:
#     outside the handler that wrote the rows.  (a) a deferred constraint
#     trigger that writes another registered table fires at COMMIT, outside
#     the handler context; (b) a client's SET CONSTRAINTS ALL DEFERRED
#     before rig_do made the primary's handler pass a temporary unique
#     collision that the peer's apply (the constraint's own INITIALLY
#     IMMEDIATE) met: a handler that catches unique_violation stored
#     'swapped' on the primary and 'collision' on its sync peer, both
#     committed; (c) rig_ddl could make a registered table's constraint
#     deferrable afterwards.  Now rig_register_table refuses a table with a
#     deferrable constraint (its own, or another table's foreign key to
#     it), and a rig.ddl record that leaves one on a registered table is
#     refused.
#  2. session_replication_role.  (a) a superuser's session with
#     session_replication_role = replica calling rig_do: the triggers of
#     registered tables did not fire in the primary's handler, but did on
#     the peer (another tally on each node).  Now handlers run with
#     session_replication_role = origin, pinned like DateStyle.  (b) while
#     a snapshot chunk is loaded (rig_rebuild, a bootstrap) as the table's
#     owner with session_replication_role = replica, a CHECK of the table
#     calling its owner's function ran in that window: its writes to
#     another role's table skipped that table's triggers (what only a
#     superuser may do).  Now no statement but the load itself may write
#     while it runs (42501); (c), (d) (session 13) nor TRUNCATE, nor COPY
#     FROM a file.
#  3. a follower whose rig.handler_timezone changed after rig_follow went
#     on applying its primary's ops under another zone, silently (another
#     text of the same op_time).  Now each follow round compares the
#     handlers and their settings with the primary's first, and applies
#     nothing while they differ (the worker's WARNING and rig.status say
#     why); once they match again it goes on.
#  4. rig.status's worker_last_error (and a peer's last_error) are cut at
#     255 bytes: at a character now, not inside one.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $p = rig_node('p');
my $r = rig_node('r');

# --- 1. deferrable constraints
my $tables1 = q{
CREATE TABLE dt (id bigint PRIMARY KEY);
CREATE TABLE dt_notes (id bigint PRIMARY KEY, note text);
CREATE FUNCTION dt_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.dt_notes VALUES (NEW.id, 'deferred, by ' || current_user);
	RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER dt_later AFTER INSERT ON dt DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION dt_note();
CREATE FUNCTION dt_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.dt VALUES (v) $$;
SELECT rig_register('dt.add', 'dt_apply(bigint,jsonb)');
SELECT rig_register_table('dt_notes');

CREATE TABLE slots (id int PRIMARY KEY, pos int NOT NULL,
	CONSTRAINT slots_pos_key UNIQUE (pos) DEFERRABLE INITIALLY IMMEDIATE);
INSERT INTO slots VALUES (1, 1), (2, 2);
CREATE TABLE slot_events (version bigint PRIMARY KEY, outcome text NOT NULL);
CREATE FUNCTION slot_swap(v bigint, d jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		UPDATE public.slots SET pos = 2 WHERE id = 1;
		UPDATE public.slots SET pos = 1 WHERE id = 2;
		INSERT INTO public.slot_events VALUES (v, 'swapped');
	EXCEPTION WHEN unique_violation THEN
		INSERT INTO public.slot_events VALUES (v, 'collision');
	END;
END $$;
SELECT rig_register('slot.swap', 'slot_swap(bigint,jsonb)');
SELECT rig_register_table('slot_events');
};
# for 2a
my $tally = q{
CREATE TABLE tally (id bigint PRIMARY KEY);
CREATE TABLE tally_total (k int PRIMARY KEY, n int NOT NULL);
INSERT INTO tally_total VALUES (1, 0);
CREATE FUNCTION tally_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE public.tally_total SET n = n + 1 WHERE k = 1;
	RETURN NULL;
END $$;
CREATE TRIGGER tally_count AFTER INSERT ON tally FOR EACH ROW EXECUTE FUNCTION tally_count();
CREATE FUNCTION tally_add(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.tally VALUES (v) $$;
SELECT rig_register('tally.add', 'tally_add(bigint,jsonb)');
SELECT rig_register_table('tally');
SELECT rig_register_table('tally_total');
};
$_->safe_psql('postgres', $tables1 . $tally) for ($p, $r);
$p->safe_psql('postgres', "SELECT rig_add_peer('r', \$\$" . $r->connstr('postgres') . "\$\$, 'sync')");

# (a) a deferred constraint trigger
my $err = rig_psql_error($p, q{SELECT rig_register_table('dt')});
is(sqlstate_of($err), '0A000', '1a: a table with a deferred constraint trigger is not registered');
like(message_of($err), qr/table public\.dt has a deferrable constraint "dt_later"/,
	'1a: the error names the constraint');
like($err, qr/HINT:  .*NOT DEFERRABLE/, '1a: and says what to do');
# unregistered, dt's deferred trigger fires at COMMIT, outside the
# handler: its write to the registered dt_notes is refused, on the primary
# before anything was sent to the peer
my ($ret, $out);
($ret, $out, $err) = $p->psql('postgres', "\\set VERBOSITY verbose\nSELECT rig_do('dt.add')");
is(sqlstate_of($err), '42501', '1a: a deferred trigger cannot write a registered table at COMMIT');
is($p->safe_psql('postgres', 'SELECT count(*) FROM dt') . $r->safe_psql('postgres', 'SELECT count(*) FROM dt'),
	'00', '1a: the op is on neither node');

# (b) SET CONSTRAINTS ALL DEFERRED by the client before rig_do
my $registered = $r->psql('postgres', q{SELECT rig_register_table('slots')}) == 0
  && $p->psql('postgres', q{SELECT rig_register_table('slots')}) == 0;
ok(!$registered, '1b: a table with a deferrable unique constraint is not registered');
if (!$registered)
{
	# what a registrable table does: the same table with its unique
	# constraint NOT DEFERRABLE, which SET CONSTRAINTS does not reach
	$_->safe_psql('postgres', q{ALTER TABLE slots DROP CONSTRAINT slots_pos_key;
ALTER TABLE slots ADD CONSTRAINT slots_pos_key UNIQUE (pos);
SELECT rig_register_table('slots')}) for ($p, $r);
}
$p->safe_psql('postgres', q{BEGIN; SET CONSTRAINTS ALL DEFERRED; SELECT rig_do('slot.swap'); COMMIT});
my $slots = q{SELECT string_agg(id || '@' || pos, ',' ORDER BY id) || ' ' ||
	(SELECT string_agg(outcome, ',' ORDER BY version) FROM slot_events) FROM slots};
is($r->safe_psql('postgres', $slots), $p->safe_psql('postgres', $slots),
	'1b: the primary and its sync peer stored the same rows after the client\'s SET CONSTRAINTS');
rig_verify_ok($p, 'r', '1b: rig_verify_peer finds nothing');

# --- 2. session_replication_role
# (a) a superuser's session_replication_role = replica before rig_do
$p->safe_psql('postgres', q{SET session_replication_role = replica; SELECT rig_do('tally.add')});
is($p->safe_psql('postgres', 'SELECT n FROM tally_total'), '1',
	'2a: the trigger of a registered table fired in the handler of a session in replica mode');
is($r->safe_psql('postgres', 'SELECT n FROM tally_total'), $p->safe_psql('postgres', 'SELECT n FROM tally_total'),
	'2a: the primary and its peer counted alike');
rig_verify_ok($p, 'r', '2a: rig_verify_peer finds nothing');

# (b) a table owner's code while a snapshot chunk loads (triggers off)
my $s = rig_node('s');
$s->safe_psql('postgres', q{
CREATE ROLE alice; CREATE ROLE bob;
GRANT CREATE ON SCHEMA public TO alice, bob;
SET ROLE bob;
CREATE TABLE bob_audit (n int PRIMARY KEY);
CREATE FUNCTION bob_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'bob_audit takes no rows from %', current_user; END $$;
CREATE TRIGGER bob_guard BEFORE INSERT ON bob_audit FOR EACH ROW EXECUTE FUNCTION bob_guard();
GRANT INSERT ON bob_audit TO alice;
RESET ROLE;
SET ROLE alice;
CREATE FUNCTION alice_check(id int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('session_replication_role') = 'replica' THEN
		INSERT INTO public.bob_audit VALUES (id);
	END IF;
	RETURN true;
END $$;
CREATE TABLE alice_t (id int PRIMARY KEY CHECK (public.alice_check(id)));
CREATE FUNCTION alice_add(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.alice_t VALUES ((d->>'id')::int) $$;
RESET ROLE;
SELECT rig_register('alice.add', 'alice_add(bigint,jsonb)');
SELECT rig_register_table('alice_t');
SELECT rig_do('alice.add', '{"id": 7}');
SELECT rig_snapshot();
});
($ret, $out, $err) = $s->psql('postgres', "\\set VERBOSITY verbose\nSELECT rig_rebuild()");
is($s->safe_psql('postgres', 'SELECT count(*) FROM bob_audit'), '0',
	'2b: no row reached bob_audit around its trigger during the snapshot load');
is(sqlstate_of($err), '42501', '2b: the rebuild is refused: the table\'s code wrote during the load');
like($err, qr/a snapshot is being loaded/, '2b: and says why');
# without the write, the same table rebuilds
$s->safe_psql('postgres', q{SET ROLE alice; CREATE OR REPLACE FUNCTION alice_check(id int) RETURNS boolean
	LANGUAGE sql AS $$ SELECT id > 0 $$});
is($s->safe_psql('postgres', 'SELECT rig_rebuild()'), '0', '2b: a table whose CHECK only reads rebuilds');
is($s->safe_psql('postgres', 'SELECT id FROM alice_t'), '7', '2b: from the snapshot');
# (c), (d) the same window against TRUNCATE and COPY FROM a file
my $copy_file = PostgreSQL::Test::Utils::tempdir() . '/rows.txt';
PostgreSQL::Test::Utils::append_to_file($copy_file, "42\n");
chmod 0644, $copy_file;
$s->safe_psql('postgres', q{SET session_replication_role = replica; INSERT INTO bob_audit VALUES (1);
RESET session_replication_role;
SET ROLE bob; GRANT TRUNCATE ON bob_audit TO alice; RESET ROLE;
GRANT pg_read_server_files TO alice});
for my $case (['2c', 'TRUNCATE', 'TRUNCATE public.bob_audit'],
	['2d', 'COPY FROM', "COPY public.bob_audit FROM '$copy_file'"])
{
	my ($part, $what, $sql) = @$case;
	$s->safe_psql('postgres', qq{SET ROLE alice; CREATE OR REPLACE FUNCTION alice_check(id int) RETURNS boolean
	LANGUAGE plpgsql AS \$\$
BEGIN
	IF current_setting('session_replication_role') = 'replica' THEN
		EXECUTE \$q\$$sql\$q\$;
	END IF;
	RETURN true;
END \$\$});
	($ret, $out, $err) = $s->psql('postgres', "\\set VERBOSITY verbose\nSELECT rig_rebuild()");
	is(sqlstate_of($err), '42501', "$part: a $what in the table's CHECK during the load is refused");
	like($err, qr/\Q$what\E on .*bob_audit was refused: a snapshot is being loaded/, "$part: ... and the error says so");
	is($s->safe_psql('postgres', 'SELECT string_agg(n::text, \',\' ORDER BY n) FROM bob_audit'), '1',
		"$part: bob_audit kept its row and took none");
	is($s->safe_psql('postgres', 'SELECT id FROM alice_t'), '7', "$part: the registered table is as before the rebuild");
}
$s->safe_psql('postgres', q{SET ROLE alice; CREATE OR REPLACE FUNCTION alice_check(id int) RETURNS boolean
	LANGUAGE sql AS $$ SELECT id > 0 $$});
# --- 1c (on s) rig_ddl making a registered table's constraint deferrable
$s->safe_psql('postgres', q{CREATE TABLE pairs (id int PRIMARY KEY, pos int NOT NULL);
SELECT rig_register_table('pairs')});
$err = rig_psql_error($s,
	q{SELECT rig_ddl('ALTER TABLE public.pairs ADD CONSTRAINT pairs_pos_key UNIQUE (pos) DEFERRABLE')});
is(sqlstate_of($err), '0A000', '1c: rig_ddl may not leave a deferrable constraint on a registered table');
is($s->safe_psql('postgres', q{SELECT count(*) FROM pg_constraint WHERE conname = 'pairs_pos_key'}),
	'0', '1c: nothing of it stays');
$s->safe_psql('postgres',
	q{SELECT rig_ddl('ALTER TABLE public.pairs ADD CONSTRAINT pairs_pos_key UNIQUE (pos)')});
is($s->safe_psql('postgres', q{SELECT condeferrable FROM pg_constraint WHERE conname = 'pairs_pos_key'}),
	'f', '1c: a constraint NOT DEFERRABLE it adds');
# a foreign key of another table, deferrable, referencing a table to register
$s->safe_psql('postgres', q{CREATE TABLE lone (id int PRIMARY KEY);
CREATE TABLE lone_ref (id int PRIMARY KEY, lone int REFERENCES lone DEFERRABLE)});
$err = rig_psql_error($s, q{SELECT rig_register_table('lone')});
like(message_of($err), qr/table public\.lone has a deferrable constraint "lone_ref_lone_fkey" \(on public\.lone_ref\)/,
	'1c: nor is a table another table\'s deferrable foreign key references');

# (2) a client cannot turn triggers off itself
$s->safe_psql('postgres', 'CREATE ROLE writer LOGIN IN ROLE rig_writer');
($ret, $out, $err) = $s->psql('postgres', 'SET session_replication_role = replica',
	extra_params => [ '-U', 'writer' ]);
like($err, qr/permission denied to set parameter "session_replication_role"/,
	'2: a rig_writer cannot set session_replication_role');
$s->stop;
$_->stop for ($p, $r);

# --- 3. a follower whose handler settings change after rig_follow
my $stamps = q{
CREATE TABLE stamps (version bigint PRIMARY KEY, at text NOT NULL);
CREATE FUNCTION stamp_apply(v bigint, d jsonb) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO public.stamps VALUES (v, to_char(rig_op_time(), 'HH24:MI TZ')) $$;
};
my $q = rig_node('q');
my $f = rig_node('f');
$_->safe_psql('postgres', $stamps . q{SELECT rig_register('stamp', 'stamp_apply(bigint,jsonb)');
SELECT rig_register_table('stamps');}) for ($q, $f);
$f->safe_psql('postgres', "SELECT rig_follow('q', \$\$" . $q->connstr('postgres') . "\$\$)");
rig_set_resolver($f, 100);
my $v1 = $q->safe_psql('postgres', q{SELECT rig_do('stamp')});
ok($f->poll_query_until('postgres', "SELECT EXISTS (SELECT 1 FROM stamps WHERE version = $v1)"),
	'3: f applies q\'s op') or diag $f->safe_psql('postgres', 'SELECT worker_last_error FROM rig.status');
my $row = 'SELECT at FROM stamps WHERE version = ';
is($f->safe_psql('postgres', $row . $v1), $q->safe_psql('postgres', $row . $v1), '3: with q\'s result');

# the follower's zone changes; q writes meanwhile
rig_set_resolver($f, -1);
$f->safe_psql('postgres', q{ALTER SYSTEM SET rig.handler_timezone = 'Asia/Tokyo'});
my $v2 = $q->safe_psql('postgres', q{SELECT rig_do('stamp')});
rig_set_resolver($f, 100);
ok( $f->poll_query_until('postgres',
		"SELECT EXISTS (SELECT 1 FROM stamps WHERE version = $v2) "
		  . q{OR (SELECT worker_last_error LIKE '%runs handlers under other settings%' FROM rig.status)}),
	'3: f applied the op or refused it');
is($f->safe_psql('postgres', "SELECT count(*) FROM stamps WHERE version = $v2"), '0',
	'3: f does not apply q\'s op under another rig.handler_timezone');
like($f->safe_psql('postgres', 'SELECT worker_last_error FROM rig.status'),
	qr/node "q" runs handlers under other settings than this node \(rig\.handler_timezone \(here Asia\/Tokyo, there UTC\)\.\)/,
	'3: rig.status says why, naming the setting and both values');
ok( $f->log_contains(
		qr/WARNING:  rig worker, following: node "q" runs handlers under other settings than this node\n.*DETAIL:  rig\.handler_timezone \(here Asia\/Tokyo, there UTC\)\./
	),
	'3: and the worker\'s WARNING names the setting');

# set back: it goes on, with p's result
$f->safe_psql('postgres', q{ALTER SYSTEM RESET rig.handler_timezone; SELECT pg_reload_conf()});
ok($f->poll_query_until('postgres', "SELECT EXISTS (SELECT 1 FROM stamps WHERE version = $v2)"),
	'3: f applies it once its zone is q\'s again');
is($f->safe_psql('postgres', $row . $v2), $q->safe_psql('postgres', $row . $v2), '3: with q\'s result');
ok($f->log_contains(qr/LOG:  rig follower applies the log of "q" again/), '3: a LOG says it goes on');

# --- 4. worker_last_error is cut at 255 bytes, at a character: a long
# search_path of two-byte characters, padded so that byte 255 falls
# inside one (before, rig.status then held half a character)
{
	my $lead = 'node "q" runs handlers under other settings than this node '
	  . '(rig.handler_search_path (here "';
	# a character starts at byte 254 (the last kept) when lead + pad is even
	my $pad = 'x' x (2 - length($lead) % 2);
	my $path = qq{"$pad} . ("\x{e9}" x 120) . '", pg_catalog, pg_temp';
	utf8::encode($path);
	$f->safe_psql('postgres', "ALTER SYSTEM SET rig.handler_search_path = '$path'");
	$f->safe_psql('postgres', 'SELECT pg_reload_conf()');
	my $v3 = $q->safe_psql('postgres', q{SELECT rig_do('stamp')});
	ok( $f->poll_query_until('postgres',
			q{SELECT worker_last_error LIKE '%rig.handler_search_path (here "x%' FROM rig.status}),
		'4: the follower refuses another search_path');
	is( $f->safe_psql('postgres',
			q{SELECT octet_length(worker_last_error) <= 255 AND
				  convert_from(textsend(worker_last_error), 'UTF8') LIKE '%' || chr(233) FROM rig.status}),
		't', '4: rig.status holds whole characters, the last one whole');
	$f->safe_psql('postgres', q{ALTER SYSTEM RESET rig.handler_search_path; SELECT pg_reload_conf()});
	ok($f->poll_query_until('postgres', "SELECT EXISTS (SELECT 1 FROM stamps WHERE version = $v3)"),
		'4: and applies again once it is reset');
}

done_testing();
