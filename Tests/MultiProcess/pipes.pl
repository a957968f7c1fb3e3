# Pipe opens both ways, a shell pipeline, a pipe between parent and child.
use strict; use warnings;
$| = 1;
open(my $to, '|-', 'sort -r') or die "pipe to: $!";
print $to "$_\n" for qw(b c a);
close $to;
print "sort status $?\n";
open(my $from, '-|', 'printf "x\ny\n"') or die;
my @l = <$from>;
close $from;
print "read ", scalar(@l), " lines\n";
print `printf 'b\\na\\nb\\nc\\nb\\na\\n' | sort | uniq -c | sort -rn | head -2`;
pipe(my $r, my $w) or die;
my $pid = fork // die;
if ($pid == 0) { close $r; print $w "through the pipe $_\n" for 1 .. 3; close $w; exit 0 }
close $w;
print "parent read: $_" while <$r>;
waitpid($pid, 0);
my $child = open(my $kid, '-|') // die "open -|: $!";
if ($child == 0) { print "from the child's stdout\n"; exit 0 }
print "parent got: ", scalar(<$kid>);
close $kid;
