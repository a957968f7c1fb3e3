# A child still running when its parent exits: its output still comes (it is part of the run).
use strict; use warnings;
$| = 1;
my $pid = fork // die;
if ($pid == 0) { select undef, undef, undef, 0.3; print "child: done after the parent\n"; exit 0 }
print "parent: exiting first\n";
exit 0;
