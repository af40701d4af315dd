
# Copyright (c) 2026, rig developers

# rigctl (issue 14), the installed binary run as a user runs it, against a
# primary "a" with a sync peer "b":
#
#  (1) --help of every command, usage errors (exit 64);
#  (2) status of a healthy pair: exit 0, text and --json, peers discovered;
#  (3) log (text, --json) and log --follow seeing a new record;
#  (4) export -> import into a fresh node "d": the identical log, keys and
#      tables; importing twice is harmless; a malformed line N is refused
#      naming line N with nothing of its batch applied;
#  (5) an async peer "c" left behind, then semisync and degraded: status
#      1; verify (0, and 1 with a difference, text and JSON), diverged: 2;
#  (6) switchover a -> b with rigctl; b's epoch-2 records imported into d
#      keep their epoch;
#  (7) a peer killed with -9: status 2; the primary killed: status 2, and
#      rigctl promote on the replica;
#  (8) a password in a conninfo is never printed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 2000
};

my $node_a = rig_node('a', conf => $conf);
my $node_b = rig_node('b', conf => $conf);
my %conn = (a => $node_a->connstr('postgres'), b => $node_b->connstr('postgres'));
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b);
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$conn{b}\$\$, 'sync')");
$node_a->safe_psql('postgres', q{
SELECT rig_do('note', '{"body": "one"}');
SELECT rig_do('note', '{"body": "two", "n": 0.1, "s": 1.50}', 'key-2');
SELECT rig_do('note', '{"body": "três \"quoted\"", "list": [1, 2.5, {"x": null}]}');
});

sub dump_of
{
	my ($node) = @_;
	return rig_log_dump($node, 'SELECT * FROM notes ORDER BY id',
		'SELECT idempotency_key, version, method, data_hash, op_time FROM rig.idempotency_keys ORDER BY 1');
}

# lines of a command's output
sub nlines
{
	my ($text) = @_;
	my @l = split /\n/, $text;
	return scalar(@l);
}

###########################################################################
# (1) The binary, --help, usage errors
###########################################################################

my $bindir = `pg_config --bindir`;
chomp $bindir;
my ($rc, $out, $err) = rigctl_run(undef, '--help');
is($rc, 0, '(1) rigctl --help exits 0');
like($out, qr/Usage: rigctl COMMAND/, '(1) rigctl --help shows the usage');
ok(-x "$bindir/rigctl", "(1) rigctl is installed in PostgreSQL's bindir ($bindir)");
for my $cmd (qw(status log export import verify promote switchover))
{
	($rc, $out, $err) = rigctl_run(undef, $cmd, '--help');
	is($rc, 0, "(1) rigctl $cmd --help exits 0");
	like($out, qr/^Usage: rigctl \Q$cmd\E/, "(1) rigctl $cmd --help describes $cmd");
}
for my $bad ([ 'frobnicate', '' ], [ 'status', '--bogus' ], [ 'log', '--since', 'x' ],
	[ 'switchover', '-d', $conn{a} ], [ 'export', '--follow' ], [ 'import', '--batch-size', '0' ],
	[ 'status', 'extra' ])
{
	($rc, $out, $err) = rigctl_run(undef, @$bad);
	is($rc, 64, "(1) usage error exits 64: rigctl $bad->[0] $bad->[1]");
	like($err, qr/Try "rigctl /, '(1) ... and says where the help is');
}
($rc) = rigctl_run(undef);
is($rc, 64, '(1) rigctl without a command exits 64');

###########################################################################
# (2) status of a healthy pair
###########################################################################

($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '-d', $conn{b});
is($rc, 0, '(2) status of a healthy pair exits 0 (OK)') or diag("$out\n$err");
like($out, qr/^a: primary, epoch 1, last version 3, watermark 3/m, '(2) status shows a: primary, epoch, last version, watermark');
like($out, qr/^  peer b: sync, in_sync, connection reachable, 0 versions/m, "(2) status shows a's peer b in sync");
like($out, qr/^b: replica of a, epoch 1, last version 3/m, '(2) status shows b: replica of a');
like($out, qr/^status: OK$/m, '(2) status says OK');

($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '--json');
is($rc, 0, '(2) status --json of the pair from a alone exits 0');
my $doc = eval { decode_json($out) };
ok($doc, '(2) status --json prints one JSON document') or diag($out);
is($doc->{status} . ' ' . $doc->{exit_code}, 'OK 0', '(2) status --json: status OK, exit_code 0');
my %nodes = map { $_->{name} => $_ } @{ $doc->{nodes} };
is(join(',', sort keys %nodes), 'a,b', '(2) status --json from a alone discovers b (rig.peers)');
is(join(' ', map { $nodes{a}{$_} } qw(role epoch last_version watermark in_flight)),
	'primary 1 3 3 0', '(2) status --json: role, epoch, last_version, watermark, in_flight of a');
is(join(' ', map { $nodes{b}{$_} } qw(role primary_name epoch)),
	'replica a 1', '(2) status --json: b is a replica of a in epoch 1');
like($nodes{a}{worker_state}, qr/idle/, '(2) status --json: the worker state');
is(join(' ', map { $nodes{a}{peers}[0]{$_} } qw(name mode state connection versions_behind)),
	'b sync in_sync reachable 0', "(2) status --json: a's peer b: mode, state, connection, lag");

# libpq's environment and service files
{
	local $ENV{PGHOST}     = $node_a->host;
	local $ENV{PGPORT}     = $node_a->port;
	local $ENV{PGDATABASE} = 'postgres';
	($rc, $out, $err) = rigctl_run(undef, 'status');
	is($rc, 0, '(2) status without -d uses PGHOST, PGPORT, PGDATABASE') or diag("$out$err");
	like($out, qr/^a: primary/m, '(2) ... and reaches a');
	my $services = PostgreSQL::Test::Utils::tempdir . '/pg_service.conf';
	open my $fh, '>', $services or die $!;
	printf $fh "[rigtest]\nhost=%s\nport=%s\ndbname=postgres\n", $node_b->host, $node_b->port;
	close $fh;
	local $ENV{PGSERVICEFILE} = $services;
	($rc, $out, $err) = rigctl_run(undef, 'status', '-d', 'service=rigtest', '--json');
	is($rc, 0, '(2) status -d service=rigtest uses the service file') or diag("$out$err");
	like($out, qr/"node_name":\s*"b"/, '(2) ... and reaches b');
}

# a monitoring role (pg_monitor) reads the status views, not rig.peers
# (nothing to discover) nor rig.followers
$_->safe_psql('postgres', 'CREATE ROLE mon LOGIN IN ROLE pg_monitor') for ($node_a, $node_b);
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', "$conn{a} user=mon", '--json');
is($rc, 0, '(2) status as a pg_monitor role exits 0') or diag("$out$err");
$doc = decode_json($out);
is(join(' ', map { $_->{name} } @{ $doc->{nodes} }), 'a', '(2) ... showing a alone (rig.peers is not readable)');
is($doc->{nodes}[0]{peers}[0]{state}, 'in_sync', "(2) ... with its peer's state");

###########################################################################
# (3) log and log --follow
###########################################################################

($rc, $out, $err) = rigctl_run(undef, 'log', '-d', $conn{a}, '--json');
is($rc, 0, '(3) log --json exits 0');
my @lines = split /\n/, $out;
is(scalar(@lines), 3, '(3) log --json prints one line per record');
my @recs = map { decode_json($_) } @lines;
is(join(',', map { $_->{version} } @recs), '1,2,3', '(3) in version order');
is($recs[1]{idempotency_key}, 'key-2', '(3) with the idempotency key');
is($recs[0]{data}{body}, 'one', '(3) data as JSON where jansson keeps it exactly');
is($recs[1]{data_text}, $node_a->safe_psql('postgres', 'SELECT data::text FROM rig.log WHERE version = 2'),
	'(3) data_text, the exact jsonb text, where jansson would change a number (0.1, 1.50)');
is(JSON::PP->new->decode($recs[2]{data_text})->{body}, "tr\x{ea}s \"quoted\"",
	'(3) UTF-8 and quotes survive (in data_text: the record holds 2.5)');
is($recs[0]{op_time}, $node_a->safe_psql('postgres',
		q{SELECT to_char(op_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM rig.log WHERE version = 1}),
	'(3) op_time in UTC with microseconds');
($rc, $out, $err) = rigctl_run(undef, 'log', '-d', $conn{a}, '--since', '2');
is($rc, 0, '(3) log --since 2 exits 0');
like($out, qr/^3\tepoch 1\t\S+\tnote\t\{/, '(3) log --since 2 prints version 3 as text, and only it');
is(nlines($out), 1, '(3) ... one line');

{
	my ($fout, $ferr) = ('', '');
	my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	my $h = IPC::Run::start([ rigctl_cmd('log', '-d', $conn{a}, '--follow', '--interval', '50', '--json') ],
		'>', \$fout, '2>', \$ferr, $timer);
	$h->pump until $fout =~ /"version":3,/;
	pass('(3) log --follow prints the existing records');
	my $v = $node_a->safe_psql('postgres',
		q{SELECT rig_do('note', '{"body": "four", "big": 123456789012345678901234567890}')});
	$h->pump until $fout =~ /"version":$v,.*four/;
	pass("(3) log --follow prints the new record $v");
	like($fout, qr/^\{"version":$v,.*"data_text":"\{\\"big\\": 123456789012345678901234567890, /m,
		'(3) ... a 30-digit number exactly, as data_text');
	ok($h->pumpable, '(3) log --follow keeps running');
	$h->kill_kill;
	is($ferr, '', '(3) log --follow wrote no error');
}

###########################################################################
# (4) export -> import into a fresh node
###########################################################################

my $node_d = rig_node('d', conf => $conf);
$node_d->safe_psql('postgres', rig_notes_sql());
my %dconn = (d => $node_d->connstr('postgres'));

my ($erc, $export, $eerr) = rigctl_run(undef, 'export', '-d', $conn{a});
is($erc, 0, '(4) export exits 0');
is(nlines($export), 4, '(4) export writes the 4 records');
($rc, $out, $err) = rigctl_run($export, 'import', '-d', $dconn{d});
is($rc, 0, '(4) import into the fresh node d exits 0') or diag($err);
like($out, qr/4 records applied, 0 already present/, '(4) import says what it applied');
is(dump_of($node_d), dump_of($node_a),
	'(4) d holds the identical log (versions, epochs, op times, keys) and the tables its handlers wrote');

($rc, $out, $err) = rigctl_run($export, 'import', '-d', $dconn{d});
is($rc, 0, '(4) importing the same file again exits 0');
like($out, qr/0 records applied, 4 already present/, '(4) ... and applies nothing');
is(dump_of($node_d), dump_of($node_a), '(4) d is unchanged');

# more records on a, then a malformed line in a batch of them
$node_a->safe_psql('postgres', q{
SELECT rig_do('note', '{"body": "five"}');
SELECT rig_do('note', '{"body": "six"}');
SELECT rig_do('note', '{"body": "seven"}');
});
my $last_d = $node_d->safe_psql('postgres', 'SELECT rig_last_version()');
(undef, my $more) = rigctl_run(undef, 'export', '-d', $conn{a}, '--since', $last_d);
my @more = split /\n/, $more;
is(scalar(@more), 3, '(4) export --since gives the 3 new records');
my $before = dump_of($node_d);
my %bad = (
	'not JSON'         => [ '{"version": 9,', qr/invalid JSON/ ],
	'a duplicate key'  => [ $more[1] =~ s/^\{/{"method":"note",/r, qr/duplicate/ ],
	'an unknown field' => [ $more[1] =~ s/^\{/{"extra":1,/r, qr/unknown field "extra"/ ],
	'a string version' => [ $more[1] =~ s/"version":(\d+)/"version":"$1"/r, qr/"version" must be a whole number/ ],
	'an empty line'    => [ '', qr/empty line/ ],
	'data and data_text' => [ $more[1] =~ s/^\{/{"data_text":"{}",/r, qr/either "data" or "data_text"/ ],
	'a version out of order' => [ $more[0], qr/does not follow/ ],
);
for my $what (sort keys %bad)
{
	my ($line, $re) = @{ $bad{$what} };
	my $file = join("\n", $more[0], $line, $more[2]) . "\n";
	$file = join("\n", $more[0], $more[1], $line, $more[2]) . "\n" if $what eq 'a version out of order';
	my $n = $what eq 'a version out of order' ? 3 : 2;
	($rc, $out, $err) = rigctl_run($file, 'import', '-d', $dconn{d});
	isnt($rc, 0, "(4) a line with $what: import fails");
	like($err, qr/^rigctl: import: line $n: /m, "(4) a line with $what: the error names line $n");
	like($err, $re, "(4) a line with $what: and says what is wrong");
	is(dump_of($node_d), $before, "(4) a line with $what: nothing of its batch was applied");
}
# an error of the node (an unknown method) also names its line and applies nothing
{
	my $file = join("\n", $more[0], $more[1] =~ s/"method":"note"/"method":"nosuch"/r, $more[2]) . "\n";
	($rc, $out, $err) = rigctl_run($file, 'import', '-d', $dconn{d});
	isnt($rc, 0, '(4) a record of an unknown method: import fails');
	like($err, qr/line 2 \(version \d+\): 42883: method "nosuch" is not registered/,
		"(4) ... naming line 2 and the node's error");
	is(dump_of($node_d), $before, '(4) ... with nothing of its batch applied');
}
# batches of one: the lines before a bad one stay
($rc, $out, $err) = rigctl_run(join("\n", $more[0], '[]', $more[2]) . "\n",
	'import', '-d', $dconn{d}, '--batch-size', '1');
isnt($rc, 0, '(4) --batch-size 1 with line 2 malformed fails');
like($err, qr/line 2: a record must be a JSON object/, '(4) ... at line 2');
is($node_d->safe_psql('postgres', 'SELECT rig_last_version()'), $last_d + 1,
	'(4) ... after committing line 1 in its own batch');
($rc, $out, $err) = rigctl_run($more, 'import', '-d', $dconn{d});
is($rc, 0, '(4) the good file imports after that') or diag($err);
like($out, qr/2 records applied, 1 already present/, '(4) ... skipping the record already there');
is(dump_of($node_d), dump_of($node_a), '(4) d holds the identical log and tables again');

# rig_import's guards
like(rig_psql_error($node_b, q{SELECT rig_import(100, 1, 'note', '{}', NULL, now(), 'a')}),
	qr/is a replica and cannot import/, '(4) rig_import refuses on a replica');
like(rig_psql_error($node_a, q{SELECT rig_import(100, 1, 'note', '{}', NULL, now(), 'a')}),
	qr/has peers and cannot import/, '(4) rig_import refuses on a primary with peers');
like(rig_psql_error($node_d, q{SELECT rig_import(2, 1, 'note', '{}', NULL, now(), 'a')}),
	qr/version 2 is already in the log of node "d" with a different record/,
	'(4) rig_import refuses a different record under a version the node holds');
$node_d->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
like(rig_psql_error($node_d, q{SET ROLE plain; SELECT rig_import(100, 1, 'note', '{}', NULL, now(), 'a')}),
	qr/permission denied for function rig_import/, '(4) rig_import is not for PUBLIC');

###########################################################################
# (5) an async peer left behind; verify
###########################################################################

my $node_c = rig_node('c', conf => $conf);
$node_c->safe_psql('postgres', rig_notes_sql());
$conn{c} = $node_c->connstr('postgres');
$node_a->safe_psql('postgres', "SELECT rig_add_peer('c', \$\$$conn{c}\$\$, 'async')");
# the worker is off (rig.resolver_interval = -1): nothing ships to c
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "eight"}')});
note 'peer c: ' . rig_peer_state($node_a, 'c', 'state', 'versions_behind');
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '--max-lag', '0');
is($rc, 1, '(5) status with an async peer left behind exits 1 (WARNING)') or diag($out);
like($out, qr/^status: WARNING\n  WARNING: peer c of a is .*1 versions behind/m,
	'(5) ... and says which peer lags');
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '--json', '--max-lag', '0');
$doc = decode_json($out);
is($doc->{status} . ' ' . $doc->{exit_code}, 'WARNING 1', '(5) status --json: WARNING, exit_code 1');
%nodes = map { $_->{name} => $_ } @{ $doc->{nodes} };
my ($pc) = grep { $_->{name} eq 'c' } @{ $nodes{a}{peers} };
is("$pc->{mode} $pc->{versions_behind}", 'async 1', "(5) status --json: c is async, 1 version behind");

# c semisync, down while a commits: degraded (commits go on without it),
# and still degraded when it is back (the worker is off)
$node_a->safe_psql('postgres', "SELECT rig_set_peer_mode('c', 'semisync'); SELECT rig_sync_peer('c')");
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a});
is($rc, 0, '(5) c caught up and semisync: status exits 0') or diag($out);
$node_c->stop;
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "nine"}')});
$node_c->start;
is(rig_peer_state($node_a, 'c'), 'degraded', '(5) c missed a commit: degraded');
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '--json');
is($rc, 1, '(5) status with a degraded semisync peer (alive) exits 1 (WARNING)') or diag($out);
$doc = decode_json($out);
is(join("\n", @{ $doc->{problems} }), 'WARNING: peer c of a is degraded (1 versions behind)',
	'(5) status --json: the one problem, c degraded');
$node_a->safe_psql('postgres', "SELECT rig_sync_peer('c')");
is(rig_peer_state($node_a, 'c'), 'in_sync', '(5) c back in sync');

($rc, $out, $err) = rigctl_run(undef, 'verify', '-d', $conn{a});
is($rc, 0, '(5) verify with identical peers exits 0') or diag("$out$err");
is($out, "peer b: identical\npeer c: identical\n", '(5) verify says so for each peer');
# a handler added on c outside rig (a replica refuses rig_register)
$node_c->safe_psql('postgres',
	q{INSERT INTO rig.handlers (method, apply) VALUES ('extra', 'note_apply(bigint,jsonb)')});
($rc, $out, $err) = rigctl_run(undef, 'verify', '-d', $conn{a});
is($rc, 1, '(5) verify with a difference exits 1') or diag("$out$err");
like($out, qr/^peer c: rig\.handlers .*extra.*: extra on peer$/m, '(5) verify prints the difference');
like($out, qr/^peer b: identical$/m, '(5) ... and the identical peer');
($rc, $out, $err) = rigctl_run(undef, 'verify', '-d', $conn{a}, '--json');
$doc = decode_json($out);
my ($vc) = grep { $_->{peer} eq 'c' } @{ $doc->{peers} };
is("$vc->{differences}[0]{relation} $vc->{differences}[0]{problem}", 'rig.handlers extra on peer',
	'(5) verify --json lists the difference');
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a});
is($rc, 2, '(5) status with a diverged peer exits 2 (CRITICAL)') or diag($out);
like($out, qr/CRITICAL: peer c of a is diverged/, '(5) ... saying which');
$node_a->safe_psql('postgres', "SELECT rig_drop_peer('c')");
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a});
is($rc, 0, '(5) with c dropped, status exits 0 again') or diag($out);

###########################################################################
# (6) switchover with rigctl; epochs through export and import
###########################################################################

($rc, $out, $err) = rigctl_run(undef, 'switchover', '-d', $conn{a}, 'b');
is($rc, 0, '(6) switchover a -> b exits 0') or diag($err);
is($out, "b is the primary of epoch 2\n", '(6) ... and names the new primary and epoch');
is($node_b->safe_psql('postgres', 'SELECT role, epoch FROM rig.node'), 'primary|2', '(6) b is the primary of epoch 2');
($rc, $out, $err) = rigctl_run(undef, 'switchover', '-d', $conn{a}, 'b');
is($rc, 1, '(6) switchover on a node that is no longer the primary exits 1');
like($err, qr/^rigctl: switchover: \w{5}: /, "(6) ... with the node's error");

$node_b->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "epoch two"}')});
$last_d = $node_d->safe_psql('postgres', 'SELECT rig_last_version()');
(undef, $more) = rigctl_run(undef, 'export', '-d', $conn{b}, '--since', $last_d);
($rc, $out, $err) = rigctl_run($more, 'import', '-d', $dconn{d});
is($rc, 0, "(6) b's new records import into d") or diag($err);
is(dump_of($node_d), dump_of($node_b), '(6) d holds the log of b, epoch-2 records with their epoch');
is($node_d->safe_psql('postgres', 'SELECT epoch FROM rig.node'), '2', '(6) d moved into epoch 2');
my $next = $node_d->safe_psql('postgres', 'SELECT rig_last_version() + 1');
like(rig_psql_error($node_d, "SELECT rig_import($next, 1, 'note', '{}', NULL, now(), 'b')"),
	qr/ERROR:  55000: version $next of epoch 1 cannot follow version \d+ of epoch 2/,
	'(6) rig_import refuses an epoch going back (55000)');
like(rig_psql_error($node_d, "SELECT rig_import(0, 1, 'note', '{}', NULL, now(), 'b')"),
	qr/ERROR:  22023: version and epoch of an operation must be positive/, '(6) ... a version of 0 (22023)');
like(rig_psql_error($node_d, "SELECT rig_import($next, 2, NULL, '{}', NULL, now(), 'b')"),
	qr/ERROR:  22004: argument 3 of rig_import\(\) must not be NULL/, '(6) ... a NULL method (22004)');
my $dv = $node_d->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "d own"}')});
cmp_ok($dv, '>', $node_b->safe_psql('postgres', 'SELECT rig_last_version()'),
	"(6) d's own rig_do takes a version after the imported ones");

###########################################################################
# (7) killed with -9: status 2; promote
###########################################################################

$node_b->safe_psql('postgres', "SELECT rig_add_peer('a', \$\$$conn{a}\$\$, 'sync')");
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{b});
is($rc, 0, '(7) b with its sync peer a: status exits 0') or diag($out);
crash($node_a);
$node_b->psql('postgres', q{SELECT rig_do('note', '{"body": "a is gone"}')});
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{b}, '--json');
is($rc, 2, '(7) a peer killed with -9: status exits 2 (CRITICAL)') or diag($out);
$doc = decode_json($out);
%nodes = map { ($_->{name} // '?') => $_ } @{ $doc->{nodes} };
ok(!$nodes{a}{reachable}, '(7) status --json: a is not reachable');
is($nodes{b}{peers}[0]{state}, 'unreachable', "(7) status --json: b's peer a is unreachable");
like(join("\n", @{ $doc->{problems} }), qr/CRITICAL: node a is unreachable/, '(7) ... among the problems');
$node_a->start;

crash($node_b);
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', $conn{a}, '-d', $conn{b});
is($rc, 2, '(7) the primary killed with -9: status exits 2') or diag($out);
like($out, qr/^a: replica of b/m, '(7) ... showing the replica a');
($rc, $out, $err) = rigctl_run(undef, 'promote', '-d', $conn{a});
is($rc, 0, '(7) promote a exits 0') or diag($err);
is($out, "a is the primary of epoch 3\n", '(7) ... a is the primary of epoch 3');
($rc, $out, $err) = rigctl_run(undef, 'promote', '-d', $conn{a});
isnt($rc, 0, '(7) promote of a primary fails');

###########################################################################
# (8) secrets
###########################################################################

my $secret = 'pw-s3cret-xyzzy';
for my $ci ("$conn{b} password=$secret", 'postgresql://postgres:' . $secret . '@localhost:1/postgres',
	"host=/nonexistent password='$secret' port=1", "host=x password=$secret bogus")
{
	for my $cmd ([ 'status' ], [ 'log' ], [ 'verify' ], [ 'import' ])
	{
		($rc, $out, $err) = rigctl_run('', @$cmd, '-d', $ci);
		isnt($rc, 0, "(8) $cmd->[0] with an unreachable or invalid conninfo fails");
		unlike("$out$err", qr/\Q$secret\E/, "(8) $cmd->[0] does not print the password");
	}
}
($rc, $out, $err) = rigctl_run(undef, 'status', '-d', "$conn{b} password=$secret", '--json');
like($out, qr/"conninfo":\s*"[^"]*port=\d+/, '(8) status --json shows the conninfo of the dead node ...');
unlike($out, qr/\Q$secret\E/, '(8) ... without its password');

$node_a->stop;
done_testing();
