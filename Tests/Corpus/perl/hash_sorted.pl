# Hashes: word frequencies from a fixture printed in sorted order, each/keys/values always sorted,
# slices, exists/delete, nested hashes, hash in list context, inversion.
use strict;
use warnings;

open my $fh, '<', 'words.txt' or die "words.txt: $!";
my %freq;
while (<$fh>) { $freq{lc $1}++ while /([A-Za-z']+)/g }
close $fh;
print "distinct words=", scalar(keys %freq), "\n";
for my $w (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq) {
    last if $freq{$w} < 2;
    printf "%-10s %d\n", $w, $freq{$w};
}
my %h = map { $_ => length $_ } qw(one two three four five six seven);
print "sorted keys: ", join(",", sort keys %h), "\n";
print "values by key: ", join(",", map { $h{$_} } sort keys %h), "\n";
my @pairs;
while (my ($k, $v) = each %h) { push @pairs, "$k=$v" }
print "each (sorted after): ", join(" ", sort @pairs), "\n";
my @slice = @h{qw(one three five)};
print "slice: @slice\n";
my %sub; @sub{qw(a b c)} = (1 .. 3);
print "assigned slice: ", join(",", map { "$_$sub{$_}" } sort keys %sub), "\n";
my %kv = %h{'two', 'six'};
print "kv slice: ", join(",", map { "$_=>$kv{$_}" } sort keys %kv), "\n";
print "exists four: ", (exists $h{four} ? 1 : 0), " delete returns: ", delete($h{four}), " exists now: ", (exists $h{four} ? 1 : 0), "\n";
my %inv;
push @{ $inv{$h{$_}} }, $_ for sort keys %h;
print "inverted: ", join("; ", map { "$_ => [@{$inv{$_}}]" } sort { $a <=> $b } keys %inv), "\n";
my %deep;
$deep{a}{b}{c} = 1; $deep{a}{x} = 2; $deep{z}{y}{w}{v} = 3;
sub walk { my ($h, $p) = @_; for my $k (sort keys %$h) { ref $h->{$k} ? walk($h->{$k}, "$p/$k") : print "$p/$k=$h->{$k}\n" } }
walk(\%deep, "");
my %big; $big{"key$_"} = $_ for 1 .. 50_000;
my $sum = 0; $sum += $_ for values %big;
print "big hash size=", scalar(keys %big), " sum=$sum first sorted=", (sort keys %big)[0], "\n";
print "hash in boolean ctx: ", (%big ? "true" : "false"), " empty: ", (%{ +{} } ? "true" : "false"), "\n";
