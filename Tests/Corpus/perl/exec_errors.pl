# execve that fails returns to the program with Linux's errno, and the program goes on. Called as
# the raw syscall: perl's exec goes through execvp, which runs a file without a #! line with /bin/sh.
use strict;
use warnings;

sub spew { my ($name, $text, $mode) = @_; open my $f, '>', $name or die "$name: $!"; print $f $text; close $f; chmod $mode, $name }
spew('not_executable.sh', "#!/bin/sh\necho never\n", 0644);
spew('garbage', "\x01\x02 not a program\n", 0755);
spew('no_interpreter.sh', "#!/nonexistent/sh\necho never\n", 0755);
spew('empty_shebang.sh', "#!\n", 0755);
mkdir 'adir';

for my $f ('./nonexistent', './not_executable.sh', './garbage', './no_interpreter.sh', './empty_shebang.sh',
           './adir', 'nonexistent_in_path_lookup_q9') {
    local $! = 0;
    my $path = "$f";
    my $argv = pack("p2", $path, undef);
    my $r = syscall(59, $path, $argv, 0);    # execve(path, argv, NULL)
    printf "%-30s %s (errno %d)\n", $f, $r == -1 ? "$!" : 'ran?', $! + 0;
}
print "still here\n";
