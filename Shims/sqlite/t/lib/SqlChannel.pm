package SqlChannel;
# A small decoder of the channel stream for the SQLite records (Docs/channel-format.md).
# decode($bytes) -> list of hashes { tag => 'PREPARE', ... }. Non-SQL records are not expected.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(decode read_log value_str);

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
        my $t = ord substr($buf, $pos++, 1);
        return ['UNDEF'] if $t == 0;
        return ['INT', $s->()] if $t == 1;
        return ['UINT', $u->()] if $t == 2;
        return ['DOUBLE', unpack('d<', $bytes->(8))] if $t == 3;
        return ['STRING', $str->()] if $t == 4;
        return ['UTF8', $str->()] if $t == 5;
        return ['BLOB', $str->()] if $t == 6;
        return ['ZEROBLOB', $u->()] if $t == 7;
        die "bad value tag $t at $pos";
    };
    my @out;
    while ($pos < $len) {
        my $tag = ord substr($buf, $pos++, 1);
        my %r;
        if ($tag == 0x20) { %r = (tag => 'CONN', conn => $u->(), file => $str->()) }
        elsif ($tag == 0x21) {
            %r = (tag => 'PREPARE', id => $u->(), conn => $u->(), sql => $str->());
            my $n = $u->(); $r{read} = [map { $str->() } 1 .. $n];
            my $m = $u->(); $r{write} = [map { $str->() } 1 .. $m];
        }
        elsif ($tag == 0x22) { %r = (tag => 'EXEC', id => $u->()); my $n = $u->(); $r{binds} = [map { $val->() } 1 .. $n] }
        elsif ($tag == 0x23) { %r = (tag => 'DONE', id => $u->(), rc => $u->(), rows => $u->(), changes => $s->(), digest => unpack('H*', $bytes->(16))) }
        elsif ($tag == 0x24) { %r = (tag => 'CLOCK', ms => $s->()) }
        elsif ($tag == 0x25) { %r = (tag => 'RANDOM', bytes => $str->()) }
        elsif ($tag == 0x26) { %r = (tag => 'SEED', n => $u->(), bytes => $str->()) }
        elsif ($tag == 0x27) { %r = (tag => 'TRIGGER', conn => $u->(), text => $str->()) }
        elsif ($tag == 0x28) { %r = (tag => 'FLAG', conn => $u->(), kind => $u->(), detail => $str->()) }
        elsif ($tag == 0x29) { %r = (tag => 'CLOSE', conn => $u->()) }
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
