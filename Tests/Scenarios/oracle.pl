# The native oracle for the bug-hunting scenarios (Tests/Scenarios, PerlScenarioTests): loaded as
# perl's debugger (PERL5DB='BEGIN { require "oracle.pl" }' perl -d SCRIPT), its DB::DB runs before
# every statement, in the program's own scope (an eval in package DB sees the caller's lexicals,
# as perl5db's `p` does), and prints what a careful person with prints would find:
#   ORACLE_WHEN=EXPR    "HIT file:line" where EXPR becomes true (false before); statements where
#                        EXPR does not compile under strict vars (a variable not visible) are skipped
#   ORACLE_BREAK=F:L    "HIT file:line" at every statement on that line
#   ORACLE_PRINT=E1;E2  "  E = value" under each hit
#   ORACLE_PREVIOUS=F   with each hit, "  previous F:line": the last statement before it in file F
#   ORACLE_ONLY=F       evaluate ORACLE_WHEN only at statements in file F (when it calls into
#                        modules, e.g. DBI, that must not run inside themselves)
# Output goes to $ORACLE_OUT. Revenant's answers are checked against these.
package DB;
use strict;
require strict;
require warnings;
my ($when, $break, $print, $prevfile, $only) = @ENV{qw(ORACLE_WHEN ORACLE_BREAK ORACLE_PRINT ORACLE_PREVIOUS ORACLE_ONLY)};
open(my $out, '>', $ENV{ORACLE_OUT}) or die "oracle: $ENV{ORACLE_OUT}: $!";
select((select($out), $| = 1)[0]);
my ($before, $previous) = (0, undef);
our $inside = 0;

sub DB {
    my ($pkg, $file, $line) = caller;
    $DB::single = 1;
    return if $inside;
    local $inside = 1;
    local ($@, $!, $?, $_);
    my $hit;
    if (defined $when && (!defined $only || $file =~ /(^|\/)\Q$only\E$/)) {
        my $v = eval "no warnings; use strict 'vars'; package $pkg; ($when) ? 1 : 0";
        if (defined $v) {
            $hit = $v && !$before && (!defined $break || "$file:$line" =~ /(^|\/)\Q$break\E$/);
            $before = $v;
        }
    }
    $hit = 1 if !defined $when && defined $break && "$file:$line" =~ /(^|\/)\Q$break\E$/;
    if ($hit) {
        print $out "HIT $file:$line\n";
        print $out "  previous $previous\n" if defined $prevfile && defined $previous;
        for my $e (split /;/, $print // '') {
            my $v = eval "no warnings; package $pkg; $e";
            print $out "  $e = ", (defined $v ? $v : 'undef'), "\n";
        }
    }
    $previous = "$file:$line" if defined $prevfile && $file =~ /(^|\/)\Q$prevfile\E$/;
}

1;
