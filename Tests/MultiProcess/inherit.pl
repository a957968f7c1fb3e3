# What a child inherits: environment changes, the working directory, an open descriptor (and the
# file offset it shares with the parent), the umask, ignored signals; close-on-exec descriptors.
use strict; use warnings;
use Fcntl;
$| = 1;
$ENV{REVENANT_TEST_VALUE} = 'from the parent';
mkdir 'sub'; chdir 'sub' or die;
umask 027;
$SIG{HUP} = 'IGNORE';
open my $log, '>', 'shared.log' or die;
$log->autoflush(1);
print $log "parent first\n";
my $flags = fcntl($log, F_GETFD, 0);
fcntl($log, F_SETFD, $flags & ~FD_CLOEXEC) or die;
my $fd = fileno $log;
system $^X, '-e', <<"CHILD";
open my \$l, '>>&=', $fd or die "fd $fd: \$!";
print \$l "child wrote at ", tell(\$l), "\\n";
printf "child: env %s, cwd %s, umask %03o, HUP %s\\n", \$ENV{REVENANT_TEST_VALUE},
    (split m{/}, \`pwd\`)[-1] =~ s/\\n//r, umask, \$SIG{HUP} // 'default';
CHILD
print "child status $?\n";
print $log "parent after, at ", tell($log), "\n";
close $log;
open my $cx, '<', 'shared.log' or die;
fcntl($cx, F_SETFD, FD_CLOEXEC);
my $cfd = fileno $cx;
system $^X, '-e', "print open(my \$f, '<&=', $cfd) ? \"cloexec fd open\\n\" : \"cloexec fd closed\\n\"";
print "log: $_" for <$cx>;
unlink 'shared.log'; chdir '..'; rmdir 'sub';
