# local $/ slurp (whole file, paragraph mode, fixed-size records), heredocs of all kinds,
# string repetition and list repetition.
use strict;
use warnings;

my $all = do { local $/; open my $fh, '<', 'words.txt' or die "words.txt: $!"; <$fh> };
print "slurped length=", length($all), " lines=", ($all =~ tr/\n//), "\n";
{
    open my $fh, '<', 'words.txt' or die;
    local $/ = \64;
    my @recs = <$fh>;
    print "64-byte records=", scalar(@recs), " last length=", length($recs[-1]), "\n";
}
{
    open my $fh, '<', 'words.txt' or die;
    local $/ = "";
    my @paras = <$fh>;
    print "paragraphs=", scalar(@paras), "\n";
}
{
    open my $fh, '<', 'words.txt' or die;
    local $/ = ",";
    my $n = () = <$fh>;
    print "comma-separated records=$n\n";
}
my $name = "Revenant";
my @items = qw(alpha beta gamma);
print <<"EOT";
Interpolated heredoc for $name
  items: @items
  expr: @{[ scalar @items ]} items, ${\ uc $name}
EOT
print <<'EOT';
Literal heredoc: $name @items \n stays as is
EOT
print <<~EOT;
    Indented heredoc (<<~) strips common leading whitespace
      this line keeps two extra spaces
    last line for $name
    EOT
print lc(<<A) . uc(<<B);
FIRST HEREDOC
A
second heredoc
B
my $sep = "=" x 40;
print "$sep\n";
print "-" x 10, "|", "ab" x 5, "|", "x" x 0, "|", "y" x -1, "|\n";
my @rep = (1, 2) x 3;
print "list repetition: @rep\n";
my @grid = map { [ (0) x 5 ] } 1 .. 3;
$grid[1][2] = 9;
print join("\n", map { join(" ", @$_) } @grid), "\n";
my $big = "abc" x 100_000;
print "big repeated length=", length($big), " count of 'ca'=", scalar(() = $big =~ /ca/g), "\n";
