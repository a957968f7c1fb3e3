# format/write report generation with a page header, $~ and $^ selection, and select() of a file handle.
use strict;
use warnings;

our ($name, $dept, $salary, $total);
format STDOUT_TOP =
Name       Department      Salary
---------- ------------ ----------
.
format STDOUT =
@<<<<<<<<< @<<<<<<<<<<< @>>>>>>>>>
$name,     $dept,       $salary
.
format SUMMARY =
==================================
Total:                  @>>>>>>>>>
$total
.
open my $fh, '<', 'people.csv' or die "people.csv: $!";
<$fh>;
$total = 0;
while (my $line = <$fh>) {
    chomp $line;
    my @f = split /,/, $line, -1;
    ($name, $dept, $salary) = ($f[1], $f[2], $f[3] eq '' ? 'n/a' : $f[3]);
    $total += $f[3] || 0;
    write;
}
close $fh;
$~ = 'SUMMARY';
write;
open my $rep, '>', 'report.txt' or die;
my $old = select $rep;
$| = 1;
print "report written via select\n";
printf "%-10s %s\n", $_, "*" x $_ for 1 .. 5;
select $old;
close $rep;
print "report.txt size=", -s 'report.txt', "\n";
my $str = swrite("@|||||||||| @##.##", "centered", 3.14159);
print "$str\n";
sub swrite { my $fmt = shift; $^A = ""; formline($fmt, @_); return $^A }
