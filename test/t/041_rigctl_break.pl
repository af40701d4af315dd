
# Copyright (c) 2026, rig developers

# Break-it tests of rigctl (issue 14), against a primary "a" with a sync
# peer "b" and a fresh standalone node "d" to import into:
#
#  (1) import of a hand-written record whose data holds a number JSON
#      decoding changes (0.1 comes back 0.10000000000000001, 1.50 as
#      1.5): never a different record in the log; the line is refused,
#      pointing at data_text, with nothing applied;
#  (2) a line with a NUL byte in it is malformed: refused with its line
#      number, nothing applied (the bytes after the NUL were ignored);
#  (2b) an op time of infinity (exported as an empty string, which no
#      import takes) is refused;
#  (3) status while rig.log is locked (a VACUUM FULL, a LOCK TABLE) ends
#      within a bounded time with UNKNOWN, not hanging; status with a
#      frozen (SIGSTOP) peer ends with CRITICAL within a bounded time;
#  (4) log --follow whose node restarts ends with 1 (it does not
#      reconnect), not hanging.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use IPC::Run;
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
my $node_d = rig_node('d', conf => $conf);
my %conn = map { $_->name => $_->connstr('postgres') } ($node_a, $node_b, $node_d);
$_->safe_psql('postgres', rig_notes_sql()) for ($node_a, $node_b, $node_d);
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$conn{b}\$\$, 'sync')");
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "one"}')});

my $log_of_d = 'SELECT version, data::text FROM rig.log ORDER BY version';
my $record = '{"version":1,"epoch":1,"op_time":"2026-11-30T10:00:00.000000Z","method":"note",'
  . '"data":DATA,"idempotency_key":null,"origin":"x"}';

###########################################################################
# (1) numbers JSON decoding would change
###########################################################################

my $data = '{"body": "money", "amount": 0.1, "fee": 1.50}';
my $line = $record =~ s/DATA/$data/r;
my ($rc, $out, $err) = rigctl_run("$line\n", 'import', '-d', $conn{d});
my $got = $node_d->safe_psql('postgres', $log_of_d);
my $want = $node_d->safe_psql('postgres', "SELECT '$data'::jsonb::text");
isnt($got, '1|' . $node_d->safe_psql('postgres',
		q{SELECT '{"body": "money", "amount": 0.10000000000000001, "fee": 1.5}'::jsonb::text}),
	'(1) the log does not hold a different number than the line gave');
ok($got eq '' || $got eq "1|$want", '(1) the log holds the line\'s data exactly, or nothing')
  or diag "got: $got";
isnt($rc, 0, '(1) import of data with such numbers fails');
like($err, qr/^rigctl: import: line 1: .*data_text/m, '(1) ... naming line 1 and data_text');
# the same record as data_text imports exactly
my $text = $data =~ s/(["\\])/\\$1/gr;
($rc, $out, $err) = rigctl_run(($record =~ s/"data":DATA/"data_text":"$text"/r) . "\n",
	'import', '-d', $conn{d});
is($rc, 0, '(1) the same record with data_text imports') or diag $err;
is($node_d->safe_psql('postgres', $log_of_d), "1|$want", '(1) ... exactly');
# an export of numbers that survive (0.5, 2) still round-trips
$node_a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "half", "n": 0.5, "m": 2}')});
my ($erc, $export) = rigctl_run(undef, 'export', '-d', $conn{a}, '--since', '1');
is($erc, 0, '(1) export of a record with 0.5 exits 0');
my $node_e = rig_node('e', conf => $conf);
$node_e->safe_psql('postgres', rig_notes_sql());
($rc, $out, $err) = rigctl_run($export, 'import', '-d', $node_e->connstr('postgres'));
is($rc, 0, '(1) ... and it imports') or diag $err;
is($node_e->safe_psql('postgres', 'SELECT data::text FROM rig.log'),
	$node_a->safe_psql('postgres', 'SELECT data::text FROM rig.log WHERE version = 2'),
	'(1) ... identically');

###########################################################################
# (2) a NUL byte in a line
###########################################################################

my $before = $node_d->safe_psql('postgres', $log_of_d);
$line = ($record =~ s/DATA/{"body": "nul"}/r) =~ s/"version":1/"version":5/r;
($rc, $out, $err) = rigctl_run("$line\0{\"junk\": true}\n", 'import', '-d', $conn{d});
isnt($rc, 0, '(2) a line with a NUL byte: import fails');
like($err, qr/^rigctl: import: line 1: .*NUL/m, '(2) ... naming line 1 and the NUL byte');
is($node_d->safe_psql('postgres', $log_of_d), $before, '(2) ... with nothing applied');

###########################################################################
# (2b) an op time no export can carry
###########################################################################

$before = $node_d->safe_psql('postgres', $log_of_d);
$line = ($record =~ s/DATA/{"body": "forever"}/r) =~ s/"version":1/"version":6/r;
($rc, $out, $err) = rigctl_run(($line =~ s/"op_time":"[^"]*"/"op_time":"infinity"/r) . "\n",
	'import', '-d', $conn{d});
isnt($rc, 0, '(2b) a record with op_time infinity: import fails');
like($err, qr/^rigctl: import: line 1 \(version 6\): 22008: /m, '(2b) ... naming line 1, with 22008');
is($node_d->safe_psql('postgres', $log_of_d), $before, '(2b) ... with nothing applied');
like(rig_psql_error($node_d, q{SELECT rig_import(7, 1, 'note', '{}', NULL, '-infinity', 'x')}),
	qr/ERROR:  22008: /, '(2b) rig_import refuses -infinity too');

###########################################################################
# (3) status never hangs
###########################################################################

my $s = rig_session($node_a);
$s->query_safe('BEGIN; LOCK TABLE rig.log IN ACCESS EXCLUSIVE MODE;');
my ($src, $sout, $serr, $secs) = rigctl_run_within(60, undef, 'status', '-d', $conn{a});
ok(defined $src, '(3) status with rig.log locked on a ends by itself') or diag "ran $secs s";
is($src, 3, '(3) ... with UNKNOWN (3)') or diag "$sout\n$serr";
cmp_ok($secs, '<', 40, '(3) ... within a bounded time');
$s->query_safe('ROLLBACK');
$s->quit;

rig_freeze($node_b);
($src, $sout, $serr, $secs) = rigctl_run_within(60, undef, 'status', '-d', $conn{a});
rig_thaw($node_b);
ok(defined $src, '(3) status with the peer b frozen ends by itself') or diag "ran $secs s";
is($src, 2, '(3) ... with CRITICAL (2)') or diag "$sout\n$serr";
cmp_ok($secs, '<', 40, '(3) ... within a bounded time');

# A server that lets rigctl in and then never answers (a host that hangs
# after the connection, which no statement_timeout can end): a stand-in
# that speaks the protocol's start (no authentication, ready for queries)
# and reads queries without answering.
{
	require IO::Socket::UNIX;
	my $dir = PostgreSQL::Test::Utils::tempdir_short;
	my $port = 54999;
	my $listener = IO::Socket::UNIX->new(Local => "$dir/.s.PGSQL.$port", Type => IO::Socket::UNIX::SOCK_STREAM(), Listen => 5)
	  or die "cannot listen: $!";
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		while (my $c = $listener->accept)
		{
			my $len;
			sysread($c, $len, 4);
			sysread($c, my $startup, unpack('N', $len) - 4);
			# AuthenticationOk, BackendKeyData, ReadyForQuery (idle)
			syswrite($c, pack('a N N', 'R', 8, 0) . pack('a N N N', 'K', 12, 1, 1) . pack('a N a', 'Z', 5, 'I'));
			1 while sysread($c, my $buf, 8192);
		}
		exit 0;
	}
	my ($hrc, $hout, $herr, $hsecs) = rigctl_run_within(60, undef, 'status', '-d', "host=$dir port=$port dbname=postgres user=x");
	kill 'KILL', $pid;
	waitpid($pid, 0);
	ok(defined $hrc, '(3) status with a node that never answers after connecting ends by itself') or diag "ran $hsecs s";
	is($hrc, 2, '(3) ... with CRITICAL (2): the node counts as unreachable') or diag "$hout\n$herr";
	like($hout . $herr, qr/no answer within 15000 ms/, '(3) ... saying it got no answer');
	cmp_ok($hsecs, '<', 40, '(3) ... within a bounded time');
}

###########################################################################
# (4) log --follow when its node restarts: ends with an error, no hang
###########################################################################

my ($fin, $fout, $ferr) = ('', '', '');
my $follow = IPC::Run::start([ 'rigctl', 'log', '-d', $conn{a}, '--follow', '--interval', '100' ],
	'<', \$fin, '>', \$fout, '2>', \$ferr, IPC::Run::timeout(60));
$follow->pump until $fout =~ /"body": "one"/;
pass('(4) log --follow printed the log');
$node_a->restart;
my $frc = eval { $follow->finish; $? >> 8 };
$follow->kill_kill unless defined $frc;
is($frc, 1, '(4) log --follow ends with 1 when its node restarts') or diag $ferr;
like($ferr, qr/^rigctl: log: /m, '(4) ... saying why');

done_testing();
