
# Copyright (c) 2026, rig developers

# Attacks on the lean ledger example (examples/ledger.sql: no FOR UPDATE, no
# foreign keys, rig's resource locks order the ops on an account), with a
# sync peer:
#
#  - ledger.expire_due() racing a void: the void's op time is before the
#    timeout, it commits while expire_due() waits for the accounts' locks;
#    expire_due() skips that transfer (it is resolved once, voided) and
#    still expires the others, instead of failing as a whole.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
my $node_a = rig_node('a');
my $node_b = rig_node('b');
rig_load_sql($_, "$srcdir/examples/ledger.sql") for ($node_a, $node_b);
my $connstr_b = $node_b->connstr('postgres');
$node_a->safe_psql('postgres', "SELECT rig_add_peer('b', \$\$$connstr_b\$\$, 'sync')");

$node_a->safe_psql('postgres', q{
SELECT ledger.account_open('{"id": 1, "ledger": 1, "code": 1}');
SELECT ledger.account_open('{"id": 2, "ledger": 1, "code": 1}');
SELECT ledger.transfer('{"id": 10, "debit_account": 1, "credit_account": 2, "amount": 5, "ledger": 1, "pending": true, "timeout": 2}');
SELECT ledger.transfer('{"id": 11, "debit_account": 1, "credit_account": 2, "amount": 7, "ledger": 1, "pending": true, "timeout": 2}');
});

# the void of 10, in time, holds accounts 1 and 2 uncommitted
my $void = rig_session($node_a);
my ($out, $err) = rig_bg_query($void,
	q{BEGIN; SELECT ledger.transfer_void('{"id": 20, "pending_id": 10}') ->> 'kind'});
like($out, qr/^void$/m, 'race: the void of pending transfer 10 applied before its timeout');
is($err, '', 'race: the void raised nothing');

# both pending transfers time out; expire_due() finds 10 still pending
$node_a->poll_query_until('postgres',
	q{SELECT max(expires_at) < clock_timestamp() FROM ledger.transfers WHERE kind = 'pending'})
  or die 'the pending transfers did not time out';
my $expire = rig_session($node_a);
rig_bg_send($expire, 'SELECT ledger.expire_due() AS expired');
ok(rig_waits_on_lock($node_a, 'expire_due'), 'race: expire_due() waits for the accounts of 10');
($out, $err) = rig_bg_query($void, 'COMMIT');
is($err, '', 'race: the void committed');
($out, $err) = rig_bg_result($expire);
is($err, '', 'race: expire_due() did not fail on the transfer voided meanwhile');
like($out, qr/^1$/m, 'race: expire_due() expired the other one');
$_->quit for ($void, $expire);

is( $node_a->safe_psql('postgres',
		q{SELECT string_agg(id || ' ' || kind || ' ' || pending_id, ', ' ORDER BY id) FROM ledger.transfers WHERE pending_id IS NOT NULL}),
	'-11 expire 11, 20 void 10',
	'race: 10 voided once, 11 expired once');
for my $node ($node_a, $node_b)
{
	is($node->safe_psql('postgres', 'SELECT * FROM ledger.check()'), '',
		$node->name . ': the invariants hold');
}
rig_verify_ok($node_a, 'b', 'peer: rig_verify_peer finds the state tables identical');

done_testing();
