# Numbers: integer/float boundaries, overflow to NV, hex/oct/bin literals and conversions,
# bit operations, integer pragma, math functions, Math::BigInt / Math::BigFloat.
use strict;
use warnings;
use Math::BigInt;
use Math::BigFloat;

print "2**63=", 2**63, " 2**64=", 2**64, " ~0=", ~0, " -2**63=", -2**63, "\n";
print "18446744073709551615+1=", 18446744073709551615 + 1, " 9223372036854775807+0=", 9223372036854775807 + 0, "\n";
print "int(7.9)=", int(7.9), " int(-7.9)=", int(-7.9), " 7 % 3=", 7 % 3, " -7 % 3=", -7 % 3, " 7 % -3=", 7 % -3, "\n";
{ use integer; print "use integer: -7/2=", -7 / 2, " -7%3=", -7 % 3, " 10/3=", 10 / 3, "\n"; }
print "hex('ff')=", hex('ff'), " oct('0755')=", oct('0755'), " oct('0x1F')=", oct('0x1F'), " oct('0b101')=", oct('0b101'), "\n";
print "literals: ", 0xff, " ", 0o17 // '', " ", 0b1010, " ", 1_000_000, "\n";
print "bits: ", 0b1100 & 0b1010, " ", 0b1100 | 0b1010, " ", 0b1100 ^ 0b1010, " ", 1 << 40, " ", 2**40 >> 3, " ", ~5 & 0xff, "\n";
print "string bitops: ", ("AB" | "  "), " ", unpack("H*", "ab" ^ "  "), "\n";
printf "math: sqrt2=%.12f pi=%.12f e=%.12f ln10=%.12f sin1=%.12f cos1=%.12f\n", sqrt(2), 4 * atan2(1, 1), exp(1), log(10), sin(1), cos(1);
printf "abs: %d %s exp(-1)=%.10g\n", abs(-5), abs(-2.5), exp(-1);
print "float equality: 0.1+0.2==0.3 is ", (0.1 + 0.2 == 0.3 ? "true" : "false"), "; 0.1+0.2=", 0.1 + 0.2, " %.17g=", sprintf("%.17g", 0.1 + 0.2), "\n";
print "numeric strings: ", "10" + "20", " ", "3.5abc" * 1 // '', " ", "1e3" + 0, " ", "0x10" + 0, " ", " 42 " + 0, "\n";
print "increment magic: ", join(",", map { my $s = $_; $s++; $s } qw(a z Az zz a9 Zz 99)), "\n";
my $f = Math::BigInt->new(1);
$f *= $_ for 1 .. 50;
print "50! = $f\n";
print "2**200 = ", Math::BigInt->new(2)->bpow(200), "\n";
print "gcd(1071,462)=", Math::BigInt::bgcd(1071, 462), " lcm=", Math::BigInt::blcm(4, 6), "\n";
print "bigfloat sqrt(2) 40 digits: ", Math::BigFloat->new(2)->bsqrt(40), "\n";
print "bigfloat 1/7 30 digits: ", scalar(Math::BigFloat->new(1)->bdiv(7, 30)), "\n";
my ($q, $r) = Math::BigInt->new("123456789012345678901234567890")->bdiv(987654321);
print "big divmod: q=$q r=$r\n";
my $sum = 0; $sum += 1 / $_ for 1 .. 100_000;
printf "harmonic(100000)=%.12f\n", $sum;
my ($x, $y) = (1, 1); ($x, $y) = ($y, $x + $y) for 1 .. 90;
print "fib(92)=$y\n";
