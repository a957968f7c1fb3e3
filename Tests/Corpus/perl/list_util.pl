# List::Util and Scalar::Util: sum, max, min, first, reduce, any/all/none, uniq, pairs, shuffle with fixed srand.
use strict;
use warnings;
use List::Util qw(sum sum0 max min maxstr minstr first reduce any all none uniq uniqnum pairs pairkeys pairvalues shuffle product head tail zip);
use Scalar::Util qw(blessed reftype looks_like_number weaken dualvar);

my @n = (5, 3, 9, 1, 7, 3, 9, 2);
print "sum=", sum(@n), " sum0()=", sum0(), " max=", max(@n), " min=", min(@n), " product=", product(1 .. 10), "\n";
print "maxstr=", maxstr(qw(apple pear zebra mango)), " minstr=", minstr(qw(apple pear zebra mango)), "\n";
print "first >5: ", first { $_ > 5 } @n; print "\n";
print "reduce concat: ", reduce { "$a-$b" } @n; print "\n";
print "reduce max: ", reduce { $a > $b ? $a : $b } @n; print "\n";
print "any>8: ", (any { $_ > 8 } @n) ? 1 : 0, " all>0: ", (all { $_ > 0 } @n) ? 1 : 0, " none>100: ", (none { $_ > 100 } @n) ? 1 : 0, "\n";
print "uniq: @{[ uniq @n ]} uniqnum: @{[ uniqnum 1, 1.0, '1', 2, '2.0' ]}\n";
my @kv = (a => 1, b => 2, c => 3);
print "pairs: ", join(" ", map { "$_->[0]:$_->[1]" } pairs @kv), " keys=@{[pairkeys @kv]} values=@{[pairvalues @kv]}\n";
print "head 3: @{[ head 3, @n ]} tail 2: @{[ tail 2, @n ]}\n";
print "zip: ", join(" ", map { join("", map { $_ // '-' } @$_) } zip [1, 2, 3], ['a', 'b']), "\n";
srand(42);
my @sh = shuffle(1 .. 20);
print "shuffle(srand 42): @sh\n";
srand(42);
my @sh2 = shuffle(1 .. 20);
print "same again: ", ("@sh" eq "@sh2" ? "yes" : "no"), "\n";
print "rand after srand(7): ", do { srand(7); join(",", map { int(rand(1000)) } 1 .. 10) }, "\n";

my $obj = bless {}, 'My::Class';
print "blessed=", blessed($obj), " reftype=", reftype($obj), " blessed(plain)=", (defined blessed({}) ? "def" : "undef"), "\n";
print "looks_like_number: ", join(",", map { looks_like_number($_) ? 1 : 0 } 1, "1e5", "abc", "0x10", " 12 ", "Inf", ""), "\n";
my $dv = dualvar(5, "five");
print "dualvar: num=", $dv + 0, " str=$dv\n";
my $strong = { name => 'node' };
my $weak = $strong; weaken($weak);
undef $strong;
print "weak ref after undef: ", (defined $weak ? "alive" : "gone"), "\n";
