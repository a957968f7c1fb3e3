# Process groups and sessions: a group of three children made with setpgid (by parent and child,
# the race-free way), kill and waitpid on the group, an outsider the group signal does not reach,
# setsid in a child, a signal with a handler sent to a child.
use strict; use warnings;
use POSIX qw(setsid :sys_wait_h);
$| = 1;
pipe(my $r, my $w) or die;
my ($leader, @group);
for my $i (1 .. 3) {
    my $pid = fork // die;
    if ($pid == 0) {
        close $r;
        setpgrp(0, $i == 1 ? 0 : $leader) or die "setpgrp: $!";
        $SIG{TERM} = sub { exit 10 + $i };
        syswrite $w, "$i";
        sleep 1 while 1;
    }
    $leader //= $pid;
    setpgrp($pid, $leader) or die "parent setpgrp: $!";
    push @group, $pid;
}
my $outsider = fork // die;
if ($outsider == 0) { $SIG{TERM} = sub { exit 20 }; syswrite $w, "o"; sleep 1 while 1 }
close $w;
my $ready = '';
sysread($r, $ready, 4 - length $ready, length $ready) or die while length $ready < 4;
print "all ready\n";
print "second child's group is the first's: ", (getpgrp($group[1]) == $leader ? "yes" : "no"), "\n";
print "parent is not in it: ", (getpgrp() != $leader ? "yes" : "no"), "\n";
print "kill 0 to a child: ", kill(0, $group[2]), "\n";
kill 'TERM', -$leader or die "kill group: $!";
my @codes;
while ((my $p = waitpid(-$leader, 0)) > 0) { push @codes, $? >> 8 }
print "group ended with: @{[sort @codes]}\n";
print "outsider untouched: ", (waitpid($outsider, WNOHANG) == 0 ? "yes" : "no"), "\n";
kill 'TERM', $outsider;
waitpid($outsider, 0);
print "outsider ended with ", $? >> 8, "\n";
my $pid = fork // die;
if ($pid == 0) { my $sid = setsid(); exit($sid == $$ && getpgrp() == $$ ? 0 : 1) }
waitpid($pid, 0);
print "setsid in a child: ", ($? == 0 ? "own session" : "status $?"), "\n";
print "waitpid on an empty group: ", waitpid(-$leader, 0), "\n";
