# Objects: packages, bless, inheritance with parent/SUPER, accessors, AUTOLOAD, DESTROY order,
# can/isa/ref, overloading, local, wantarray, string eval, exception objects.
use strict;
use warnings;

package Shape {
    my $count = 0;
    sub new { my ($class, %a) = @_; my $self = bless { name => $a{name} // 'shape', %a }, $class; $count++; return $self }
    sub area { 0 }
    sub describe { my $s = shift; sprintf("%s %s with area %.2f", ref($s), $s->{name}, $s->area) }
    sub count { $count }
    sub DESTROY { my $s = shift; print "DESTROY $s->{name}\n" }
}
package Circle {
    use parent -norequire, 'Shape';
    sub area { my $s = shift; 3.14159265358979 * $s->{r} ** 2 }
    sub describe { my $s = shift; $s->SUPER::describe() . " (r=$s->{r})" }
}
package Rect {
    use parent -norequire, 'Shape';
    sub area { $_[0]{w} * $_[0]{h} }
    our $AUTOLOAD;
    sub AUTOLOAD { my $s = shift; (my $n = $AUTOLOAD) =~ s/.*:://; return if $n eq 'DESTROY'; die "no method $n\n" unless exists $s->{$n}; $s->{$n} = shift if @_; $s->{$n} }
}
package Vec2 {
    use overload '+' => \&add, '*' => \&mul, '""' => \&str, '==' => sub { $_[0]{x} == $_[1]{x} && $_[0]{y} == $_[1]{y} }, 'bool' => sub { 1 };
    sub new { my ($c, $x, $y) = @_; bless { x => $x, y => $y }, $c }
    sub add { Vec2->new($_[0]{x} + $_[1]{x}, $_[0]{y} + $_[1]{y}) }
    sub mul { my ($a, $b) = @_; ref $b ? $a->{x} * $b->{x} + $a->{y} * $b->{y} : Vec2->new($a->{x} * $b, $a->{y} * $b) }
    sub str { "($_[0]{x}, $_[0]{y})" }
}
package MyError {
    sub new { my ($c, %a) = @_; bless {%a}, $c }
    sub throw { my $c = shift; die $c->new(@_) }
    sub message { $_[0]{message} }
}
package main;

{
    my @shapes = (Circle->new(name => 'c1', r => 2), Rect->new(name => 'r1', w => 3, h => 4), Shape->new);
    print $_->describe, "\n" for @shapes;
    print "count=", Shape->count, "\n";
    my $r = $shapes[1];
    print "autoload w=", $r->w, " set h=", $r->h(10), " area=", $r->area, "\n";
    eval { $r->colour }; print "autoload error: $@";
    print "isa: ", ($r->isa('Shape') ? 1 : 0), ($r->isa('Circle') ? 1 : 0), " can area: ", ($r->can('area') ? 1 : 0), " can fly: ", ($r->can('fly') ? 1 : 0), "\n";
    print "leaving scope\n";
}
print "after scope\n";
my $v = Vec2->new(1, 2) + Vec2->new(3, 4);
print "vec: $v scaled: ", $v * 2, " dot: ", $v * Vec2->new(1, 1), " eq: ", ($v == Vec2->new(4, 6) ? "yes" : "no"), "\n";
eval { MyError->throw(message => "custom failure", code => 7) };
if (ref $@ && $@->isa('MyError')) { print "caught MyError: ", $@->message, " code=$@->{code}\n" }
our $global = "outer";
sub show { $global }
sub test_local { local $global = "inner"; show() }
print "local: ", test_local(), " then ", show(), "\n";
sub ctx { wantarray ? "list" : defined(wantarray) ? "scalar" : "void" }
my @l = ctx(); my $s = ctx();
print "wantarray: $l[0] $s\n";
my $code = 'my $x = 6; $x * 7';
print "string eval: ", eval($code), "\n";
eval "1 + (2"; print "syntax error caught: ", ($@ ? "yes" : "no"), "\n";
my $res = eval { die "with line\n"; 1 }; print "eval result undef: ", (defined $res ? "no" : "yes"), " \$\@=$@";
print "ref types: ", join(",", map { ref } \1, [], {}, sub {}, \\1, qr/x/, $v), "\n";
