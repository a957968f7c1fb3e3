# CPU-bound and statement-heavy (~2 s natively): loops, hashes, string ops, sub calls, regexes.
use strict;
use warnings;
my $n = shift // 400_000;
my (%h, @a, $s);
sub mix { my ($x, $y) = @_; return ($x * 31 + $y) % 1_000_003 }
for my $i (1 .. $n) {
    my $k = "k" . ($i % 5000);
    $h{$k} += mix($i, length $k);
    push @a, $i if $i % 7 == 0;
    $s .= chr(97 + $i % 26);
    if ($s =~ /(abc|xyz)$/) { $h{match}++ }
    $s = substr($s, -50) if length $s > 100;
}
my $sum = 0;
$sum += $_ for @a;
print scalar(keys %h), " $sum ", $h{match} // 0, "\n";
