# 200 children, each exits with its number; a child perl runs a script of its own.
use strict; use warnings;
$| = 1;
my @kids;
for my $n (1 .. 200) {
    my $pid = fork // die "fork $n: $!";
    exit($n % 256) if $pid == 0;
    push @kids, $pid;
}
my $sum = 0;
for (@kids) { waitpid($_, 0); $sum += $? >> 8 }
print "200 children, exit codes sum $sum\n";
open my $f, '>', 'child.pl' or die; print $f 'print "child perl: @ARGV\n"; exit 2;'; close $f;
system($^X, 'child.pl', 'a', 'b');
print "child perl exited ", $? >> 8, "\n";
