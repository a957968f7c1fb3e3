# sprintf (floats, widths, %v d, %b, %o, %x, %e, %g, %s with precision, %*d) and pack/unpack.
use strict;
use warnings;

my @floats = (0, 1, -1, 0.1, 1/3, 2/3, 3.14159265358979, 1e10, 1.5e-7, 123456789.987654321, -0.0, 2**53, 1e100, 0.5, 1.5, 2.5);
for my $f (@floats) {
    printf "%-22s %%.2f=%s %%e=%s %%g=%s %%.15g=%s\n", $f, sprintf("%.2f", $f), sprintf("%e", $f), sprintf("%g", $f), sprintf("%.15g", $f);
}
my ($inf, $ninf) = (9**9**9, -9**9**9); my $nan = $inf - $inf;
printf "inf/nan: %s %s %s nan==nan:%s %%.2f=%.2f\n", $inf, $ninf, $nan, ($nan == $nan ? "yes" : "no"), $inf;
printf "%%vd: %vd | %%v02x: %v02x | sep: %*vd\n", "1.22.333", "1.2.3", ":", "10.20.30";
printf "version string: %vd bare v-string: %vd\n", v5.36.0, 1.22.333;
printf "ints: %d %5d %-5d| %05d %+d %x %X %#x %o %#o %b %#b %e\n", 42, 42, 42, 42, 42, 255, 255, 255, 8, 8, 10, 10, 12345.678;
printf "strings: [%s] [%10s] [%-10s] [%.3s] [%*s] [%-*s]\n", "abc", "abc", "abc", "abcdef", 6, "xy", 6, "xy";
printf "positional: %2\$s %1\$s %2\$s\n", "world", "hello";
printf "char: %c%c%c percent: %%\n", 80, 101, 114;
printf "large: %d %s %.0f\n", 9223372036854775807, 18446744073709551615, 2**64;
printf "rounding: %.0f %.0f %.0f %.0f %.1f %.2f\n", 0.5, 1.5, 2.5, -0.5, 0.05, 1.005;

my $packed = pack("A3 a3 Z5 n N v V c C", "ab", "cd", "efgh", 258, 16909060, 258, 16909060, -1, 255);
print "pack hex: ", unpack("H*", $packed), " len=", length($packed), "\n";
my @u = unpack("A3 a3 Z5 n N v V c C", $packed);
print "unpack: ", join("|", map { s/\0/\\0/gr } @u), "\n";
print "q/Q: ", unpack("H*", pack("q< Q>", -2, 2**40)), "\n";
print "w (BER): ", unpack("H*", pack("w*", 1, 127, 128, 16384, 2**32)), "\n";
print "unpack w: ", join(",", unpack("w*", pack("w*", 1, 127, 128, 16384, 2**32))), "\n";
print "n/a*: ", unpack("H*", pack("n/a*", "hello")), " -> ", unpack("n/a*", pack("n/a*", "hello")), "\n";
print "bits: ", unpack("b*", "AB"), " ", unpack("B*", "AB"), "\n";
print "checksum %32C*: ", unpack("%32C*", "The quick brown fox"), "\n";
print "float pack: ", unpack("H*", pack("d<", 1.5)), " ", unpack("H*", pack("f>", -2.25)), "\n";
print "floats back: ", join(",", unpack("d< f>", pack("d< f>", 1.5, -2.25))), "\n";
my @groups = unpack("(A2)*", "aabbccdd");
print "groups: @groups\n";
print "x/X/\@: ", unpack("H*", pack("C x2 C X C \@6 C", 1, 2, 3, 4)), "\n";
print "U: ", join(",", unpack("U*", "\x{263A}a\x{e9}")), "\n";
print "sprintf list: ", sprintf("%s-%s-%s", split(/,/, "x,y,z")), "\n";
