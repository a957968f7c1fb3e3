# Deep recursion: 50000 levels (no warnings 'recursion'), mutual recursion, Ackermann, Hanoi.
use strict;
use warnings;
no warnings 'recursion';

sub depth { my $n = shift; return $n == 0 ? 0 : 1 + depth($n - 1) }
print "depth(50000)=", depth(50000), "\n";

sub sum_list { my ($first, @rest) = @_; return defined $first ? $first + sum_list(@rest) : 0 }
print "sum_list(1..2000)=", sum_list(1 .. 2000), "\n";

sub is_even { my $n = shift; $n == 0 ? 1 : is_odd($n - 1) }
sub is_odd  { my $n = shift; $n == 0 ? 0 : is_even($n - 1) }
print "is_even(30001)=", is_even(30001), " is_odd(30001)=", is_odd(30001), "\n";

sub ack { my ($m, $n) = @_; return $n + 1 if $m == 0; return ack($m - 1, 1) if $n == 0; return ack($m - 1, ack($m, $n - 1)) }
print "ack(2,3)=", ack(2, 3), " ack(3,3)=", ack(3, 3), "\n";

my @moves;
sub hanoi { my ($n, $f, $t, $v) = @_; return if $n == 0; hanoi($n - 1, $f, $v, $t); push @moves, "$f>$t"; hanoi($n - 1, $v, $t, $f) }
hanoi(12, 'A', 'C', 'B');
print "hanoi(12) moves=", scalar(@moves), " first=@moves[0..4] last=$moves[-1]\n";

# build and walk a deeply nested data structure
my $list;
$list = { value => $_, next => $list } for 1 .. 50000;
sub walk { my $node = shift; return 0 unless $node; return $node->{value} + walk($node->{next}) }
print "walk linked list sum=", walk($list), "\n";
sub perms { my ($done, @rest) = @_; return [@$done] unless @rest; return map { my @r = @rest; my ($x) = splice(@r, $_, 1); perms([@$done, $x], @r) } 0 .. $#rest }
my @p = perms([], 1 .. 6);
print "perms(6)=", scalar(@p), " last=@{$p[-1]}\n";
# free the long list iteratively to avoid deep recursion in destruction
while ($list) { my $next = $list->{next}; delete $list->{next}; $list = $next }
print "done\n";
