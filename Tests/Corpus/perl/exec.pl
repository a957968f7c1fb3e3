# execve: a #! shell script with an argument on its #! line, which execs a #! perl script, which
# execs an ELF program; what survives an exec (the pid, the environment passed, descriptors without
# close-on-exec, ignored signals, the working directory) and what does not (caught signals,
# close-on-exec descriptors).
use strict;
use warnings;
use Fcntl qw(F_GETFD F_SETFD FD_CLOEXEC);

sub spew { my ($name, $text, $mode) = @_; open my $f, '>', $name or die "$name: $!"; print $f $text; close $f; chmod $mode, $name }

spew('child.sh', <<'SH', 0755);
#!/bin/sh -eu
echo "child.sh: \$0=$0 args=$# [$1] [$2]"
echo "child.sh: MARK=$MARK"
cd sub
exec ../child.pl "$@" third
SH
spew('child.pl', <<'PL', 0755);
#!/usr/bin/perl -w
use strict;
print "child.pl: \$0=$0 args=@ARGV\n";
print "child.pl: USR1 ", ($SIG{USR1} // 'default'), ", USR2 ", ($SIG{USR2} // 'default'), "\n";
for my $which ('KEPT', 'DROPPED') {
    if (open(my $h, '<&=', $ENV{$which})) { my $line = <$h>; print "child.pl: $which open: $line" }
    else { print "child.pl: $which closed: $!\n" }
}
print "child.pl: in ", (-e 'marker' ? 'sub' : 'somewhere else'), "\n";
$| = 1;
exec '/bin/echo', 'echo:', 'the', 'end' or die "exec echo: $!";
PL
mkdir 'sub' or die; spew('sub/marker', "", 0644);
spew('kept.txt', "kept line\n", 0644);
spew('dropped.txt', "dropped line\n", 0644);

open my $kept, '<', 'kept.txt' or die;       # close-on-exec cleared below
open my $dropped, '<', 'dropped.txt' or die; # perl sets close-on-exec above $^F
my $flags = fcntl($kept, F_GETFD, 0) or die;
fcntl($kept, F_SETFD, $flags & ~FD_CLOEXEC) or die;
($ENV{KEPT}, $ENV{DROPPED}) = (fileno($kept), fileno($dropped));
$SIG{USR1} = sub { };
$SIG{USR2} = 'IGNORE';
$ENV{MARK} = 'set by the parent';
$| = 1;
print "parent: exec child.sh\n";
exec './child.sh', 'one arg', 'two' or die "exec: $!";
