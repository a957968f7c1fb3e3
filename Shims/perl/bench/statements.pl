# Statement-heavy benchmark for the Revenant Perl shim: loops, hashes, string ops, sub calls,
# regexes. Deterministic output. Compare, e.g.:
#   valgrind --tool=cachegrind --cache-sim=no perl bench/statements.pl
#   REVENANT_SHIM_LOG=/dev/null valgrind --tool=cachegrind --cache-sim=no \
#       perl -I OUT/lib -MRevenant::Shim bench/statements.pl
use strict;
use warnings;

my $n = $ARGV[0] // 1_000_000;

sub classify {
    my ($w) = @_;
    return 'num' if $w =~ /^\d+$/;
    return 'upper' if $w =~ /^[A-Z]/;
    return 'word';
}

sub mix {
    my ($a, $b) = @_;
    my $h = ($a * 31 + $b) % 1_000_003;
    $h ^= ($h >> 3);
    return $h;
}

my %count;
my %bucket;
my $acc = 0;
my $text = '';
my @words = qw(alpha Beta 42 gamma Delta 7 epsilon zeta 1001 Eta theta);
for my $i (1 .. $n) {
    my $w = $words[$i % @words];
    my $kind = classify($w);
    $count{$kind}++;
    $acc = mix($acc, $i);
    my $key = $kind . ($i % 17);
    $bucket{$key} += length $w;
    if ($i % 1000 == 0) {
        $text .= substr(uc $w, 0, 2);
        $text = substr(reverse($text), 0, 20) if length($text) > 40;
    }
    next if $i % 3;
    my $s = join '-', $w, $i % 97;
    $s =~ s/(\d+)/<$1>/;
    $acc += length $s;
}
my @top = (sort { $bucket{$b} <=> $bucket{$a} || $a cmp $b } keys %bucket)[0 .. 4];
print "count: ", join(' ', map { "$_=$count{$_}" } sort keys %count), "\n";
print "acc: $acc\n";
print "top: @top\n";
print "text: $text\n";
