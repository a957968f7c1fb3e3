# exec: a forked child replaced by another program, by a #! script, an exec that fails, and the
# whole perl process replaced at the end.
use strict; use warnings;
$| = 1;
my $pid = fork // die;
if ($pid == 0) { exec '/bin/echo', 'echo', 'in', 'the', 'child' or die "exec: $!" }
waitpid $pid, 0;
print "echo ended with ", $? >> 8, "\n";
open my $s, '>', 'hello.sh' or die;
print $s "#!/bin/sh\necho \"script says \$1\"\nexit 7\n";
close $s;
chmod 0755, 'hello.sh';
$pid = fork // die;
if ($pid == 0) { exec './hello.sh', 'hi' or die "exec: $!" }
waitpid $pid, 0;
print "script ended with ", $? >> 8, "\n";
unlink 'hello.sh';
$pid = fork // die;
if ($pid == 0) { exec '/nonexistent/program' or print "exec failed: $!\n"; exit 9 }
waitpid $pid, 0;
print "failed exec's child ended with ", $? >> 8, "\n";
exec 'sh', '-c', 'echo "perl replaced by sh, pid kept: $(test $$ = $0 && echo yes)"', $$;
