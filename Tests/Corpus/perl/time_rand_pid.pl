# Values that differ by nature (masked): time, localtime, gmtime(time), rand without srand, $$.
# Deterministic counterparts are printed unmasked: rand after srand(N), relations between values.
use strict;
use warnings;

my $now = time;
print "time=$now\n";
print "localtime=", scalar(localtime($now)), "\n";
print "gmtime=", scalar(gmtime($now)), "\n";
my @lt = localtime($now);
printf "localtime fields sane: %s\n", ($lt[5] >= 100 && $lt[4] >= 0 && $lt[4] < 12 ? "yes" : "no");
print "rand=", rand(), "\n";
print "pid=$$\n";
print "pid positive: ", ($$ > 0 ? "yes" : "no"), "\n";
print "time reasonable (after 2020): ", ($now > 1_577_836_800 ? "yes" : "no"), "\n";
srand(2024);
print "seeded rand: ", join(" ", map { sprintf "%.6f", rand() } 1 .. 5), "\n";
srand(2024);
print "seeded ints: ", join(" ", map { int rand 100 } 1 .. 10), "\n";
my $r = rand(10);
print "rand(10) in range: ", ($r >= 0 && $r < 10 ? "yes" : "no"), "\n";
print "basetime=$^T\n";
print "basetime <= time: ", ($^T <= time ? "yes" : "no"), "\n";
