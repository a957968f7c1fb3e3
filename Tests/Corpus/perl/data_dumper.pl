# Data::Dumper with Sortkeys, Indent variants, Terse, Useqq, nested and cyclic structures.
use strict;
use warnings;
use Data::Dumper;
$Data::Dumper::Sortkeys = 1;

my $data = {
    name => "revenant",
    list => [1, 2.5, "three", undef, [4, [5, [6]]]],
    hash => { z => 26, a => 1, m => { inner => "yes", empty => {} } },
    code_free => \"scalar ref",
    num_str => "007",
    neg => -42,
    float => 0.1 + 0.2,
    special => "tab\there\nnewline \$dollar \@at",
};
print Dumper($data);
{
    local $Data::Dumper::Indent = 1;
    local $Data::Dumper::Terse = 1;
    print Dumper([map { { id => $_, sq => $_ * $_ } } 1 .. 3]);
}
{
    local $Data::Dumper::Indent = 0;
    local $Data::Dumper::Useqq = 1;
    print Dumper("bin\x00\x01\xff", "unicode \x{263a}"), "\n";
}
my $cyc = { name => 'loop' };
$cyc->{self} = $cyc;
my @arr = (1, 2);
push @arr, \@arr;
print Data::Dumper->Dump([$cyc, \@arr], [qw(cyc arr)]);
local $Data::Dumper::Sortkeys = sub { [reverse sort keys %{$_[0]}] };
print Dumper({ a => 1, b => 2, c => 3 });
my $obj = bless { x => 1, y => [2] }, 'Point';
local $Data::Dumper::Deepcopy = 1;
print Dumper($obj);
