# A child reading and writing through two pipes (IPC::Open2): the parent feeds sort and reads its output.
use strict; use warnings;
use IPC::Open2;
$| = 1;
my $pid = open2(my $out, my $in, 'sort', '-r');
print $in "$_\n" for qw(pear apple fig banana);
close $in;
my @sorted = <$out>;
waitpid $pid, 0;
print "sorted: ", join(' ', map { chomp; $_ } @sorted), "\n";
print "sort exited ", $? >> 8, "\n";
