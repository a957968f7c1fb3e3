# Error paths: opening / unlinking / stat-ing missing files, $! text and errno numbers.
use strict;
use warnings;
use Errno qw(ENOENT EEXIST ENOTDIR ENOTEMPTY EISDIR);

sub report { my ($what, $ok) = @_; if ($ok) { printf "%-28s ok=1\n", $what } else { printf "%-28s ok=0 errno=%d err=%s\n", $what, $!+0, "$!" } $! = 0 }

report("open missing for read", open(my $fh, '<', 'does-not-exist.txt'));
print "ENOENT matches: ", ($!{ENOENT} ? 1 : 0), "\n" if !open($fh, '<', 'does-not-exist.txt');
$! = 0;
report("unlink missing", unlink('no-such-file.txt'));
report("mkdir new", mkdir('dir1'));
report("mkdir existing", mkdir('dir1'));
open(my $o, '>', 'dir1/file.txt') or die; print $o "x\n"; close $o;
report("rmdir non-empty", rmdir('dir1'));
report("opendir missing", opendir(my $dh, 'missing-dir'));
report("open dir for write", open(my $w, '>', 'dir1'));
report("open below a file", open(my $x, '<', 'dir1/file.txt/child'));
report("rename missing", rename('ghost', 'ghost2'));
report("stat missing", scalar(stat('ghost')));
report("chdir missing", chdir('ghost-dir'));
printf "-e missing=%s -s missing=%s\n", (defined(-e 'ghost') ? "defined" : "undef"), (defined(-s 'ghost') ? "defined" : "undef");

# die from open is caught and its message printed
eval { open(my $fh2, '<', 'nope.cfg') or die "Cannot open nope.cfg: $!\n"; 1 } or print "caught: $@";
printf "constants: ENOENT=%d EEXIST=%d ENOTDIR=%d ENOTEMPTY=%d EISDIR=%d\n", ENOENT, EEXIST, ENOTDIR, ENOTEMPTY, EISDIR;
