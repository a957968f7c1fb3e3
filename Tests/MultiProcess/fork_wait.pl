# fork and waitpid, blocking and WNOHANG; pids; a child that dies by a signal; wait for any child.
use strict; use warnings;
use POSIX ':sys_wait_h';
$| = 1;
my $parent = $$;
my $pid = fork // die "fork: $!";
if ($pid == 0) { print "child: parent is ", (getppid() == $parent ? "right" : "wrong"), "\n"; exit 3 }
waitpid($pid, 0) == $pid or die;
print "parent: child pid is ", ($pid != $parent ? "new" : "same"), "\n";
print "child exited ", WEXITSTATUS($?), "\n";
$pid = fork // die;
if ($pid == 0) { select(undef, undef, undef, 0.3); exit 0 }
my $polls = 0;
$polls++ until waitpid($pid, WNOHANG) == $pid;
print "WNOHANG polled ", ($polls > 0 ? "more than once" : "once"), "\n";
$pid = fork // die;
if ($pid == 0) { kill 'SEGV', $$; sleep 5; exit 0 }
waitpid($pid, 0);
print "signalled: ", (WIFSIGNALED($?) ? WTERMSIG($?) : "no"), "\n";
fork || exit($_) for 1 .. 3;
my $sum = 0;
while ((my $w = wait) > 0) { $sum += $? >> 8 }
print "any child: sum $sum, then wait says ", wait, " ($!)\n";
