#!/usr/bin/perl
#
# check_layers.pl: rig's src/ is a house with floors.  Checks, by reading
# the sources:
#   - every module (src/NAME.c) has a layer in the table below;
#   - a file includes rig headers of its own layer or lower only (one
#     header per module: including a header is the only way to call it);
#   - the modules' includes form no cycle, inside a layer either;
#   - every rig header a file includes is used by it, and a file uses
#     nothing of a header it does not include itself;
#   - a header declares only its own module's functions;
#   - docs/design.md's map names every module.
# Only src/*.c and src/*.h are modules: src/rigctl/ is a separate program
# (the rigctl client) with no floor in the map, and is not read.
# Run from the top of the tree: perl test/check_layers.pl
#
use strict;
use warnings;

# The layers, bottom to top (docs/design.md has the same map).
my %layer = (
	settings => 0, shmem => 0, peerstate => 0, incarnation => 0, pace => 0,
	catalog => 1, gid => 1, node => 1, oplog => 1, keys => 1,
	peerlist => 1, watermark => 1, compact => 1, status => 1, route => 1,
	handlers => 2, locks => 2, apply => 2, tables => 2, tableguard => 2, tablehash => 2, sysrec => 2,
	conn => 3, wire => 3,
	replicate => 4, xact => 4, write => 4, replica => 4, import => 4, ddl => 4, snapshot => 4, snaptake => 4,
	compare => 5, ship => 5, tablediff => 5, rebuild => 5, bootload => 5, bootstrap => 5, verify => 5, catchup => 5, resolve => 5,
	peer => 5, follow => 5, switchover => 5, promote => 5, remotenode => 5, branches => 5, xnode => 5, phase => 5, decide => 5, coord => 5,
	worker => 6,
	rig => 7);

my @errors;
my %modules;
for my $f (glob('src/*.c'), glob('src/*.h'))
{
	my ($m) = $f =~ m{src/(\w+)\.[ch]$};
	$modules{$m} = 1;
	push @errors, "$f: module \"$m\" has no layer" unless exists $layer{$m};
}
for my $m (keys %layer)
{
	push @errors, "layer table names \"$m\", which has no src/$m.c"
	  unless -f "src/$m.c";
}

sub slurp
{
	my ($f) = @_;
	open my $fh, '<', $f or die "$f: $!";
	local $/;
	my $t = <$fh>;
	return $t;
}

# what each header declares: functions, types, macros, enum constants
my %declares;
for my $h (glob('src/*.h'))
{
	my ($m) = $h =~ m{src/(\w+)\.h$};
	my $t = slurp($h);
	$t =~ s{/\*.*?\*/}{}gs;
	my @names;
	push @names, $1 while $t =~ /\bextern\b[^;(]*?\**\s*\b(\w+)\s*\(/g;
	push @names, $1 while $t =~ /\bextern\b[^;(]*?\b(\w+)\s*;/g;
	push @names, $1 while $t =~ /^#define\s+(\w+)/mg;
	push @names, $1 while $t =~ /}\s*(\w+)\s*;/g;
	while ($t =~ /enum\s+\w*\s*\{(.*?)\}/gs)
	{
		my $body = $1;
		push @names, $1 while $body =~ /\b(RIG_\w+)\b/g;
	}
	@names = grep { $_ ne "RIG_\U${m}\E_H" } @names;
	$declares{$m} = \@names;

	# a header declares only its own module's functions
	my $c = -f "src/$m.c" ? slurp("src/$m.c") : '';
	while ($t =~ /\bextern\b[^;(]*?\**\s*\b(\w+)\s*\(/g)
	{
		my $fn = $1;
		push @errors, "$h declares $fn, which src/$m.c does not define"
		  unless $c =~ /^$fn\(/m;
	}
}

my %edges;
for my $f (glob('src/*.c'), glob('src/*.h'))
{
	my ($m, $kind) = $f =~ m{src/(\w+)\.([ch])$};
	next unless exists $layer{$m};
	my $t = slurp($f);
	my $body = $t;
	$body =~ s{/\*.*?\*/}{}gs;
	$body =~ s{^#include.*$}{}mg;
	while ($t =~ /^#include "(\w+)\.h"/mg)
	{
		my $dep = $1;
		next if $dep eq $m;
		next unless $modules{$dep} && -f "src/$dep.h";
		next if $dep eq 'postgres';
		if (!exists $layer{$dep})
		{
			next;
		}
		push @errors, "$f (layer $layer{$m}) includes $dep.h (layer $layer{$dep}): a call up a layer"
		  if $layer{$dep} > $layer{$m};
		$edges{$m}{$dep} = 1;
		my @used = grep { $body =~ /\b\Q$_\E\b/ } @{ $declares{$dep} };
		push @errors, "$f includes $dep.h but uses none of it"
		  unless @used;
	}

	# and uses nothing of a header it does not include itself
	my %included = map { $_ => 1 } ($t =~ /^#include "(\w+)\.h"/mg);
	for my $dep (sort keys %declares)
	{
		next if $dep eq $m || $included{$dep};
		my @used = grep { $body =~ /\b\Q$_\E\b/ } @{ $declares{$dep} };
		push @errors, "$f uses @used of $dep.h without including it"
		  if @used;
	}
}

# no cycle among the modules
my %state;
sub visit
{
	my ($m, @path) = @_;
	return if ($state{$m} // 0) == 2;
	if (($state{$m} // 0) == 1)
	{
		push @errors, "include cycle: " . join(' -> ', @path, $m);
		return;
	}
	$state{$m} = 1;
	visit($_, @path, $m) for sort keys %{ $edges{$m} };
	$state{$m} = 2;
}
visit($_) for sort keys %layer;

# the map in docs/design.md names every module
my $design = slurp('docs/design.md');
for my $m (sort keys %layer)
{
	push @errors, "docs/design.md's map does not name src/$m.c"
	  unless $design =~ /\b\Q$m\E\.c\b/;
}

if (@errors)
{
	print STDERR "$_\n" for @errors;
	exit 1;
}
printf "layers ok: %d modules in %d layers, no call up a layer, no cycle, no unused include\n",
  scalar(keys %layer), 1 + (sort { $b <=> $a } values %layer)[0];
