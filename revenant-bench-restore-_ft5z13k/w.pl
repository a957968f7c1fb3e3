my $block = "x" x 10_000; my @f;
for my $i (0 .. 99) { open($f[$i], '>>', sprintf("out/f%02d", $i)) or die }
for my $n (0 .. 9_999) {
    syswrite($f[$n % 100], $block) == 10_000 or die;
}
