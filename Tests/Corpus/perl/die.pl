# die at top level: message on STDERR, exit status 255, END blocks still run, output flushed.
use strict;
use warnings;

END { print "END block runs, \$?=$?\n" }
print "before die\n";
eval { die "inner error\n" };
print "caught: $@";
eval { die { code => 42 } };
print "caught hashref code=$@->{code}\n";
sub level3 { die "fatal problem in level3" }
sub level2 { level3() }
level2();
print "never printed\n";
