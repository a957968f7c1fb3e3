# SIGCHLD ends a sleep and a pause when the program handles it (as Linux ends them for a handled
# signal), and does not cut a select short when it is ignored by default.
use strict; use warnings;
use Time::HiRes ();
$| = 1;
my $got = 0;
$SIG{CHLD} = sub { $got++ };
my $pid = fork // die;
if ($pid == 0) { select undef, undef, undef, 0.8; exit 0 }
my $slept = sleep 5;
print "sleep ended by SIGCHLD: ", ($slept < 5 ? "yes" : "no"), ", handler ran $got time(s)\n";
waitpid $pid, 0;
$pid = fork // die;
if ($pid == 0) { select undef, undef, undef, 0.8; exit 0 }
require POSIX;
alarm 20;  # never a hang, should the child end before the parent pauses
POSIX::pause();
alarm 0;
print "pause ended, handler ran $got time(s)\n";
waitpid $pid, 0;
$SIG{CHLD} = 'DEFAULT';
$pid = fork // die;
if ($pid == 0) { exit 0 }
my $t0 = Time::HiRes::time();
select undef, undef, undef, 1.2;
print "an ignored SIGCHLD left the select alone: ", (Time::HiRes::time() - $t0 >= 1.1 ? "yes" : "no"), "\n";
waitpid $pid, 0;
