# %ENV: print specific variables set by the harness (.env), never the whole environment.
use strict;
use warnings;

for my $k (qw(REVENANT_GREETING REVENANT_NUMBER REVENANT_EMPTY REVENANT_SPACES)) {
    if (exists $ENV{$k}) { print "$k=[$ENV{$k}] len=", length($ENV{$k}), "\n" }
    else { print "$k is not set\n" }
}
print "REVENANT_UNSET_VARIABLE is ", (exists $ENV{REVENANT_UNSET_VARIABLE} ? "set" : "not set"), "\n";
print "number doubled: ", $ENV{REVENANT_NUMBER} * 2, "\n";
$ENV{REVENANT_NEW} = "set in script";
print "new: $ENV{REVENANT_NEW}\n";
delete $ENV{REVENANT_GREETING};
print "after delete: ", (defined $ENV{REVENANT_GREETING} ? "defined" : "undef"), "\n";
my @mine = sort grep { /^REVENANT_(?:GREETING|NUMBER|EMPTY|SPACES|NEW)$/ } keys %ENV;
print "mine: @mine\n";
