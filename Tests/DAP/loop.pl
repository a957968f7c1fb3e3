use strict;
my @seen;
my %count;
sub bump {
    my ($k) = @_;
    $count{$k}++;
    return $count{$k};
}
for my $i (1 .. 6) {
    my $k = $i % 2 ? "odd" : "even";
    my $n = bump($k);
    push @seen, "$k$n";
}
print join(",", @seen), "\n";
my $ok = eval { die "bad key\n" if $count{odd} == 3; 1 };
print "caught: $@";
