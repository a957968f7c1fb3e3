# kill 0 tells whether a child is alive; a signal the child blocks is taken once it unblocks it;
# a stopped child (waitpid WUNTRACED) lives on and is continued; a reaped child is gone (ESRCH).
use strict; use warnings;
use POSIX qw(:signal_h :sys_wait_h);
$| = 1;
pipe(my $r, my $w) or die;
pipe(my $ready_r, my $ready_w) or die;
my $pid = fork // die;
if (!$pid) {
    close $w; close $ready_r;
    my $got = 0;
    $SIG{USR2} = sub { $got++ };
    my $block = POSIX::SigSet->new(SIGUSR2);
    sigprocmask(SIG_BLOCK, $block) or die;
    syswrite $ready_w, "ready\n";
    <$r>;                               # the parent sends USR2 while it is blocked
    my $before = $got;
    sigprocmask(SIG_UNBLOCK, $block) or die;
    exit($before == 0 && $got == 1 ? 7 : 8);
}
close $r; close $ready_w;
<$ready_r>;
print "alive: ", (kill(0, $pid) ? 1 : 0), "\n";
print "sent: ", kill('USR2', $pid), "\n";
kill 'STOP', $pid;
print "waited for the stop: ", (waitpid($pid, WUNTRACED) == $pid ? 1 : 0), ", stopped: ",
    (WIFSTOPPED(${^CHILD_ERROR_NATIVE}) ? WSTOPSIG(${^CHILD_ERROR_NATIVE}) : 0), "\n";
print "alive while stopped: ", (kill(0, $pid) ? 1 : 0), "\n";
kill 'CONT', $pid;
close $w;
waitpid $pid, 0;
print "child took the blocked signal once, after unblocking: ", ($? >> 8 == 7 ? "yes" : "no ($?)"), "\n";
print "after reaping: ", (kill(0, $pid) ? 1 : 0), " ($!)\n";
