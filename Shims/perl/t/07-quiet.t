# Quiet (REVENANT_SHIM_QUIET=1 natively, REVENANT_CHANNEL_QUIET in a recording VM): no statement
# record, everything else as when every record is written — the same output, the same records
# naming files, contexts and strings, the same op results — and the variable leaves no trace.
use strict;
use warnings;
use Test::More;
use Data::Dumper ();
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(decode_file run_perl);

my $dir = tempdir(CLEANUP => 1);
open my $m, '>', "$dir/Mod.pm" or die;
print $m "package Mod; sub twice { my \$x = shift; return 2 * \$x } 1;\n";
close $m;
open my $h, '>', "$dir/s.pl" or die;
print $h <<'PL';
use lib '.';
use Mod;
my $t = 0;
for my $i (1 .. 50) { $t += Mod::twice($i) }
my $e = eval "1 +\n 2";
#line 7 "renamed.pl"
print "t=$t e=$e quiet=", (exists $ENV{REVENANT_SHIM_QUIET} ? "seen" : "unseen"), "\n";
my @s = stat 's.pl';
print "size ", ($s[7] > 0 ? "ok" : "none"), "\n";
PL
close $h;

my %seed = (PERL_HASH_SEED => '0', PERL_PERTURB_KEYS => '0');  # the same HASH record in both logs
my %o = (args => ['s.pl'], dir => $dir);
my $plain = run_perl(%o, shim => 0, env => {%seed});
my $full = run_perl(%o, shim => 1, log => "$dir/full.log", env => {%seed});
my $quiet = run_perl(%o, shim => 1, log => "$dir/quiet.log", env => { %seed, REVENANT_SHIM_QUIET => '1' });
is($plain->{out}, "t=2550 e=3 quiet=unseen\nsize ok\n", 'the script ran');
is($quiet->{out}, $plain->{out}, 'quiet: stdout as without the shim (the variable is not in %ENV)');
is($quiet->{err}, $plain->{err}, 'quiet: stderr');
is($quiet->{status}, $plain->{status}, 'quiet: exit status');

my @full = decode_file("$dir/full.log");
my @quiet = decode_file("$dir/quiet.log");
my $statements = sub { scalar grep { $_->{tag} eq 'STMT' } @_ };  # a one-byte delta reads as one too
ok($statements->(@full) > 100, 'every record: statements logged');
is($statements->(@quiet), 0, 'quiet: no statement record');
my $rest = sub {
    local $Data::Dumper::Sortkeys = 1;
    local $Data::Dumper::Indent = 0;
    join "\n", map { my %r = %$_; delete $r{offset}; Data::Dumper::Dumper(\%r) }
        grep { $_->{tag} ne 'STMT' } @_;
};
is($rest->(@quiet), $rest->(@full), 'quiet: every other record the same, in the same order (files, contexts, ops)');
ok((grep { $_->{tag} eq 'FILE' && $_->{path} eq 'renamed.pl' } @quiet),
    'quiet: a file seen first by a statement is named (and digested)');
done_testing;
