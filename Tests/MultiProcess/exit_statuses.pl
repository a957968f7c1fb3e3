# How children end, as $? and POSIX's macros see it: exit codes, die, a signal sent to itself,
# exit from an END block, exec of a missing program.
use strict; use warnings;
use POSIX qw(WIFEXITED WEXITSTATUS WIFSIGNALED WTERMSIG);
$| = 1;
my @cases = (
    [ 'exit 0',       sub { exit 0 } ],
    [ 'exit 255',     sub { exit 255 } ],
    [ 'die',          sub { close STDERR; die "gone\n" } ],
    [ 'SIGTERM',      sub { kill 'TERM', $$; sleep 5; exit 9 } ],
    [ 'SIGKILL',      sub { kill 'KILL', $$; exit 9 } ],
    [ 'SIGUSR1',      sub { kill 'USR1', $$; sleep 5; exit 9 } ],
    [ 'POSIX::_exit', sub { POSIX::_exit(42) } ],
    [ 'missing exec', sub { no warnings; exec '/nonexistent/program'; exit 127 } ],
);
for my $c (@cases) {
    my ($name, $body) = @$c;
    my $pid = fork // die;
    if (!$pid) { $body->(); exit 99 }
    waitpid $pid, 0;
    my $s = $?;
    printf "%-13s status %5d exited %d code %3d signaled %d signal %d\n", $name, $s,
        WIFEXITED($s) ? 1 : 0, WIFEXITED($s) ? WEXITSTATUS($s) : -1,
        WIFSIGNALED($s) ? 1 : 0, WIFSIGNALED($s) ? WTERMSIG($s) : 0;
}
