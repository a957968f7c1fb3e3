# Read text from STDIN line by line; counts, reversal, eof handling.
use strict;
use warnings;

my ($lines, $words, $chars) = (0, 0, 0);
my @all;
while (my $line = <STDIN>) {
    $lines++;
    $chars += length $line;
    chomp $line;
    $words += () = $line =~ /\S+/g;
    push @all, $line;
}
print "lines=$lines words=$words chars=$chars\n";
print "eof(STDIN)=", (eof(STDIN) ? 1 : 0), "\n";
print "reversed:\n";
print "  ", scalar reverse($_), "\n" for reverse @all;
my @sorted = sort { lc($a) cmp lc($b) or $a cmp $b } grep { length } @all;
print "sorted first: $sorted[0]\n";
print "sorted last: $sorted[-1]\n";
