package SqlChannel;
# A small decoder of the channel stream for the SQLite records (Docs/channel-format.md).
# decode($bytes) -> list of hashes { tag => 'PREPARE', ... }. Non-SQL records are not expected.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(decode read_log value_str);
use lib (($ENV{REVENANT_SOURCE_ROOT} // die "REVENANT_SOURCE_ROOT not set\n") . '/Shims/lib');
use RevenantHeader qw(channel_names);

# Record and value tags by the names the channel header gives them.
my %TAG = reverse %{ channel_names('REC_SQL_') };
my %VALUE = %{ channel_names('VAL_') };

sub read_log { my ($f) = @_; open my $h, '<:raw', $f or die "$f: $!"; local $/; my $d = <$h>; $d = '' unless defined $d; return $d }

sub decode {
    my ($buf) = @_;
    my $pos = 0;
    my $len = length $buf;
    my $u = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            die "truncated at $pos" if $pos >= $len;
            my $b = ord substr($buf, $pos++, 1);
            $v += ($b & 0x7f) * (2 ** $shift);
            $shift += 7;
            last unless $b & 0x80;
        }
        return $v;
    };
    # zigzag: exact for the magnitudes we test with (64-bit perl integers)
    my $us = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            my $b = ord substr($buf, $pos++, 1);
            $v |= ($b & 0x7f) << $shift;
            $shift += 7;
            last unless $b & 0x80;
        }
        return $v;
    };
    my $s = sub { my $z = $us->(); use integer; return ($z >> 1) ^ -($z & 1) };
    my $str = sub { my $n = $u->(); my $r = substr($buf, $pos, $n); $pos += $n; return $r };
    my $bytes = sub { my ($n) = @_; my $r = substr($buf, $pos, $n); $pos += $n; return $r };
    my $val = sub {
        my $tag = ord substr($buf, $pos++, 1);
        my $t = $VALUE{$tag} // die "bad value tag $tag at $pos";
        return ['UNDEF'] if $t eq 'UNDEF';
        return ['INT', $s->()] if $t eq 'INT';
        return ['UINT', $u->()] if $t eq 'UINT';
        return ['DOUBLE', unpack('d<', $bytes->(8))] if $t eq 'DOUBLE';
        return ['STRING', $str->()] if $t eq 'STRING';
        return ['UTF8', $str->()] if $t eq 'UTF8';
        return ['BLOB', $str->()] if $t eq 'BLOB';
        return ['ZEROBLOB', $u->()] if $t eq 'ZEROBLOB';
        die "bad value tag $tag at $pos";
    };
    my @out;
    while ($pos < $len) {
        my $tag = ord substr($buf, $pos++, 1);
        my %r;
        if ($tag == $TAG{CONN}) { %r = (tag => 'CONN', conn => $u->(), file => $str->()) }
        elsif ($tag == $TAG{PREPARE}) {
            %r = (tag => 'PREPARE', id => $u->(), conn => $u->(), sql => $str->());
            my $n = $u->(); $r{read} = [map { $str->() } 1 .. $n];
            my $m = $u->(); $r{write} = [map { $str->() } 1 .. $m];
        }
        elsif ($tag == $TAG{EXEC}) { %r = (tag => 'EXEC', id => $u->()); my $n = $u->(); $r{binds} = [map { $val->() } 1 .. $n] }
        elsif ($tag == $TAG{DONE}) { %r = (tag => 'DONE', id => $u->(), rc => $u->(), rows => $u->(), changes => $s->(), digest => unpack('H*', $bytes->(16))) }
        elsif ($tag == $TAG{CLOCK}) { %r = (tag => 'CLOCK', ms => $s->()) }
        elsif ($tag == $TAG{RANDOM}) { %r = (tag => 'RANDOM', bytes => $str->()) }
        elsif ($tag == $TAG{SEED}) { %r = (tag => 'SEED', n => $u->(), bytes => $str->()) }
        elsif ($tag == $TAG{TRIGGER}) { %r = (tag => 'TRIGGER', conn => $u->(), text => $str->()) }
        elsif ($tag == $TAG{FLAG}) { %r = (tag => 'FLAG', conn => $u->(), kind => $u->(), detail => $str->()) }
        elsif ($tag == $TAG{CLOSE}) { %r = (tag => 'CLOSE', conn => $u->()) }
        else { die sprintf("unknown record tag 0x%02x at %d", $tag, $pos - 1) }
        push @out, \%r;
    }
    return @out;
}

sub value_str {
    my ($v) = @_;
    my ($t, $x) = @$v;
    return $t if $t eq 'UNDEF';
    return "DOUBLE(" . unpack('H*', pack('d<', $x)) . ")" if $t eq 'DOUBLE';
    return "$t(" . unpack('H*', $x) . ")" if $t eq 'BLOB' || $t eq 'STRING';
    return "$t($x)";
}

1;
