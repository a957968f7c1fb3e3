# Regular expressions: captures, named captures, /g in list and scalar context, pos(),
# substitutions with /e and /r, tr///, split with limits, lookaround, /x, /i, /m, /s.
use strict;
use warnings;

my $text = do { local $/; open my $fh, '<', 'words.txt' or die "words.txt: $!"; <$fh> };

my @caps = grep { length } $text =~ /\b([A-Z][a-z]+)\b/g;
print "capitalised words: ", scalar(@caps), " first=$caps[0] last=$caps[-1]\n";

if ("2024-02-29T13:45:07Z" =~ /^(?<y>\d{4})-(?<m>\d\d)-(?<d>\d\d)T(?<H>\d\d):(?<M>\d\d):(?<S>\d\d)Z$/) {
    print join(" ", map { "$_=$+{$_}" } qw(y m d H M S)), "\n";
}

my $s = "aaa bbb ccc ddd";
while ($s =~ /(\w+)/g) { printf "word %s ends at pos %d\n", $1, pos($s) }

(my $copy = $text) =~ s/\bto\b/TO/gi;
my $count = () = $copy =~ /\bTO\b/g;
print "replaced 'to' $count times\n";
print "sum via /e: ", "1+2 3+4 10+20" =~ s/(\d+)\+(\d+)/$1+$2/ger, "\n";
my $tr = "Hello World";
(my $rot = $tr) =~ tr/A-Za-z/N-ZA-Mn-za-m/;
my $vowels = ($tr =~ tr/aeiouAEIOU//);
print "rot13: $rot vowels=$vowels\n";

print "split limit: ", join("|", split(/,/, "a,b,c,d,e", 3)), "\n";
print "split keep: ", join("|", split(/(-)/, "1-2-3")), "\n";
print "split ws: ", join("|", split(' ', "  leading and   trailing  ")), "\n";
print "lookahead: ", join(",", "price: 100 USD, 200 EUR, 300 USD" =~ /(\d+)(?= USD)/g), "\n";
print "lookbehind: ", join(",", "a1 b2 c3 a4" =~ /(?<=a)(\d)/g), "\n";
my $re = qr/
    (\d{3})   # area
    [-.\s]?
    (\d{4})   # number
/x;
print "x-flag: $1/$2\n" if "call 555-1234 now" =~ $re;
my @m = ("line one\nline two\nthird line" =~ /^(\w+)/mg);
print "multiline starts: @m\n";
print "dotall: ", ("a\nb" =~ /a.b/s ? "match" : "no"), " / ", ("a\nb" =~ /a.b/ ? "match" : "no"), "\n";
my $nested = "f(a(b)c(d(e)))g";
my $bal; $bal = qr/\((?:[^()]++|(??{$bal}))*\)/;
print "balanced: $&\n" if $nested =~ $bal;
my %h = (apple => 3, banana => 5);
(my $tmpl = "I have {apple} apples and {banana} bananas and {cherry} cherries") =~ s/\{(\w+)\}/$h{$1} \/\/ '?'/ge;
print "$tmpl\n";
print "case-insensitive unicode-free: ", join(",", grep { /^t/i } split /\W+/, $text), "\n";
