
# Copyright (c) 2026, rig developers

# The resolver for a transaction too old for the commit log (issue 8, 4.4;
# DESIGN 5.1): primary a crashes twice with a transaction in doubt on its
# sync peer b, once after its local commit and once before it.  Then a's
# commit log is made to forget both (pg_resetwal moves its oldest xid past
# them), as years of traffic would.  rig_resolve() must decide each by
# a's rig.log: the committed one's record is there, so COMMIT PREPARED; the
# other's is not while an older record is, so ROLLBACK PREPARED.  (It used
# to warn forever.)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $a = rig_node('a');
my $b = rig_node('b');
$_->safe_psql('postgres', rig_notes_sql()) for ($a, $b);
$a->safe_psql('postgres',
	"SELECT rig_add_peer('b', \$\$" . $b->connstr('postgres') . "\$\$, 'sync')");
$a->safe_psql('postgres', q{SELECT rig_do('note', '{"body": "older"}')});

# committed on a, COMMIT PREPARED never sent to b
my ($s) = rig_start_paused($a, 'after_local_commit', 'committed-old');
crash($a);
rig_client_end($s);
$a->start;

# prepared on b, a died before its local commit
($s) = rig_start_paused($a, 'after_peer_prepare', 'aborted-old');
crash($a);
rig_client_end($s);
$a->start;
is($b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'2', 'b holds both transactions in doubt');

# a's commit log forgets them: its oldest xid moves past them
$a->stop;
my $oldest = 3 * 1048576;    # the first xid of pg_xact segment 0003
my $pgdata = $a->data_dir;
open(my $fh, '>', "$pgdata/pg_xact/0003") or die "could not create pg_xact/0003: $!";
binmode $fh;
print $fh ("\0" x 262144);
close $fh;
command_ok([ 'pg_resetwal', '-u', $oldest, '-x', $oldest + 1000, $pgdata ],
	"pg_resetwal moves a's oldest xid to $oldest");
$a->start;
is($a->safe_psql('postgres', 'SELECT rig_resolve()'), '2',
	'rig_resolve() settles both, though the commit log cannot tell their outcome');
is($b->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'nothing is left in doubt on b');
is($b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'committed-old'}),
	'1', 'the transaction committed on a was committed on b (its log record is on a)');
is($b->safe_psql('postgres', q{SELECT count(*) FROM notes WHERE body = 'aborted-old'}),
	'0', 'the one a never committed was rolled back on b (no record on a, an older one is)');
my $log = 'SELECT version, epoch, method, data, idempotency_key, op_time, origin FROM rig.log ORDER BY version';
is($b->safe_psql('postgres', $log), $a->safe_psql('postgres', $log), 'a and b hold the same log');
ok(!$a->log_contains('cannot tell the outcome'), 'a never gave up on either');

done_testing();
