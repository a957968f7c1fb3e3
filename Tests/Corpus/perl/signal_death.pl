# The process kills itself with SIGTERM (no handler): it dies by the signal.
# The harness normalises "killed by signal N" to status 128+N (here 143) for both runs.
use strict;
use warnings;
use IO::Handle;

STDOUT->autoflush(1);
print "about to SIGTERM myself\n";
kill 'TERM', $$;
sleep 1;
print "still alive?!\n";
