# Three generations: perl runs perl, which runs a shell, which runs perl; exit codes come back up.
use strict; use warnings;
$| = 1;
my $inner = q{print "grandchild perl $ARGV[0]\n"; exit 3};
my $middle = qq{\$| = 1; print "child perl\\n"; system 'sh', '-c', q{$^X -e '$inner' deep; echo "shell saw \$?"; exit 4}; print "child saw ", \$? >> 8, "\\n"; exit 5};
system $^X, '-e', $middle;
print "parent saw ", $? >> 8, "\n";
my @lines = `$^X -e 'print "a\\nb\\nc\\n"'`;
print "backticks in list context: ", scalar(@lines), " lines\n";
