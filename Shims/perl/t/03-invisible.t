# The script sees the same %INC, @INC, %ENV and symbol table with and without the shim.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(decode_file run_perl shim_lib);

my $dir = tempdir(CLEANUP => 1);
open my $h, '>', "$dir/s.pl" or die;
print $h <<'PL';
print "INC $_=$INC{$_}\n" for sort keys %INC;
print "\@INC $_\n" for @INC;
print "ENV $_=$ENV{$_}\n" for sort keys %ENV;
print "main:: $_\n" for sort grep { !/^_</ && !/^(?:BEGIN|__ANON__)\z/ } keys %main::;  # any -MFoo leaves these two globs
print "ARGV @ARGV\n";
print "0 $0\n";
PL
close $h;

my $log = "$dir/log";
my $plain = run_perl(shim => 0, args => ['s.pl', 'a', 'b c'], dir => $dir);
my $shim = run_perl(shim => 1, log => $log, args => ['s.pl', 'a', 'b c'], dir => $dir);
is($shim->{err}, '', 'no stderr');
is($shim->{out}, $plain->{out}, '%INC, @INC, %ENV, %main:: and @ARGV identical (-I -M)')
    or diag "plain:\n$plain->{out}\nshim:\n$shim->{out}";
ok(-s $log, 'log written');

# the same when loaded through PERL5OPT/PERL5LIB only
my $lib = shim_lib();
my $env = run_perl(shim => 0, log => "$dir/log2", args => ['s.pl', 'a', 'b c'], dir => $dir,
                   env => { PERL5OPT => '-MRevenant::Shim', PERL5LIB => $lib });
is($env->{out}, $plain->{out}, 'identical when loaded via PERL5OPT/PERL5LIB');
ok(-s "$dir/log2", 'log written via PERL5OPT');

# ENV record: sorted, without REVENANT_SHIM_LOG; ARGV record
my @recs = decode_file($log);
my ($e) = grep { $_->{tag} eq 'ENV' } @recs;
my @keys = @{$e->{pairs}}[grep { $_ % 2 == 0 } 0 .. $#{$e->{pairs}}];
is_deeply(\@keys, [sort @keys], 'ENV sorted by key');
ok(!grep({ $_ eq 'REVENANT_SHIM_LOG' } @keys), 'ENV record without REVENANT_SHIM_LOG');
my %envrec = @{$e->{pairs}};
my %seen = map { /^ENV ([^=]*)=(.*)$/ ? ($1 => $2) : () } split /\n/, $plain->{out};
is_deeply(\%envrec, \%seen, 'ENV record = %ENV the script saw');
my ($a) = grep { $_->{tag} eq 'ARGV' } @recs;
is_deeply($a->{args}, ['a', 'b c'], 'ARGV record');
my ($hr) = grep { $_->{tag} eq 'HASH' } @recs;
ok(length($hr->{seed}) >= 16, 'hash seed bytes');
ok($hr->{enabled} >= 0 && $hr->{enabled} <= 2, 'hash randomisation mode');

# with a fixed hash seed and PERL_PERTURB_KEYS=2, hash order is the same with and without shim
my $order = "my %h = map { \$_ => 1 } 'a' .. 'z'; print join('', keys %h), qq(\\n);";
my %fix = (PERL_HASH_SEED => 12345, PERL_PERTURB_KEYS => 0);
my $p1 = run_perl(shim => 0, args => ['-e', $order], env => \%fix);
my $p2 = run_perl(shim => 1, log => "$dir/log3", args => ['-e', $order], env => \%fix);
is($p2->{out}, $p1->{out}, 'deterministic hash order unchanged by the shim');

done_testing;
