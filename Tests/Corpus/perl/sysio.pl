# Unbuffered and positioned I/O: sysopen/syswrite/sysread/sysseek, seek/tell, binmode,
# read with offset, truncate, binary file with all byte values, eof.
use strict;
use warnings;
use Fcntl qw(O_RDWR O_CREAT O_TRUNC O_WRONLY O_APPEND O_EXCL SEEK_SET SEEK_CUR SEEK_END);

sysopen(my $fh, 'sys.bin', O_RDWR | O_CREAT | O_TRUNC, 0644) or die "sysopen: $!";
my $w = syswrite($fh, "0123456789ABCDEF");
print "syswrite wrote $w\n";
my $pos = sysseek($fh, 4, SEEK_SET);
print "sysseek to ", $pos, "\n";
my $n = sysread($fh, my $buf, 6);
print "sysread $n bytes: $buf\n";
syswrite($fh, "xyz", 2, 1);
sysseek($fh, 0, SEEK_SET);
sysread($fh, $buf, 100);
print "content now: $buf\n";
sysseek($fh, -3, SEEK_END);
sysread($fh, $buf, 10, 5);
print "read with offset into padded buffer: ", join(",", map { $_ eq "\0" ? "\\0" : $_ } split //, $buf), "\n";
my $cur = sysseek($fh, 0, SEEK_CUR);
print "position at end: $cur; sysread at EOF returns ", sysread($fh, $buf, 10), "\n";
close $fh;
my $rc = sysopen(my $ex, 'sys.bin', O_WRONLY | O_CREAT | O_EXCL);
print "O_EXCL on existing: ", ($rc ? "opened?!" : "failed: $!"), "\n";
sysopen(my $ap, 'sys.bin', O_WRONLY | O_APPEND) or die;
syswrite($ap, "++");
close $ap;
print "size after append=", -s 'sys.bin', "\n";

open(my $bin, '+>', 'all-bytes.bin') or die "all-bytes: $!";
binmode $bin;
print $bin pack("C*", 0 .. 255) x 4;
print "tell after write=", tell($bin), "\n";
seek($bin, 250, SEEK_SET);
read($bin, $buf, 10);
print "bytes 250..259: ", unpack("H*", $buf), " tell=", tell($bin), "\n";
seek($bin, -5, SEEK_CUR);
read($bin, $buf, 2);
print "after seek -5 cur: ", unpack("H*", $buf), "\n";
seek($bin, 0, SEEK_END);
print "tell at end=", tell($bin), " eof=", (eof($bin) ? 1 : 0), "\n";
truncate($bin, 300) or die "truncate: $!";
close $bin;
print "size after truncate=", -s 'all-bytes.bin', "\n";

open(my $crlf, '>:raw', 'crlf.txt') or die;
print $crlf "line1\r\nline2\r\n";
close $crlf;
open($crlf, '<:crlf', 'crlf.txt') or die;
my @l = <$crlf>;
close $crlf;
print "crlf layer lines: ", join("|", map { s/\n/\\n/r =~ s/\r/\\r/r } @l), "\n";
open(my $rd, '<', 'binary.bin') or die "binary.bin: $!";
binmode $rd;
my $total = 0;
while (my $got = read($rd, $buf, 100)) { $total += $got }
print "binary.bin read total=$total\n";
close $rd;
open(my $rw, '+<', 'sys.bin') or die;
seek($rw, 2, 0);
print $rw "##";
seek($rw, 0, 0);
my $line = <$rw>;
close $rw;
print "in-place edit: $line\n";
