# Large stdout: 100k lines (several MB) plus a final checksum line.
use strict;
use warnings;

my $sum = 0;
for my $i (1 .. 100_000) {
    my $line = sprintf "%06d %s %08x %.3f\n", $i, ("abcdefghij" x (1 + $i % 5)), $i * 2654435761 % 4294967296, sqrt($i);
    $sum = ($sum * 31 + length $line) % 1_000_000_007;
    print $line;
}
print "checksum=$sum\n";
