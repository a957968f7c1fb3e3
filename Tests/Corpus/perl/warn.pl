# warn and STDERR: warn with and without newline, warnings pragma output, $SIG{__WARN__},
# interleaved STDOUT/STDERR, printf STDERR.
use strict;
use warnings;

print "stdout 1\n";
warn "plain warning with newline\n";
warn "warning without newline";
print STDERR "direct to STDERR\n";
printf STDERR "printf to STDERR: %05.1f\n", 3.14159;
my $undef;
my $x = "value: " . $undef;
my $n = "12abc" + 1;
print "n=$n\n";
{
    local $SIG{__WARN__} = sub { print "captured warning: $_[0]" };
    warn "this goes to the handler\n";
    my $y = 1 + "zz";
}
warn "after local handler restored\n";
print "stdout 2\n";
syswrite STDERR, "syswrite to fd 2\n";
print STDOUT "stdout 3\n";
