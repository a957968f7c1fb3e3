# N children doing real work (a sum and a checksum each), their results read through a pipe.
use strict; use warnings;
my $n = shift // 50;
pipe(my $r, my $w) or die;
for my $k (1 .. $n) {
    my $pid = fork // die "fork: $!";
    next if $pid;
    close $r;
    my $s = 0;
    $s = ($s * 31 + $_ * $k) % 1000003 for 1 .. 200_000;
    syswrite $w, "$k $s\n";
    exit 0;
}
close $w;
my $lines = () = <$r>;
1 while wait > 0;
print "$lines results\n";
