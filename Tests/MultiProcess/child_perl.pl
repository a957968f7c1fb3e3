# A child perl: its output, its exit code, its view of its parent, a value through backticks.
use strict; use warnings;
$| = 1;
my $me = $$;
system $^X, '-e', 'print "child perl: parent ", (getppid() == $ARGV[0] ? "right" : "wrong"), "\n"; exit 6', $me;
print "child perl ended with ", $? >> 8, "\n";
my $v = `$^X -le "print 6 * 7"`;
print "backticks perl: $v";
open my $kid, '|-', $^X, '-ne', 'print "kid read: $_"' or die;
print $kid "line $_\n" for 1 .. 3;
close $kid;
print "pipe to perl ended with $?\n";
