# File operations in the working directory: create, append, rename, unlink, mkdir,
# opendir/readdir (sorted), file tests -e -s -d -f, and files left behind for comparison.
use strict;
use warnings;

sub listdir {
    my ($d) = @_;
    opendir(my $dh, $d) or die "opendir $d: $!";
    my @e = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
    closedir $dh;
    return @e;
}

open(my $fh, '>', 'created.txt') or die "create: $!";
print $fh "line $_\n" for 1 .. 5;
close $fh or die "close: $!";
printf "created.txt -e=%d -s=%d -f=%d -d=%d\n", (-e 'created.txt' ? 1 : 0), -s 'created.txt', (-f _ ? 1 : 0), (-d _ ? 1 : 0);

open($fh, '>>', 'created.txt') or die "append: $!";
print $fh "appended $_\n" for 'a' .. 'c';
close $fh;
print "after append -s=", -s 'created.txt', "\n";

open($fh, '<', 'created.txt') or die;
my @lines = <$fh>;
close $fh;
print "line count=", scalar(@lines), " last=$lines[-1]";

mkdir 'subdir' or die "mkdir: $!";
mkdir 'subdir/nested' or die "mkdir nested: $!";
printf "subdir -d=%d -e=%d\n", (-d 'subdir' ? 1 : 0), (-e 'subdir' ? 1 : 0);
for my $n (qw(b.txt a.txt c.dat)) {
    open(my $o, '>', "subdir/$n") or die "$n: $!";
    print $o "content of $n\n" x 3;
    close $o;
}
rename 'created.txt', 'subdir/renamed.txt' or die "rename: $!";
print "created.txt exists after rename: ", (-e 'created.txt' ? "yes" : "no"), "\n";
print "renamed size: ", -s 'subdir/renamed.txt', "\n";

open($fh, '>', 'subdir/nested/deep.txt') or die; print $fh "deep\n"; close $fh;
open($fh, '>', 'doomed.txt') or die; print $fh "bye\n"; close $fh;
my $n = unlink 'doomed.txt', 'subdir/c.dat';
print "unlinked $n files; doomed exists: ", (-e 'doomed.txt' ? 1 : 0), "\n";

print "subdir: ", join(" ", listdir('subdir')), "\n";
print "nested: ", join(" ", listdir('subdir/nested')), "\n";

mkdir 'empty_then_removed' or die;
rmdir 'empty_then_removed' or die "rmdir: $!";
print "rmdir ok: ", (-d 'empty_then_removed' ? "no" : "yes"), "\n";

# zero-length file and overwrite
open($fh, '>', 'zero.txt') or die; close $fh;
printf "zero.txt -e=%d -z=%d -s=%s\n", (-e 'zero.txt' ? 1 : 0), (-z 'zero.txt' ? 1 : 0), (defined(-s 'zero.txt') && -s _ ? -s _ : "false");
open($fh, '>', 'overwrite.txt') or die; print $fh "long original content\n"; close $fh;
open($fh, '>', 'overwrite.txt') or die; print $fh "short\n"; close $fh;
print "overwrite size: ", -s 'overwrite.txt', "\n";

my @top = grep { !/\.pl$/ } listdir('.');
print "top (non-.pl): @top\n";
