# RestoreTests: a run that changes files in out/ in every way restore follows, printing a digest
# of out/ (names, types, modes, contents, link targets) before each step: `at LINE:K DIGEST`, K the
# statement's execution. `revenant restore --at perl:restore_steps.pl:LINE:K` must give the same.
# With an argument (a folder), it prints that folder's out/ digest and nothing else.
use strict; use warnings; use Digest::MD5 qw(md5_hex); $| = 1;
my %seen;
sub digest {
    my $d = Digest::MD5->new;
    opendir(my $h, "out") or die;
    for my $n (sort grep { !/^\.\.?$/ } readdir $h) {
        my $p = "out/$n";
        if (-l $p) { $d->add("L$n\0" . readlink($p) . "\0") }
        elsif (-d $p) { $d->add("D$n\0" . sprintf("%o", (stat $p)[2] & 07777) . "\0") }
        else {
            open(my $f, '<', $p) or die; local $/; my $c = <$f> // '';
            $d->add("F$n\0" . sprintf("%o", (stat $p)[2] & 07777) . "\0$c\0");
        }
    }
    return $d->hexdigest;
}
if (@ARGV) { chdir($ARGV[0]) or die; print digest(), "\n"; exit 0 }
sub mark { my $l = (caller)[2]; my $k = ++$seen{$l}; print "at $l:$k ", digest(), "\n" }
mark();
open(my $f, '>', 'out/new.txt') or die; print $f "first\n"; close $f;
mark();
for my $i (1 .. 3) {
    open(my $a, '>>', 'out/new.txt') or die; print $a "line $i\n"; close $a;
    mark();
}
rename('out/new.txt', 'out/moved.txt') or die;
mark();
open(my $rw, '+<', 'out/moved.txt') or die; seek($rw, 2, 0); print $rw "XY"; close $rw;
mark();
truncate('out/cut.txt', 4) or die;
chmod(0600, 'out/moved.txt') or die;
mark();
unlink('out/old.txt') or die;
symlink('moved.txt', 'out/link') or die;
mkdir('out/sub', 0750) or die;
mark();
rename('out/moved.txt', 'out/target.txt') or die;
mark();
my $pid = fork // die;
if ($pid == 0) { open(my $c, '>>', 'out/target.txt') or die; print $c "from the child\n"; close $c; exit 0 }
waitpid($pid, 0);
mark();
unlink('out/target.txt') or die;
mark();
