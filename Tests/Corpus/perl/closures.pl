# Closures: counters, generators, closures capturing loop variables, recursion via closures,
# currying, function composition, and a dispatch table.
use strict;
use warnings;

sub make_counter { my ($n, $step) = @_; $step //= 1; return { inc => sub { $n += $step }, get => sub { $n }, reset => sub { $n = 0 } } }
my $c1 = make_counter(10);
my $c2 = make_counter(100, 5);
$c1->{inc}->() for 1 .. 3;
$c2->{inc}->() for 1 .. 2;
print "c1=", $c1->{get}->(), " c2=", $c2->{get}->(), "\n";
$c1->{reset}->();
print "c1 after reset=", $c1->{get}->(), " c2 unchanged=", $c2->{get}->(), "\n";

my @subs;
for my $i (1 .. 5) { push @subs, sub { $i * $i } }
print "loop closures: ", join(",", map { $_->() } @subs), "\n";

sub fib_gen { my ($a, $b) = (0, 1); return sub { my $r = $a; ($a, $b) = ($b, $a + $b); return $r } }
my $fib = fib_gen();
print "fib: ", join(" ", map { $fib->() } 1 .. 20), "\n";

my $fact; $fact = sub { my $n = shift; $n <= 1 ? 1 : $n * $fact->($n - 1) };
print "fact(20)=", $fact->(20), "\n";
use feature 'current_sub';
my $fact2 = sub { my $n = shift; $n <= 1 ? 1 : $n * __SUB__->($n - 1) };
print "fact2(15)=", $fact2->(15), "\n";

sub curry { my $f = shift; my @pre = @_; return sub { $f->(@pre, @_) } }
my $add3 = curry(sub { my $t = 0; $t += $_ for @_; $t }, 1, 2);
print "curried: ", $add3->(3), " ", $add3->(10, 20), "\n";
sub compose { my @f = reverse @_; return sub { my @a = @_; @a = $_->(@a) for @f; wantarray ? @a : $a[0] } }
my $inc_then_double = compose(sub { $_[0] * 2 }, sub { $_[0] + 1 });
print "composed: ", join(",", map { $inc_then_double->($_) } 1 .. 5), "\n";

my %dispatch = (
    add => sub { $_[0] + $_[1] },
    sub => sub { $_[0] - $_[1] },
    mul => sub { $_[0] * $_[1] },
    div => sub { $_[1] ? $_[0] / $_[1] : 'NaN' },
);
for my $op (sort keys %dispatch) { print "$op(12,4)=", $dispatch{$op}->(12, 4), "\n" }

my @log;
{
    my $private = "secret";
    *reveal = sub { push @log, "revealed"; return $private };
}
our $unused;
print "reveal: ", reveal(), " log=@log\n";

my $memo = do { my %cache; sub { my $n = shift; $cache{$n} //= $n < 2 ? $n : __SUB__->($n - 1) + __SUB__->($n - 2) } };
print "memo fib(90)=", $memo->(90), "\n";
my @sorted = sort { $a->() <=> $b->() } map { my $v = $_; sub { (7 * $v) % 11 } } 1 .. 10;
print "sorted closures: ", join(",", map { $_->() } @sorted), "\n";
