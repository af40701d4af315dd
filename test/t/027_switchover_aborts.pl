
# Copyright (c) 2026, rig developers

# A switchover that cannot complete never leaves two primaries (found by
# the break-it review of issue 10).  rig_switchover() promotes the peer
# over its own connection, which cannot be undone, and changes this node's
# role in the caller's transaction:
#
#  1. inside BEGIN ... it is refused (25001) and changes nothing, with a
#     sync peer: the caller could roll back this node's change but not
#     the peer's promotion;
#  2. the same with an async peer;
#  3. cancelled after the promotion (fault point switchover_after_promote):
#     the old primary is fenced (rig.status says so, rig_do fails), and it
#     rejoins the new primary with rig_add_peer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $conf = q{
max_prepared_transactions = 20
rig.sync_timeout = 3000
};

# A fresh pair a -> b (mode), with the bank loaded
sub pair
{
	my ($tag, $mode) = @_;
	my $a = rig_node("a$tag", conf => $conf);
	my $b = rig_node("b$tag", conf => $conf);
	rig_bank_setup($_) for ($a, $b);
	$a->safe_psql('postgres', "SELECT rig_add_peer('b$tag', \$\$" . $b->connstr('postgres') . "\$\$, '$mode')");
	rig_bank_open($a, 4, 1000);
	return ($a, $b);
}

# Refused inside a transaction block: nothing changed, a still writes
sub check_refused
{
	my ($t, $a, $b, $bname, $err) = @_;
	is(sqlstate_of($err), '25001', "$t: refused with 25001");
	like($err, qr/cannot run inside a transaction block/, "$t: the error says why");
	is($b->safe_psql('postgres', 'SELECT role FROM rig.node'), 'replica', "$t: $bname is still a replica");
	is($a->safe_psql('postgres', 'SELECT role FROM rig.status'), 'primary', "$t: a is still the primary");
	my ($ret, $out, $e) = $a->psql('postgres',
		q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}', 'after-refusal')});
	is($ret, 0, "$t: rig_do works on a") or note $e;
	$a->safe_psql('postgres', "SELECT rig_sync_peer('$bname')");
	is($b->safe_psql('postgres', q{SELECT count(*) FROM rig.log WHERE idempotency_key = 'after-refusal'}),
		'1', "$t: and reaches $bname");
}

# 1. sync peer, BEGIN; rig_switchover
{
	my ($a, $b) = pair(1, 'sync');
	my $err = rig_psql_error($a, "BEGIN; SELECT rig_switchover('b1'); ROLLBACK;");
	check_refused('(1) sync, in a transaction block', $a, $b, 'b1', $err);
	$_->stop('immediate') for ($a, $b);
}

# 2. async peer, BEGIN; rig_switchover
{
	my ($a, $b) = pair(2, 'async');
	$a->safe_psql('postgres', q{SELECT rig_sync_peer('b2')});
	my $err = rig_psql_error($a, "BEGIN; SELECT rig_switchover('b2'); ROLLBACK;");
	check_refused('(2) async, in a transaction block', $a, $b, 'b2', $err);
	$_->stop('immediate') for ($a, $b);
}

# 3. sync peer, the switchover cancelled after the promotion
{
	my ($a, $b) = pair(3, 'sync');
	my $s = rig_session($a);
	$s->query_safe(q{SET rig.fault_point = 'switchover_after_promote'});
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->{stdin} .= "SELECT rig_switchover('b3');\n";
	$s->{run}->pump_nb;
	ok($a->wait_for_log(qr/paused at fault point "switchover_after_promote"/), '(3) paused after the promotion');
	$a->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my ($o, $e) = rig_bg_query($s, 'SELECT 1');
	note "switchover: $e";
	$s->quit;
	like($e, qr/canceling statement/, '(3) the switchover was cancelled');
	my $t = '(3) sync, cancelled after the promotion';
	is($b->safe_psql('postgres', 'SELECT role FROM rig.node'), 'primary', "$t: b3 was promoted");
	is($a->safe_psql('postgres', 'SELECT role FROM rig.status'), 'fenced', "$t: rig.status says a is fenced");
	my $err = rig_psql_error($a, q{SELECT rig_do('transfer', '{"from": 1, "to": 2, "amount": 1}', 'after-switch')});
	is(sqlstate_of($err), '25006', "$t: a refuses rig_do (25006)");
	like($err, qr/fenced/, "$t: the error says a is fenced");
	$b->safe_psql('postgres', "SELECT rig_add_peer('a3', \$\$" . $a->connstr('postgres') . "\$\$, 'sync')");
	rig_verify_ok($b, 'a3', "$t: a rejoins b3 and converges");
	is($a->safe_psql('postgres', 'SELECT role, primary_name FROM rig.node'), 'replica|b3', "$t: a follows b3");
	$_->stop('immediate') for ($a, $b);
}

done_testing();
