
# Copyright (c) 2026, rig developers

# Extension upgrades (issue 14): a primary and its sync peer installed as
# rig 1.0 (the first release) take writes with the new library, then are
# updated one at a time with ALTER EXTENSION rig UPDATE (the peer first, as
# in a rolling upgrade), writing between the steps.  Afterwards:
#  - every object of the extension (functions with their definitions and
#    privileges, tables, columns, views, indexes, triggers, constraints,
#    comments, what pg_dump keeps) is exactly what a fresh install of the
#    default version creates;
#  - the data written under 1.0 is still there, both logs are identical,
#    and 1.1's features work on the updated nodes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RigTestLib;

# Every object of the extension, one line each, in a fixed order.
my $schema_sql = q{
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'rig'),
members AS (
	SELECT d.classid, d.objid, d.objsubid
	  FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT pg_describe_object(classid, objid, objsubid) || ': ' ||
	   CASE classid
	   WHEN 'pg_proc'::regclass THEN
		   (SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '-')
			  FROM pg_proc p WHERE p.oid = objid)
	   WHEN 'pg_class'::regclass THEN
		   (SELECT c.relkind::text || ' acl=' || coalesce(c.relacl::text, '-') || ' columns=' ||
				   coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
											   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
											   coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '') ||
											   coalesce(' comment ' || col_description(a.attrelid, a.attnum), ''),
											   ', ' ORDER BY a.attnum)
							   FROM pg_attribute a
							   LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
							  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') ||
				   CASE WHEN c.relkind = 'v' THEN ' view=' || pg_get_viewdef(c.oid) ELSE '' END
			  FROM pg_class c WHERE c.oid = objid)
	   ELSE ''
	   END || ' comment=' ||
	   coalesce(obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)), '-')
  FROM members
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'rig'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'rig'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'rig'::regnamespace
UNION ALL
SELECT 'dumped with pg_dump: ' || string_agg(c::regclass::text, ', ' ORDER BY c::regclass::text)
  FROM ext, unnest(extconfig) c
ORDER BY 1};

my $notes = 'SELECT * FROM notes ORDER BY id';
my $log = 'SELECT version, epoch, method, data, idempotency_key, op_time, origin FROM rig.log ORDER BY version';

sub version_of
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'rig'});
}

sub write_note
{
	my ($node, $body, $what) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', qq{SELECT rig_do('note', '{"body": "$body"}')});
	is($ret, 0, "$what: rig_do works") or diag $err;
	return;
}

# p (primary) and q (its sync peer), both installed as 1.0
my ($p, $q) = map { rig_node($_, extension => 0) } ('p', 'q');
for my $node ($p, $q)
{
	$node->safe_psql('postgres', q{CREATE EXTENSION rig VERSION '1.0'});
	$node->safe_psql('postgres', rig_notes_sql());
	is(version_of($node), '1.0', $node->name . ' runs rig 1.0');
}
$p->safe_psql('postgres',
	"SELECT rig_add_peer('q', \$\$" . $q->connstr('postgres') . "\$\$, 'sync')");
write_note($p, "under 1.0 $_", "1.0 with the new library ($_)") for (1 .. 3);

# the peer first
$q->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
is(version_of($q), '1.1', 'the peer updated to 1.1');
write_note($p, 'primary 1.0, peer 1.1', 'mixed versions');
is($q->safe_psql('postgres', q{SELECT count(*) FROM notes}), '4', 'the peer took the write made in between');

# then the primary
$p->safe_psql('postgres', 'ALTER EXTENSION rig UPDATE');
is(version_of($p), '1.1', 'the primary updated to 1.1');
write_note($p, 'both 1.1', 'after the update');
is($p->safe_psql('postgres', q{SELECT string_agg(body, ',' ORDER BY id) FROM notes}),
	'under 1.0 1,under 1.0 2,under 1.0 3,primary 1.0\, peer 1.1,both 1.1' =~ s/\\//r,
	"the data written under 1.0 is still there");
is($q->safe_psql('postgres', $log), $p->safe_psql('postgres', $log), 'both logs are identical');
is($q->safe_psql('postgres', $notes), $p->safe_psql('postgres', $notes), 'both tables are identical');

# 1.1's features on the updated nodes
$_->safe_psql('postgres', q{SELECT rig_register_table('notes')}) for ($p, $q);
my ($ret, $out, $err) = $q->psql('postgres', q{DELETE FROM notes});
like($err, qr/ERROR:  .*notes/, "1.1's state tables work after the update: a direct write on the peer is refused");
write_note($p, 'registered', 'a state table written through rig_do');
is($p->safe_psql('postgres', q{SELECT count(*) FROM rig_verify_peer('q')}), '0',
	"1.1's rig_verify_peer compares the registered table: no difference");

# the same objects as a fresh install of the default version
my $f = rig_node('f');
is(version_of($f), '1.1', 'a fresh install is 1.1');
my $fresh = $f->safe_psql('postgres', $schema_sql);
cmp_ok(scalar(split /\n/, $fresh), '>', 100, 'the fresh install has its objects listed');
is($p->safe_psql('postgres', $schema_sql), $fresh,
	'the updated primary has exactly the objects of a fresh install');
is($q->safe_psql('postgres', $schema_sql), $fresh,
	'the updated peer has exactly the objects of a fresh install');

# the PGXN metadata agrees with the control file
{
	require JSON::PP;
	my $srcdir = $ENV{RIG_SRCDIR} // "$FindBin::RealBin/../..";
	my $meta = JSON::PP::decode_json(slurp_file("$srcdir/META.json"));
	my ($default) = slurp_file("$srcdir/rig.control") =~ /^default_version = '([^']+)'/m;
	is($meta->{version}, "$default.0", "META.json's version is the control file's default_version ($default)");
	is($meta->{provides}{rig}{version}, $meta->{version}, "META.json's provides has the same version");
	ok(-f "$srcdir/$meta->{provides}{rig}{file}", "META.json's provides names an existing file");
	is(join(',', grep { !defined $meta->{$_} } qw(name abstract version maintainer license provides meta-spec)),
		'', 'META.json has every field the PGXN meta spec requires');
}

done_testing();
