# Time::HiRes: time (masked), sleep 0.01 and usleep, elapsed checks printed as booleans, gettimeofday.
use strict;
use warnings;
use Time::HiRes qw(time sleep usleep gettimeofday tv_interval);

my $t0 = time;
printf "hires time=%.6f\n", $t0;
my $slept = sleep(0.01);
my $t1 = time;
printf "elapsed after sleep(0.01) >= 0.009: %s, < 5: %s\n", ($t1 - $t0 >= 0.009 ? "yes" : "no"), ($t1 - $t0 < 5 ? "yes" : "no");
printf "sleep returned >= 0.009: %s\n", ($slept >= 0.009 ? "yes" : "no");
my @tv0 = gettimeofday;
usleep(20_000);
my $iv = tv_interval(\@tv0);
printf "usleep(20000) interval >= 0.019: %s\n", ($iv >= 0.019 ? "yes" : "no");
printf "gettimeofday=%d.%06d\n", @tv0;
printf "integer time matches: %s\n", (abs(int(time) - CORE::time()) <= 1 ? "yes" : "no");
my $t2 = time;
select(undef, undef, undef, 0.01);
printf "select sleep ok: %s\n", (time - $t2 >= 0.009 ? "yes" : "no");
printf "monotonic-ish: %s\n", (time >= $t0 ? "yes" : "no");
