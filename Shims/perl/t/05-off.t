# Without REVENANT_SHIM_LOG (and outside the VM) the channel is off: no hooks, no file.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(run_perl shim_lib);

my $dir = tempdir(CLEANUP => 1);
my $so = shim_lib() . '/auto/Revenant/Shim/Shim.so';
# introspect: (mode, number of PL_ppaddr entries pointing into the shim), installed by hand
my $probe = <<"PL";
DynaLoader::boot_DynaLoader('DynaLoader') unless defined &DynaLoader::dl_load_file;
my \$l = DynaLoader::dl_load_file('$so', 0) or die;
my \$x = DynaLoader::dl_install_xsub('main::introspect', DynaLoader::dl_find_symbol(\$l, 'XS_Revenant__Shim_introspect'));
my (\$mode, \$n) = introspect();
print "mode=\$mode hooks=\$n\\n";
PL
my $off = run_perl(shim => 1, args => ['-e', $probe], dir => $dir);
is($off->{out}, "mode=0 hooks=0\n", 'channel off: no PL_ppaddr entry replaced') or diag $off->{err};
opendir my $d, $dir or die; my @files = grep { !/^\./ } readdir $d;
is_deeply(\@files, [], 'no file created');
my $on = run_perl(shim => 1, log => "$dir/log", args => ['-e', $probe], dir => $dir);
like($on->{out}, qr/^mode=2 hooks=(\d+)$/, 'log mode: hooks installed');
my ($n) = $on->{out} =~ /hooks=(\d+)/;
ok($n > 40, "$n ops hooked");
my $empty = run_perl(shim => 1, log => '', args => ['-e', 'print exists $ENV{REVENANT_SHIM_LOG} ? "y" : "n"'], dir => $dir);
is($empty->{out}, 'n', 'empty REVENANT_SHIM_LOG: off, and removed from %ENV');
done_testing;
