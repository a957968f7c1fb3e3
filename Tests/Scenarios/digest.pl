# question: the first file whose MD5 (computed by XS code reading the file itself) starts with a digit
# when: defined $sum && $sum =~ /^[0-9]/
# print: $name;$sum
use strict;
use warnings;
use Digest::MD5;
my @names = map { "data$_.txt" } 1 .. 6;
my ($name, $sum);
for my $n (@names) {
    open(my $fh, '<', $n) or die "$n: $!";
    binmode $fh;
    my $md5 = Digest::MD5->new;
    $md5->addfile($fh);
    $name = $n;
    $sum = $md5->hexdigest;
    close $fh;
}
print "last $name $sum\n";
