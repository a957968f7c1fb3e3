# Binary STDIN: binmode, read() in fixed chunks, byte histogram, unpack.
use strict;
use warnings;

binmode STDIN;
my ($total, $buf, @chunks) = (0);
my %hist;
while (1) {
    my $n = read(STDIN, $buf, 7);
    die "read error: $!" unless defined $n;
    last if $n == 0;
    push @chunks, $n;
    $total += $n;
    $hist{$_}++ for unpack "C*", $buf;
}
print "total=$total chunks=", scalar(@chunks), " last=$chunks[-1]\n";
print "distinct bytes=", scalar(keys %hist), "\n";
for my $b (sort { $hist{$b} <=> $hist{$a} || $a <=> $b } keys %hist) {
    printf "byte 0x%02x x%d\n", $b, $hist{$b};
}
