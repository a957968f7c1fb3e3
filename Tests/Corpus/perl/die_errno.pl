# die after a failed system call exits with the errno value ($! = ENOENT -> status 2), not 255.
use strict;
use warnings;

print "opening a missing file and dying with \$!\n";
open(my $fh, '<', 'definitely-missing.txt') or die "Cannot open definitely-missing.txt: $!\n";
print "never reached\n";
