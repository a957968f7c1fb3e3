# A shell pipeline read through a pipe open, and one written to: sort | uniq -c | sort -rn | head.
use strict; use warnings;
$| = 1;
open my $w, '>', 'words.txt' or die;
print $w "$_\n" for map { (qw(red green blue red red green yellow))[$_ % 7] } 0 .. 69;
close $w;
open my $p, '-|', 'sort words.txt | uniq -c | sort -rn | head -3' or die "pipeline: $!";
while (<$p>) { s/^\s+//; print "top: $_" }
close $p;
print "pipeline status $?\n";
open my $q, '|-', 'tr a-z A-Z | sed "s/^/shout: /"' or die;
print $q "quiet words\n";
close $q;
print "writer pipeline status $?\n";
unlink 'words.txt';
