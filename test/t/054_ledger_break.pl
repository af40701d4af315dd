
# Copyright (c) 2026, rig developers

# Attacks on the lean ledger example (examples/ledger.sql: no FOR UPDATE, no
# foreign keys, rig's resource locks order the ops on an account), with a
# sync peer:
#
#  - ledger.expire_due() racing a void: the void's op time is before the
#    timeout, it commits while expire_due() waits for the accounts' locks;
#    expire_due() skips that transfer (it is resolved once, voided) and
#    still expires the others, instead of failing as a whole;
#  - with no FOR UPDATE, an op waiting for an account's lock while another
#    op on it is uncommitted reads the balances that op left: a spend
#    after a held spend is refused as an overdraft, a spend after a held
#    deposit goes through (both READ COMMITTED, forced with held locks).

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
SELECT ledger.transfer('{"id": 10, "debit_account": 1, "credit_account": 2, "amount": 5, "ledger": 1, "pending": true, "timeout": 3}');
SELECT ledger.transfer('{"id": 11, "debit_account": 1, "credit_account": 2, "amount": 7, "ledger": 1, "pending": true, "timeout": 3}');
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
rig_bg_send($expire, 'CALL ledger.expire_due()');
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

# account 3 may spend only what it was credited: 300
$node_a->safe_psql('postgres', q{
SELECT ledger.account_open('{"id": 3, "ledger": 1, "code": 2, "flags": ["debits_must_not_exceed_credits"]}');
SELECT ledger.transfer('{"id": 30, "debit_account": 1, "credit_account": 3, "amount": 300, "ledger": 1}');
});

# Run $first in a held transaction, $second beside it until it waits for the
# accounts, commit the first; returns the second's output and errors.
sub after_held
{
	my ($first, $second) = @_;
	my $held = rig_session($node_a);
	my $next = rig_session($node_a);
	my ($out, $err) = rig_bg_query($held, "BEGIN; SELECT ledger.transfer('$first') ->> 'kind'");
	is($err, '', "held: $first applied");
	rig_bg_send($next, "SELECT ledger.transfer('$second') ->> 'kind'");
	ok(rig_waits_on_lock($node_a, $second), "held: $second waits for the accounts");
	($out, $err) = rig_bg_query($held, 'COMMIT');
	is($err, '', 'held: committed');
	my @r = rig_bg_result($next);
	$_->quit for ($held, $next);
	return @r;
}

($out, $err) = after_held('{"id": 31, "debit_account": 3, "credit_account": 2, "amount": 250, "ledger": 1}',
	'{"id": 32, "debit_account": 3, "credit_account": 2, "amount": 100, "ledger": 1}');
is(sqlstate_of($err), '23514', 'stale: a spend after a held spend is refused as an overdraft');
like($err, qr/Account 3 has credits posted 300, debits pending 0 and posted 250/,
	'stale: it was checked against the balances the first spend left');
($out, $err) = after_held('{"id": 33, "debit_account": 1, "credit_account": 3, "amount": 100, "ledger": 1}',
	'{"id": 34, "debit_account": 3, "credit_account": 2, "amount": 150, "ledger": 1}');
is($err, '', 'stale: a spend after a held deposit goes through');
like($out, qr/^posted$/m, 'stale: it is posted');
is($node_a->safe_psql('postgres', 'SELECT debits_posted, credits_posted FROM ledger.accounts WHERE id = 3'),
	'400|400', 'stale: account 3 debited 250 + 150 of its 400 credits, nothing lost');
for my $node ($node_a, $node_b)
{
	is($node->safe_psql('postgres', 'SELECT * FROM ledger.check()'), '',
		$node->name . ': the invariants hold');
}
rig_verify_ok($node_a, 'b', 'peer: rig_verify_peer finds the state tables identical');

# the tables' timestamps (opened_at, created_at, expires_at) hash alike
# whatever the caller's session shows them as
is( $node_a->safe_psql('postgres', q{
SET timezone = 'Pacific/Chatham'; SET datestyle = 'SQL, DMY'; SET intervalstyle = 'sql_standard';
SET extra_float_digits = -3;
SELECT relation, key_range, problem FROM rig_verify_peer('b')}),
	'', 'peer: rig_verify_peer finds them identical under other display settings');

done_testing();
