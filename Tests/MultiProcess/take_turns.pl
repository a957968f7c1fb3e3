# Parent and child write to the same stdout in turns, handing the turn over through two pipes:
# the order of the lines is the program's, and the replay must interleave them the same way.
use strict; use warnings;
$| = 1;
pipe(my $to_child_r, my $to_child_w) or die;
pipe(my $to_parent_r, my $to_parent_w) or die;
$_->autoflush(1) for $to_child_w, $to_parent_w;
my $pid = fork // die;
if (!$pid) {
    close $to_child_w; close $to_parent_r;
    while (defined(my $turn = <$to_child_r>)) {
        chomp $turn;
        print "child line $turn\n";
        print $to_parent_w "$turn\n";
    }
    exit 0;
}
close $to_child_r; close $to_parent_w;
for my $n (1 .. 5) {
    print "parent line $n\n";
    print $to_child_w "$n\n";
    my $back = <$to_parent_r>;
}
close $to_child_w;
waitpid $pid, 0;
print "both done, child status $?\n";
