# wait for any child: children end in an order the parent sets (each waits for its turn on a pipe),
# and wait returns them in that order; wait with no child left is -1.
use strict; use warnings;
$| = 1;
my %name;
my @turns;
for my $n (1 .. 4) {
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if (!$pid) { close $w; <$r>; exit $n }
    close $r;
    $name{$pid} = "child $n";
    push @turns, $w;
}
for my $w (reverse @turns) {
    close $w;
    my $pid = wait;
    print "$name{$pid} ended with ", $? >> 8, "\n";
}
print "wait with none left: ", wait, "\n";
