# A syscall round trip: getppid in a loop; prints microseconds per call (startup excluded).
use strict;
use warnings;
use Time::HiRes qw(time);
my $n = shift // 20_000;
my $t0 = time;
my $x;
$x = getppid() for 1 .. $n;
my $t1 = time;
printf "%.3f\n", ($t1 - $t0) * 1e6 / $n;
