# A child program named by a relative path (./echo, a link to /bin/echo, and ./x.sh, a script,
# directly and through the shell): Linux keeps that name (AT_EXECFN) on the new program's stack,
# so the stack must not depend on the folder, which a replay does not know the program by. From
# folders of 16 lengths, so that a stack laid out by the folder's path would move by more than its
# alignment from at least one of them.
use strict;
use warnings;

open(my $fh, '>', 'x.sh') or die "x.sh: $!";
print $fh "#!/bin/sh\necho \"x.sh ran with \$# arguments: \$*\"\n";
close $fh;
chmod 0755, 'x.sh' or die "chmod: $!";
symlink('/bin/echo', 'echo') or die "echo: $!";
system('./x.sh', 'one', 'two') == 0 or die "./x.sh: $?";
system('/bin/sh', '-c', './x.sh three; echo "status $?"') == 0 or die "sh: $?";
my $out = `./x.sh four`;
print "captured: $out";
for my $n (1 .. 16) {
    my $dir = 'd' x $n;
    mkdir $dir or die "$dir: $!";
    chdir $dir or die "$dir: $!";
    system('../x.sh', $n) == 0 or die "../x.sh in $dir: $?";
    system('../echo', "echo in $dir") == 0 or die "../echo in $dir: $?";
    chdir '..' or die "..: $!";
    rmdir $dir or die "$dir: $!";
}
unlink 'x.sh', 'echo';
