# Results of nondeterministic ops in the log equal what the script saw.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(decode_file ops run_perl);

my $dir = tempdir(CLEANUP => 1);
sub spew { my ($f, $d) = @_; open my $h, '>', $f or die "$f: $!"; print $h $d; close $h }
spew("$dir/data.txt", "one\ntwo\nthree\n");
mkdir "$dir/d"; spew("$dir/d/$_", $_) for qw(a b c);
spew("$dir/script.pl", <<'PL');
my $t = time;                        print "time=$t\n";
my @lt = localtime(86400 * 365);     print "localtime=@lt\n";
my $lt = localtime(0);               print "localtime_s=$lt\n";
my @gt = gmtime(12345);              print "gmtime=@gt\n";
my $r1 = rand();                     printf "rand=%.17g\n", $r1;
my $r2 = rand(10);                   printf "rand=%.17g\n", $r2;
open my $fh, '<', 'data.txt' or die; print "open=ok\n";
my $line = <$fh>;                    print "readline=$line";
my @rest = <$fh>;                    print "readline_list=", join('|', @rest) =~ s/\n/\\n/gr, "\n";
my $eof = eof($fh) ? 1 : 0;          print "eof=$eof\n";
close $fh;
open $fh, '<', 'data.txt' or die;
my $buf = 'XY';
my $n = read($fh, $buf, 5, 2);       print "read=$n buf=", $buf =~ s/\n/\\n/gr, "\n";
$n = sysread($fh, $buf, 3);          print "sysread=$n buf=", $buf =~ s/\n/\\n/gr, "\n";
my $c = getc($fh);                   print "getc=$c\n";
my @st = stat('data.txt');           print "stat=@st\n";
my $e = -e 'data.txt' ? 1 : 0;       print "e=$e\n";
my $s = -s 'data.txt';               print "s=$s\n";
my $nx = -e 'missing' ? 1 : 0;       print "nx=$nx\n";
opendir my $dh, 'd' or die;
my @ents = sort grep { !/^\./ } readdir $dh;  print "readdir=@ents\n";
my $ok = open(my $nf, '<', 'no/such/file'); my $err = $! + 0; print "open_fail=", ($ok ? 1 : 0), " errno=$err\n";
srand(42);                           print "srand_rand=", rand(), "\n";
my $sr = srand();                    print "srand=$sr\n";
my $pp = getppid();                  print "getppid=$pp\n";
my @g = glob('d/*');                 print "glob=@g\n";
my $bt = `echo hi`;                  print "backtick=$bt";
PL

my $log = "$dir/log";
my $r = run_perl(shim => 1, log => $log, args => ['script.pl'], dir => $dir);
is($r->{status}, 0, 'ran') or diag $r->{err};
my %out;
for (split /\n/, $r->{out}) { my ($k, $v) = split /=/, $_, 2; push @{$out{$k}}, $v }
my @recs = decode_file($log);
# only what the script itself did (modules loaded at startup may stat things too)
my ($first) = grep { $recs[$_]{tag} eq 'STMT' && $recs[$_]{file} eq 'script.pl' && $recs[$_]{line} == 1 } 0 .. $#recs;
@recs = @recs[$first .. $#recs];
my $one = sub { my ($name, $k) = @_; my @o = ops($name, @recs); $o[$k // 0] };

is($one->('time')->[0], $out{time}[0], 'time');
is(join(' ', @{$one->('localtime', 0)}), $out{localtime}[0], 'localtime list (9 values)');
is(scalar @{$one->('localtime', 0)}, 9, 'localtime list count');
is($one->('localtime', 1)->[0], $out{localtime_s}[0], 'localtime scalar');
is(join(' ', @{$one->('gmtime')}), $out{gmtime}[0], 'gmtime list');

# rand: no srand before -> one SEED record; reseeding with it reproduces the values
my @seeds = map { $_->{seed} } grep { $_->{tag} eq 'SEED' } @recs;
is(scalar @seeds, 1, 'one SEED');
my $replay = `$^X -e 'srand($seeds[0]); printf "%.17g\\n", rand(); printf "%.17g\\n", rand(10)'`;
is($replay, "rand=$out{rand}[0]\nrand=$out{rand}[1]\n" =~ s/rand=//gr, 'SEED reproduces rand');
is($one->('srand', 0)->[0], 42, 'srand(42) value');
is($one->('srand', 1)->[0], $out{srand}[0], 'srand() value');

is_deeply($one->('readline', 0), ["one\n"], 'readline scalar');
is(join('|', @{$one->('readline', 1)}) =~ s/\n/\\n/gr, $out{readline_list}[0], 'readline list');
is($one->('eof')->[0], 1, 'eof');
my ($rn, $rbuf) = @{$one->('read')};
is("read=$rn buf=" . ($rbuf =~ s/\n/\\n/gr), "read=$out{read}[0]", 'read count and buffer');
my ($sn, $sbuf) = @{$one->('sysread')};
is("sysread=$sn buf=" . ($sbuf =~ s/\n/\\n/gr), "sysread=$out{sysread}[0]", 'sysread count and buffer');
is($one->('getc')->[0], $out{getc}[0], 'getc');
is(join(' ', @{$one->('stat')}), $out{stat}[0], 'stat list (13 values)');
my @fte = ops('ftis', @recs);
is($fte[0][0], 1, '-e true');
ok(!defined $fte[1][0] || $fte[1][0] eq '', '-e false');
is($one->('ftsize')->[0], $out{s}[0], '-s');
my @rd = @{$one->('readdir')};
is(join(' ', sort grep { !/^\./ } @rd), $out{readdir}[0], 'readdir list');
my ($openfail) = grep { $_->{tag} eq 'OP_END' && $_->{name} eq 'open' && !$_->{values}[0]{v} } @recs;
my ($ofv, $ofe) = split / errno=/, $out{open_fail}[0];
ok($openfail, 'failed open logged');
is($openfail->{errno}, $ofe, 'open failure errno = $!');
is($one->('getppid')->[0], $out{getppid}[0], 'getppid');
is(join(' ', @{$one->('glob')}), $out{glob}[0], 'glob list');
my $bt = $one->('backtick');
is($bt->[0] . "", "hi\n", 'backtick output');
is($bt->[1], 0, 'backtick $?');

done_testing;
