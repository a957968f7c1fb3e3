# JSON::PP: canonical encode, pretty, decode fixture, unicode, booleans, numbers, round trip via a file.
use strict;
use warnings;
use JSON::PP;

my $json = JSON::PP->new->utf8->canonical(1);
my $text = do { local $/; open my $fh, '<', 'config.json' or die "config.json: $!"; <$fh> };
my $cfg = $json->decode($text);
print "name=$cfg->{name} version=@{$cfg->{version}} vcpus=$cfg->{limits}{vcpus}\n";
print "record is ", ($cfg->{features}{record} ? "true" : "false"), " ref=", ref($cfg->{features}{record}), "\n";
print "note length (chars)=", length($cfg->{note}), " is_utf8=", (utf8::is_utf8($cfg->{note}) ? 1 : 0), "\n";
print "canonical: ", $json->encode($cfg), "\n";
print "ascii: ", $json->ascii(1)->encode({ note => $cfg->{note} }), "\n";
$json->ascii(0);
my $out = { numbers => [1, -2, 3.5, 1e20, "4"], nested => { b => [], a => {} }, t => JSON::PP::true, f => JSON::PP::false, n => undef, str => "quote\" backslash\\ tab\t nl\n" };
print $json->pretty->encode($out);
$json->pretty(0);
open my $w, '>', 'out.json' or die "out.json: $!";
print $w $json->pretty->encode($cfg);
close $w;
my $back = do { local $/; open my $fh, '<', 'out.json' or die; $json->decode(<$fh>) };
print "round trip equal: ", ($json->pretty(0)->encode($back) eq $json->encode($cfg) ? "yes" : "no"), "\n";
my $bad = eval { $json->decode('{"a": [1, 2,]}'); 1 } ? "parsed?!" : "error: $@";
print $bad;
my $big = [map { { id => $_, name => "item$_", tags => [map { "t$_" } 1 .. ($_ % 4)] } } 1 .. 500];
my $enc = $json->encode($big);
print "big encoded length=", length($enc), " decoded items=", scalar(@{ $json->decode($enc) }), "\n";
