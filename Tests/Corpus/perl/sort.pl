# Sorting: numeric, string, reverse, custom multi-key, stable sort, Schwartzian transform,
# sorting a generated list with a fixed seed.
use strict;
use warnings;
use sort 'stable';

open my $fh, '<', 'numbers.txt' or die "numbers.txt: $!";
chomp(my @nums = <$fh>);
close $fh;
print "numeric: @{[ sort { $a <=> $b } @nums ]}\n";
print "numeric desc: @{[ sort { $b <=> $a } @nums ]}\n";
print "string: @{[ sort @nums ]}\n";
print "reverse string: @{[ reverse sort @nums ]}\n";

my @people = map { [split /,/] } ("ann,30,nyc", "bob,25,sf", "cat,30,la", "dan,25,nyc", "eve,35,sf", "fay,30,sf");
print "by age then name desc: ", join(" ", map { $_->[0] } sort { $a->[1] <=> $b->[1] or $b->[0] cmp $a->[0] } @people), "\n";
print "stable by age: ", join(" ", map { $_->[0] } sort { $a->[1] <=> $b->[1] } @people), "\n";
print "stable by city: ", join(" ", map { "$_->[0]\@$_->[2]" } sort { $a->[2] cmp $b->[2] } @people), "\n";

my @words = qw(pear Apple fig banana Cherry date elderberry);
my @st = map { $_->[1] } sort { $a->[0] <=> $b->[0] or lc $a->[1] cmp lc $b->[1] } map { [length, $_] } @words;
print "schwartzian (len, ci): @st\n";
print "case-insensitive: @{[ sort { lc $a cmp lc $b } @words ]}\n";
sub by_last_char { substr($a, -1) cmp substr($b, -1) or $a cmp $b }
print "named sub: @{[ sort by_last_char @words ]}\n";

srand(12345);
my @big = map { int(rand(1_000_000)) } 1 .. 200_000;
my @sorted = sort { $a <=> $b } @big;
my $ok = 1;
for my $i (1 .. $#sorted) { if ($sorted[$i - 1] > $sorted[$i]) { $ok = 0; last } }
my $sum = 0; $sum += $_ for @sorted;
print "200k sorted ok=$ok min=$sorted[0] max=$sorted[-1] median=$sorted[100_000] sum=$sum\n";
my %seen; my @uniq = grep { !$seen{$_}++ } @sorted;
print "distinct=", scalar(@uniq), "\n";
