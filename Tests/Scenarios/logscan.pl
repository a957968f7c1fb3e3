# question: the log line at which the third error is counted (input read line by line by perl)
# when: $errors >= 3
# print: $n;$errors
use strict;
use warnings;
my ($n, $errors) = (0, 0);
open(my $log, '<', 'app.log') or die "app.log: $!";
while (my $line = <$log>) {
    chomp $line;
    $n++;
    $errors++ if $line =~ /\bERROR\b/;
}
close $log;
my $size = -s 'app.log';
print "$errors errors in $n lines ($size bytes)\n";
