# Signals delivered to the process itself: %SIG handlers for USR1/USR2/ALRM, kill to $$,
# alarm with a short timeout, local $SIG{__DIE__}, ignoring a signal.
use strict;
use warnings;
use Time::HiRes qw(sleep alarm);

my @got;
$SIG{USR1} = sub { push @got, "USR1($_[0])" };
$SIG{USR2} = sub { push @got, "USR2($_[0])" };
kill 'USR1', $$;
kill 'USR2', $$;
kill 'USR1', $$;
print "handled: @got\n";
$SIG{USR1} = 'IGNORE';
kill 'USR1', $$;
print "ignored USR1, still alive\n";
my $alarmed = 0;
eval {
    local $SIG{ALRM} = sub { die "alarm fired\n" };
    alarm 0.1;
    sleep 0.05 while 1;
};
alarm 0;
print "alarm: $@";
{
    local $SIG{__DIE__} = sub { print "__DIE__ hook saw: $_[0]" };
    eval { die "hooked\n" };
}
print "after eval: $@";
print "kill 0 to self: ", kill(0, $$), "\n";
print "signal names include USR1: ", (scalar(grep { $_ eq 'USR1' } keys %SIG) ? "yes" : "no"), "\n";
