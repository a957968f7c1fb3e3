# @ARGV handling: count, quoting, empty args, spaces, special characters, Getopt-style parsing by hand.
use strict;
use warnings;

printf "argc=%d\n", scalar @ARGV;
for my $i (0 .. $#ARGV) {
    my $a = $ARGV[$i];
    printf "argv[%d] len=%d [%s]\n", $i, length $a, $a;
}
my (%opt, @rest);
while (@ARGV) {
    my $a = shift @ARGV;
    if ($a eq '--') { push @rest, @ARGV; last }
    elsif ($a =~ /^--(\w[\w-]*)=(.*)$/s) { $opt{$1} = $2 }
    elsif ($a =~ /^--(\w[\w-]*)$/) { $opt{$1} = 1 }
    else { push @rest, $a }
}
print "opt $_=$opt{$_}\n" for sort keys %opt;
print "rest: ", join("|", @rest), "\n";
