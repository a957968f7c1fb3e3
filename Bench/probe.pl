# The floor of any syscall path under PVM: a syscall the guest stub answers itself (no VMM).
# Prints microseconds per call. Natively the number is not a syscall: it fails with ENOSYS.
use strict;
use warnings;
use Time::HiRes qw(time);
my $n = shift // 20_000;
my $t0 = time;
syscall(0x52560001) for 1 .. $n;
my $t1 = time;
printf "%.3f\n", ($t1 - $t0) * 1e6 / $n;
