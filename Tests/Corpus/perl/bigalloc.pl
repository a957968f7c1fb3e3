# Large allocation: a 200 MB string, modified and measured, then released; plus a big array.
use strict;
use warnings;

my $mb = 1024 * 1024;
my $s = "x" x (200 * $mb);
print "length=", length($s), "\n";
substr($s, 100 * $mb, 5) = "HELLO";
print "index HELLO=", index($s, "HELLO"), "\n";
print "count y=", ($s =~ tr/y//), " last char=", substr($s, -1), "\n";
undef $s;
my @a = (1) x 2_000_000;
my $t = 0; $t += $_ for @a;
print "array elements=", scalar(@a), " sum=$t\n";
my %h; $h{$_} = $_ * 2 for 1 .. 200_000;
print "hash keys=", scalar(keys %h), " h{12345}=$h{12345}\n";
