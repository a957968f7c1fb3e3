# Signals between processes: kill to a child with a handler, SIGCHLD, SIGPIPE from a closed reader.
use strict; use warnings;
$| = 1;
my $pid = fork // die;
if ($pid == 0) { $SIG{USR1} = sub { print "child got USR1\n"; exit 4 }; sleep 1 while 1 }
select(undef, undef, undef, 0.3);
kill 'USR1', $pid;
waitpid($pid, 0);
print "child ended with ", $? >> 8, "\n";
my $chld = 0;
$SIG{CHLD} = sub { $chld++ };
$pid = fork // die;
exit 0 if $pid == 0;
sleep 1 until $chld;
waitpid($pid, 0);
print "SIGCHLD: seen\n";
$SIG{CHLD} = 'DEFAULT';
pipe(my $r, my $w) or die;
$pid = fork // die;
if ($pid == 0) { close $r; select(undef, undef, undef, 0.2); print $w "x\n" or die; close $w; exit 0 }
close $r;
close $w;
waitpid($pid, 0);
print "writer to a closed pipe: ", ($? & 127) == 13 ? "SIGPIPE" : "status $?", "\n";
$pid = fork // die;
if ($pid == 0) { $SIG{PIPE} = 'IGNORE'; pipe(my $r2, my $w2); close $r2; print {$w2} "x\n"; close $w2 or print "EPIPE: $!\n"; exit 0 }
waitpid($pid, 0);
