# Behaviour neutrality: identical stdout, stderr and exit status with and without the shim.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use RevenantChannel qw(decode_file run_perl);

my $dir = tempdir(CLEANUP => 1);
my %scripts = (
    die      => 'print "before\n"; die "oops\n";',
    die_obj  => 'use strict; my %h; sub f { die { code => 7 } } eval { f() }; print $@->{code}, "\n"; die "at end";',
    exit3    => 'print "x\n"; exit 3;',
    warnings => 'use warnings; my $x; my $y = $x + 1; print "y=$y\n"; warn "careful\n"; my @a = (1) x 3; print "@a\n";',
    errno    => 'open(my $f, "<", "/nonexistent/x") or print "err=", $!+0, " $!\n"; print "after=", $!+0, "\n"; $! = 0; my $t = time; print "errno_after_time=", $!+0, "\n";',
    lineno   => 'open my $f, "<", $0 or die; my $n = 0; while (<$f>) { $n++ } print "lines=$n dot=$.\n"; close $f;',
    context  => 'my @x = (stat $0)[7]; my $s = stat($0) ? 1 : 0; my $c = () = localtime(0); print scalar(@x), " $s $c\n"; print wantarray() // "u", "\n";',
    tied     => 'package T; sub TIEHANDLE { bless [3], shift } sub READLINE { my $s = shift; return $s->[0]-- > 0 ? "l$s->[0]\n" : undef } package main; tie *FH, "T"; while (my $l = <FH>) { print $l } print "done\n";',
    signal   => '$SIG{__WARN__} = sub { print "W:$_[0]" }; warn "w1\n"; kill "TERM", $$; sleep 1; print "not reached\n";',
    end_exit => 'END { print "end block\n"; $? = 5 } print "main\n";',
    fork     => '$| = 1; my $p = fork; if (!$p) { print "child\n"; exit 0 } waitpid($p, 0); print "parent ", $? >> 8, "\n";',
    stdin    => 'my @l = <STDIN>; print scalar(@l), " lines, last=$l[-1]"; print eof(STDIN) ? "eof\n" : "no\n";',
);
for my $name (sort keys %scripts) {
    my $file = "$dir/$name.pl";
    open my $h, '>', $file or die; print $h $scripts{$name}; close $h;
    my %o = (args => ["$name.pl"], dir => $dir, stdin => "a\nb\nc\n");
    my $plain = run_perl(%o, shim => 0);
    my $shim = run_perl(%o, shim => 1, log => "$dir/$name.log");
    is($shim->{out}, $plain->{out}, "$name: stdout");
    is($shim->{err}, $plain->{err}, "$name: stderr");
    is($shim->{status}, $plain->{status}, "$name: exit status $plain->{status}");
    my @recs = eval { decode_file("$dir/$name.log") };
    is($@, '', "$name: log decodes");
    ok((grep { $_->{tag} eq 'STMT' } @recs) > 0, "$name: statements logged (flushed at exit)")
        unless $name eq 'signal';
}
done_testing;
