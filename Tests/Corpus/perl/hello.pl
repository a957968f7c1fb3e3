# Smallest possible program: print, say, basic string and number formatting.
use strict;
use warnings;
use feature 'say';

print "Hello, Revenant!\n";
say "perl version: ", sprintf("%vd", $^V);
say "script: $0";
my @list = (1 .. 10);
say "sum 1..10 = ", eval { my $t = 0; $t += $_ for @list; $t };
say join(",", map { $_ * $_ } @list);
printf "%-8s|%8s|%08.3f|%+d\n", "left", "right", 3.14159, 42;
say "done";
