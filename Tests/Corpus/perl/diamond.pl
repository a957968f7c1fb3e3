# The <> operator over @ARGV files, $. and eof per file, $ARGV, plus in-place editing via $^I
# (which renames/rewrites files in the working directory and keeps a .bak copy).
use strict;
use warnings;

my %lines;
while (my $l = <>) {
    $lines{$ARGV}++;
    print "$ARGV:$.: $l" if $. <= 2;
} continue {
    close ARGV if eof;
}
print "per file: ", join(", ", map { "$_=$lines{$_}" } sort keys %lines), "\n";
open my $o, '>', 'editme.txt' or die; print $o "alpha 1\nbeta 2\ngamma 3\n"; close $o;
{
    local ($^I, @ARGV) = ('.bak', 'editme.txt');
    while (<>) { s/(\d+)/$1 * 100/e; print uc }
}
open my $i, '<', 'editme.txt' or die; print "edited: $_" while <$i>; close $i;
print "backup exists: ", (-e 'editme.txt.bak' ? "yes" : "no"), " size=", -s 'editme.txt.bak', "\n";
