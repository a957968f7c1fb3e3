# Syscall-heavy (~126k syscalls): a 50 MB file read line by line, then 20k stat + open + close.
use strict;
use warnings;
my ($file, $dir) = @ARGV;
my ($lines, $bytes) = (0, 0);
open my $fh, '<', $file or die "$file: $!";
while (my $l = <$fh>) { $lines++; $bytes += length $l }
close $fh;
my $found = 0;
for my $i (1 .. 20_000) {
    my $p = "$dir/f" . ($i % 100);
    $found++ if -e $p;
    open my $g, '<', $p or die "$p: $!";
    close $g;
}
print "$lines $bytes $found\n";
