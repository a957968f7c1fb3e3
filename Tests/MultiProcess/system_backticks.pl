# system and backticks: outputs, exit codes and deaths by signal in $?.
use strict; use warnings;
$| = 1;
my $r = system('/bin/echo', 'from', 'system');
print "system returned $r, \$? = $?\n";
system('sh', '-c', 'exit 5');
print "exit code ", $? >> 8, "\n";
system('sh', '-c', 'kill -TERM $$');
print "killed by signal ", $? & 127, "\n";
my $out = `echo one; echo two`;
print "backticks: $out";
my @lines = `printf 'a\\nb\\nc\\n'`;
print "lines: ", scalar(@lines), "\n";
system('sh -c "exit 3"');
print "through the shell: ", $? >> 8, "\n";
print "missing program: ", system('/nonexistent/program') == -1 ? "-1 ($!)" : "ran?", "\n";
