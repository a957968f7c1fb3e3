# The channel golden (ChannelTests.testNativeShimStreamMatchesTheGolden): deterministic
# statements, a sub, a string eval and ops whose results do not change between runs.
sub twice { my ($x) = @_; return $x * 2 }
my $sum = 0;
for my $i (1 .. 3) {
    $sum += twice($i);
}
my $e = eval "1 + 1";
my $exists = -e $0;
open my $self, '<', $0 or die;
my $first = <$self>;
my $ok = open my $none, '<', 'no-such-file';
my $seed = srand(42);
print "$sum $e $exists $seed\n";
