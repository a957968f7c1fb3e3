# umask is the program's own: what it sets applies to the files and directories it creates, and
# umask() reports it back (the VMM's process umask is not the guest's).
my $old = umask 027;
printf "inherited %03o\n", $old;
printf "now %03o\n", umask;
mkdir "made-dir", 0777 or die "mkdir: $!";
open my $f, ">", "made-file" or die "open: $!";
close $f;
sysopen my $g, "made-sysopen", 0101, 0666 or die "sysopen: $!";  # O_CREAT|O_WRONLY
close $g;
printf "dir %04o file %04o sysopen %04o\n", map { (stat $_)[2] & 07777 } qw(made-dir made-file made-sysopen);
umask 0;
open $f, ">", "made-open" or die;
close $f;
printf "with umask 0: %04o\n", (stat "made-open")[2] & 07777;
umask $old;
