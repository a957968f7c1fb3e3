# POSIX: floor/ceil/fmod/pow, strftime with a fixed time through gmtime, mktime-free date math,
# numeric constants, strtol, errno strings via strerror.
use strict;
use warnings;
use POSIX qw(floor ceil fmod pow strftime INT_MAX INT_MIN DBL_DIG LONG_MAX strtol strerror EINVAL ENOENT);

printf "floor: %s %s %s\n", floor(3.7), floor(-3.2), floor(5);
printf "ceil: %s %s %s\n", ceil(3.2), ceil(-3.7), ceil(5);
printf "fmod: %s %s\n", fmod(10, 3), fmod(-7.5, 2);
printf "pow: %s %s\n", pow(2, 10), pow(9, 0.5);
my $t = 1_700_000_000; # fixed: 2023-11-14T22:13:20Z
print "strftime: ", strftime("%Y-%m-%d %H:%M:%S %A %B %j %U %w %%", gmtime($t)), "\n";
print "strftime epoch 0: ", strftime("%a, %d %b %Y %H:%M:%S +0000", gmtime(0)), "\n";
print "strftime leap: ", strftime("%Y-%m-%d (%a) day %j", gmtime(951_782_400)), "\n";
my @g = gmtime($t);
printf "gmtime list: sec=%d min=%d hour=%d mday=%d mon=%d year=%d wday=%d yday=%d isdst=%d\n", @g;
print "scalar gmtime: ", scalar(gmtime($t)), "\n";
printf "INT_MAX=%d INT_MIN=%d LONG_MAX=%s DBL_DIG=%d\n", INT_MAX, INT_MIN, LONG_MAX, DBL_DIG;
my ($num, $unparsed) = strtol("0x1fZZ", 16);
print "strtol: $num unparsed=$unparsed\n";
($num, $unparsed) = strtol("777", 8);
print "strtol octal: $num unparsed=$unparsed\n";
print "strerror(ENOENT)=", strerror(ENOENT), " strerror(EINVAL)=", strerror(EINVAL), "\n";
print "isatty-free; DBL_MAX finite: ", (POSIX::DBL_MAX() < 9**9**9 ? 1 : 0), "\n";
print "round-half-even via sprintf vs POSIX::floor(x+0.5): ", join(",", map { sprintf("%.0f", $_) . "/" . floor($_ + 0.5) } 0.5, 1.5, 2.5, 3.5), "\n";
print "lround: ", join(",", map { POSIX::lround($_) } -2.5, -1.5, 1.5, 2.5), "\n";
print "fmin/fmax: ", POSIX::fmin(3, 7), " ", POSIX::fmax(3, 7), "\n";
