# The statement sequence of a small script: loops, subs, a required module, a string eval.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(decode_file statements run_perl slurp);

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/lib" or die;
sub spew { my ($f, $d) = @_; open my $h, '>', $f or die "$f: $!"; print $h $d; close $h }
spew("$dir/script.pl", <<'PL');
use lib q(lib);
use Foo;
my $s = 0;
for my $i (1..2) {
    $s += Foo::twice($i);
}
my $r = eval "1 +\n 2;\n";
print "$s $r\n";
PL
spew("$dir/lib/Foo.pm", <<'PM');
package Foo;
sub twice {
    my $x = shift;
    return 2 * $x;
}
1;
PM

my $log = "$dir/log";
my $r = run_perl(shim => 1, log => $log, args => ['script.pl'], dir => $dir);
is($r->{out}, "6 3\n", 'output');
is($r->{status}, 0, 'status');
my @recs = decode_file($log);
is($recs[0]{tag}, 'START', 'starts with START');
is_deeply([map { $_->{tag} } @recs[1..3]], [qw(ENV ARGV HASH)], 'then ENV ARGV HASH');
like($recs[0]{interp}, qr/^perl 5\.\d+\.\d+$/, 'interpreter');
is($recs[0]{zero}, 'script.pl', '$0');

my @st = statements(qr/^(?:script\.pl|lib\/Foo\.pm|\(eval \d+\))$/, @recs);
is_deeply(\@st, [
    'script.pl:1:main::BEGIN', 'script.pl:1:main::BEGIN',           # use lib: require, import
    'script.pl:2:main::BEGIN', 'lib/Foo.pm:6', 'script.pl:2:main::BEGIN',  # use Foo
    'script.pl:3', 'script.pl:4',
    'script.pl:5', 'lib/Foo.pm:3:Foo::twice', 'lib/Foo.pm:4:Foo::twice',
    'script.pl:5', 'lib/Foo.pm:3:Foo::twice', 'lib/Foo.pm:4:Foo::twice',
    'script.pl:7', '(eval 1):1', 'script.pl:8',
], 'statement sequence') or diag explain \@st;

# packages
my ($foo) = grep { $_->{tag} eq 'STMT' && $_->{file} eq 'lib/Foo.pm' } @recs;
is($foo->{package}, 'Foo', 'package of a module statement');

# files: digests of real files, none for evals
my %files = map { $_->{path} => $_ } grep { $_->{tag} eq 'FILE' } @recs;
require Digest::SHA;
is($files{'script.pl'}{digest}, Digest::SHA::sha256_hex(slurp("$dir/script.pl")), 'script digest');
is($files{'lib/Foo.pm'}{digest}, Digest::SHA::sha256_hex(slurp("$dir/lib/Foo.pm")), 'module digest');
is($files{'(eval 1)'}{kind}, 0, 'no digest for an eval');

# the module's statements are inside the require bracket of 'use Foo'
my ($i) = grep { $recs[$_]{tag} eq 'STMT' && $recs[$_]{file} eq 'lib/Foo.pm' } 0 .. $#recs;
my $depth = 0;
for my $k (0 .. $i) {
    next unless ($recs[$k]{name} // '') eq 'require';
    $depth++ if $recs[$k]{tag} eq 'OP_BEGIN';
    $depth-- if $recs[$k]{tag} eq 'OP_END';
}
is($depth, 1, 'module statements nest inside require BEGIN/END');
my ($b, $e) = (0, 0);
for (@recs) { $b++ if $_->{tag} eq 'OP_BEGIN'; $e++ if $_->{tag} eq 'OP_END' }
is($b, $e, 'every OP_BEGIN has its OP_END');

# compact: within a context, deltas are one byte
my @delta = grep { $_->{tag} eq 'STMT' && $_->{delta} } @recs;
ok(@delta > 5, 'one-byte statement deltas used');

# a failing require inside eval and a die inside a required file keep brackets balanced
spew("$dir/lib/Bad.pm", "package Bad;\ndie qq(bad module\\n);\n1;\n");
spew("$dir/s2.pl", "use lib 'lib';\neval { require Nope }; print 'a:', (\$@ ? 1 : 0), qq(\\n);\n"
    . "eval { require Bad }; print 'b:', \$@;\nprint qq(end\\n);\n");
$r = run_perl(shim => 1, log => $log, args => ['s2.pl'], dir => $dir);
is($r->{out}, "a:1\nb:bad module\nCompilation failed in require at s2.pl line 3.\nend\n", 'failing requires');
@recs = decode_file($log);
($b, $e) = (0, 0);
for (@recs) { $b++ if $_->{tag} eq 'OP_BEGIN'; $e++ if $_->{tag} eq 'OP_END' }
is($b, $e, 'balanced brackets with dying requires');

done_testing;
