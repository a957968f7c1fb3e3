# Directory scanning: glob patterns (File::Glob, no shell), readdir with sorting, recursive walk
# with File::Find (sorted), -d/-f filtering, rewinddir, telldir-free.
use strict;
use warnings;
use File::Find;

for my $d (qw(gdir gdir/sub1 gdir/sub2 gdir/sub2/deeper)) { mkdir $d or die "mkdir $d: $!" }
for my $f (qw(gdir/a.txt gdir/b.txt gdir/c.log gdir/sub1/x.txt gdir/sub2/y.dat gdir/sub2/deeper/z.txt gdir/.hidden)) {
    open my $fh, '>', $f or die "$f: $!"; print $fh "$f\n"; close $fh;
}
print "glob *.txt in cwd: ", join(" ", sort glob("*.txt")), "\n";
print "glob gdir/*: ", join(" ", glob("gdir/*")), "\n";
print "glob gdir/*.{txt,log}: ", join(" ", glob("gdir/*.{txt,log}")), "\n";
print "glob gdir/*/*: ", join(" ", glob("gdir/*/*")), "\n";
print "glob gdir/.*: ", join(" ", sort glob("gdir/.*")), "\n";
print "glob no match: [", join(" ", glob("gdir/*.nomatch")), "]\n";
opendir my $dh, 'gdir' or die;
my @all = sort readdir $dh;
rewinddir $dh;
my $count = () = readdir $dh;
closedir $dh;
print "readdir gdir: @all (count again=$count)\n";
print "dirs: ", join(" ", grep { -d "gdir/$_" && !/^\.\.?$/ } @all), " files: ", join(" ", grep { -f "gdir/$_" } @all), "\n";
my @found;
find({ wanted => sub { push @found, $File::Find::name . (-d $_ ? "/" : "") }, no_chdir => 1 }, 'gdir');
print "find: $_\n" for sort @found;
my $bytes = 0;
find(sub { $bytes += -s $_ if -f $_ }, 'gdir');
print "total bytes under gdir: $bytes\n";
print "fixture files: ", join(" ", sort grep { -f } glob("*")), "\n";
