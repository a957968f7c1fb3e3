# Digest::MD5 (md5_hex, OO add/addfile on fixtures, b64) and Digest::SHA, MIME::Base64.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex md5_base64);
use Digest::SHA qw(sha1_hex sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);

print "md5('')=", md5_hex(''), "\n";
print "md5(fox)=", md5_hex("The quick brown fox jumps over the lazy dog"), "\n";
print "md5_base64(abc)=", md5_base64("abc"), "\n";
for my $f (qw(words.txt binary.bin utf8.txt)) {
    open my $fh, '<', $f or die "$f: $!";
    binmode $fh;
    my $ctx = Digest::MD5->new;
    $ctx->addfile($fh);
    print "md5 $f = ", $ctx->hexdigest, "\n";
    close $fh;
}
my $ctx = Digest::MD5->new;
$ctx->add("part1", "part2");
$ctx->add("part3");
print "md5 incremental=", $ctx->hexdigest, " direct=", md5_hex("part1part2part3"), "\n";
print "sha1(abc)=", sha1_hex("abc"), "\n";
print "sha256(abc)=", sha256_hex("abc"), "\n";
my $sha = Digest::SHA->new(256);
$sha->addfile('words.txt', 'b');
print "sha256 words.txt=", $sha->hexdigest, "\n";
my $big = join("", map { chr($_ % 256) } 1 .. 1_000_000);
print "md5 of 1MB generated=", md5_hex($big), "\n";
my $b64 = encode_base64(pack("C*", 0 .. 40));
print "base64:\n$b64";
print "base64 round trip: ", (decode_base64($b64) eq pack("C*", 0 .. 40) ? "ok" : "bad"), "\n";
