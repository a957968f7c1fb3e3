# Large STDERR output interleaved with STDOUT (autoflush on both): 20k lines to each stream.
use strict;
use warnings;
use IO::Handle;

STDOUT->autoflush(1);
STDERR->autoflush(1);
for my $i (1 .. 20_000) {
    print STDOUT "out $i\n";
    print STDERR "err $i ", "e" x ($i % 50), "\n";
}
print STDERR "stderr done\n";
print "stdout done\n";
