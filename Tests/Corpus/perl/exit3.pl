# exit 3: explicit non-zero status, buffered output flushed, END block sees $?.
use strict;
use warnings;

$| = 0;
print "line $_\n" for 1 .. 3;
print STDERR "about to exit with 3\n";
END { print "END: status is $?\n" }
exit 3;
print "never\n";
