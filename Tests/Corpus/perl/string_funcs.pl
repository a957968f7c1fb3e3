# String builtins: index/rindex, substr (4-arg and lvalue), lc/uc/lcfirst/ucfirst, reverse, join,
# sprintf padding, repeat, chop/chomp, ord/chr, lc on unicode, vec, quotemeta, sprintf with lists.
use strict;
use warnings;
use feature qw(fc);

my $s = "The quick brown fox jumps over the lazy dog";
print "index fox=", index($s, "fox"), " rindex o=", rindex($s, "o"), " index missing=", index($s, "cat"), " index from 20=", index($s, "o", 20), "\n";
print "substr(4,5)=", substr($s, 4, 5), " substr(-3)=", substr($s, -3), "\n";
my $t = $s;
substr($t, 4, 5, "slow");
substr($t, 0, 3) = "A";
print "modified: $t\n";
print "case: ", uc("hello"), " ", lc("WORLD"), " ", ucfirst("perl"), " ", lcfirst("PERL"), " \\U: \Uinterp\E \\L: \LOLATED\E\n";
print "reverse: ", scalar reverse("stressed"), " join: ", join("-", 'a' .. 'e'), "\n";
my $line = "text with newline\n";
chomp(my $c = $line);
my $ch = "abc"; chop $ch;
print "chomp: [$c] chop: [$ch]\n";
print "ord/chr: ", ord("A"), " ", chr(97), " ", join(",", map { ord } split //, "Perl"), "\n";
print "lc/uc unicode: ", join(" ", map { sprintf "U+%04X", ord } split //, uc("\x{e9}\x{df}")), "\n";
print "quotemeta: ", quotemeta("a.b*c?(d)"), "\n";
my $vec = '';
vec($vec, $_, 1) = 1 for 1, 3, 5, 7, 9;
print "vec bits: ", unpack("b*", $vec), " vec(…,0,8)=", vec($vec, 0, 8), "\n";
print "lengths: ", join(",", map { length } "", "a", "abc", "\x{263a}"), "\n";
print "repeat/join: ", join("+", ("ab") x 3), "\n";
print "sprintf list: ", sprintf("%s=%d;" x 3, a => 1, b => 2, c => 3), "\n";
print "tr count: ", ($s =~ tr/a-z//), " tr return with r: ", ($s =~ tr/a-z/A-Z/r), "\n";
print "string compare: ", join(",", "abc" lt "abd" ? 1 : 0, "B" cmp "a", "10" <=> "9", "10" cmp "9"), "\n";
print "x=: ", do { my $z = "ab"; $z x= 3; $z }, " .=: ", do { my $z = "a"; $z .= "b" for 1 .. 3; $z }, "\n";
my @w = split ' ', $s;
print "words=", scalar(@w), " longest=", (sort { length($b) <=> length($a) || $a cmp $b } @w)[0], " capitalised: ", join(" ", map { ucfirst lc } @w), "\n";
print "sprintf center: [", center("mid", 11), "]\n";
sub center { my ($str, $w) = @_; my $l = int(($w - length $str) / 2); return (" " x $l) . $str . (" " x ($w - length($str) - $l)) }
print "lc eq fc: ", (fc("HeLLo") eq fc("hEllO") ? "yes" : "no"), "\n";
printf "numeric string formats: %s %s %s %s\n", 1e21, 1e15, 0.000001, 1/7;
print "ranges: ", join("", 'aa' .. 'ad'), " ", join(",", reverse 1 .. 5), "\n";
