# Metadata: chmod + stat mode bits, utime with fixed times then stat mtime/atime, link count
# via hard link, symlink/readlink/lstat, -r -w -x tests, umask-independent output.
use strict;
use warnings;
use Fcntl ':mode';

open my $fh, '>', 'meta.txt' or die "meta.txt: $!"; print $fh "metadata test\n"; close $fh;
for my $mode (0600, 0640, 0755, 0444) {
    chmod $mode, 'meta.txt' or die "chmod: $!";
    my @st = stat 'meta.txt';
    printf "chmod %04o -> mode %04o type=%s -x=%d\n", $mode, S_IMODE($st[2]), (S_ISREG($st[2]) ? "file" : "other"), (-x 'meta.txt' ? 1 : 0);
}
chmod 0644, 'meta.txt';
utime 1_000_000_000, 1_234_567_890, 'meta.txt' or die "utime: $!";
my @st = stat 'meta.txt';
print "atime=$st[8] mtime=$st[9] size=$st[7] nlink=$st[3]\n";
printf "-M is positive: %s\n", (-M 'meta.txt' > 0 ? "yes" : "no");
link 'meta.txt', 'meta-hardlink.txt' or die "link: $!";
@st = stat 'meta.txt';
print "nlink after link=$st[3] same inode: ", ((stat 'meta-hardlink.txt')[1] == $st[1] ? "yes" : "no"), "\n";
symlink 'meta.txt', 'meta-symlink' or die "symlink: $!";
print "readlink=", readlink('meta-symlink'), " -l=", (-l 'meta-symlink' ? 1 : 0), " -f(follows)=", (-f 'meta-symlink' ? 1 : 0), "\n";
my @l = lstat 'meta-symlink';
print "lstat is link: ", (S_ISLNK($l[2]) ? "yes" : "no"), " size=$l[7]\n";
symlink 'no-such-target', 'dangling' or die "symlink: $!";
print "dangling: -l=", (-l 'dangling' ? 1 : 0), " -e=", (-e 'dangling' ? 1 : 0), " readlink=", readlink('dangling'), "\n";
mkdir 'd', 0700 or die;
chmod 0750, 'd';
printf "dir mode %04o is dir: %s\n", S_IMODE((stat 'd')[2]), (S_ISDIR((stat 'd')[2]) ? "yes" : "no");
utime 1_500_000_000, 1_500_000_000, 'd';
print "dir mtime=", (stat 'd')[9], "\n";
unlink 'meta-hardlink.txt';
print "nlink after unlink=", (stat 'meta.txt')[3], "\n";
print "utime undef sets now: ", (utime(undef, undef, 'meta.txt') ? "ok" : "failed"), " recent: ", ((stat 'meta.txt')[9] > 1_600_000_000 ? "yes" : "no"), "\n";
