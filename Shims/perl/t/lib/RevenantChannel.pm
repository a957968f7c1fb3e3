package RevenantChannel;
# Pure-Perl decoder of the Revenant channel byte stream (Docs/channel-format.md), for the tests,
# plus helpers to run perl with and without the shim.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(decode decode_file statements ops reports run_perl shim_lib slurp);
use lib (($ENV{REVENANT_SOURCE_ROOT} // die "REVENANT_SOURCE_ROOT not set\n") . '/Shims/lib');
use RevenantHeader qw(channel_names);

# Record and value tags by the names the channel header gives them.
my %TAG = reverse %{ channel_names('REC_') };
my %VALUE = %{ channel_names('VAL_') };
my %REPORT = %{ channel_names('REPLAY_') };

sub slurp { my ($f) = @_; open my $h, '<:raw', $f or die "$f: $!"; local $/; my $d = <$h>; defined $d ? $d : '' }

sub shim_lib {
    my $lib = $ENV{REVENANT_SHIM_LIB};
    die "REVENANT_SHIM_LIB not set (run via build.sh --test)\n" unless $lib && -e "$lib/auto/Revenant/Shim/Shim.so";
    return $lib;
}

# decode(bytes) -> list of records: { tag => NAME, ... }
sub decode {
    my ($buf) = @_;
    my $pos = 0;
    my $len = length $buf;
    my $u = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            die "truncated varint at $pos\n" if $pos >= $len;
            my $b = ord substr($buf, $pos++, 1);
            $v += ($b & 0x7f) * (2 ** $shift);
            last unless $b & 0x80;
            $shift += 7;
        }
        return $v;
    };
    my $s = sub { my $n = $u->(); my $r = substr($buf, $pos, $n); die "truncated string\n" if length($r) != $n; $pos += $n; $r };
    my $z = sub { my $v = $u->(); ($v % 2) ? -(($v + 1) / 2) : $v / 2 };
    my $val = sub {
        my $tag = ord substr($buf, $pos++, 1);
        my $t = $VALUE{$tag} // die "bad value tag $tag at $pos\n";
        return { t => 'undef', v => undef } if $t eq 'UNDEF';
        return { t => 'int', v => $z->() } if $t eq 'INT';
        return { t => 'uint', v => $u->() } if $t eq 'UINT';
        if ($t eq 'DOUBLE') { my $d = unpack 'd<', substr($buf, $pos, 8); $pos += 8; return { t => 'double', v => $d } }
        return { t => 'string', v => $s->() } if $t eq 'STRING';
        if ($t eq 'UTF8') { my $x = $s->(); utf8::decode($x); return { t => 'utf8', v => $x } }
        die "value tag $tag ($t) at $pos is not a Perl value\n";
    };
    my (@recs, %file, %str, %ctx, %opname);
    my ($cur_ctx, $cur_line) = (0, 0);
    while ($pos < $len) {
        my $at = $pos;
        my $tag = ord substr($buf, $pos++, 1);
        my $r;
        if ($tag >= $TAG{STMT_DELTA}) {
            $cur_line += $tag - ($TAG{STMT_DELTA} + 64);   # a delta of -64..+63
            $r = { tag => 'STMT', ctx => $cur_ctx, line => $cur_line, delta => 1 };
        } elsif ($tag == $TAG{START}) { $r = { tag => 'START', version => $u->(), interp => $s->(), zero => $s->() } }
        elsif ($tag == $TAG{STR}) { my $id = $u->(); $str{$id} = $s->(); $r = { tag => 'STR', id => $id, str => $str{$id} } }
        elsif ($tag == $TAG{FILE}) {
            my $id = $u->(); my $path = $s->(); my $kind = ord substr($buf, $pos++, 1);
            my $dig = '';
            if ($kind == 1) { $dig = unpack 'H*', substr($buf, $pos, 32); $pos += 32 }
            $file{$id} = $path;
            $r = { tag => 'FILE', id => $id, path => $path, kind => $kind, digest => $dig };
        }
        elsif ($tag == $TAG{CONTEXT}) { my %c = (id => $u->(), file => $u->(), pkg => $u->(), sub => $u->()); $ctx{$c{id}} = \%c; $r = { tag => 'CONTEXT', %c } }
        elsif ($tag == $TAG{STMT}) { $cur_ctx = $u->(); $cur_line = $u->(); $r = { tag => 'STMT', ctx => $cur_ctx, line => $cur_line } }
        elsif ($tag == $TAG{OP_BEGIN}) { my $op = $u->(); $r = { tag => 'OP_BEGIN', op => $op, name => $opname{$op} } }
        elsif ($tag == $TAG{OP_END}) {
            my $op = $u->(); my $errno = $u->(); my $n = $u->();
            my @v = map { $val->() } 1 .. $n;
            $r = { tag => 'OP_END', op => $op, name => $opname{$op}, errno => $errno, values => \@v };
        }
        elsif ($tag == $TAG{ENV}) { my $n = $u->(); my @kv = map { ($s->(), $s->()) } 1 .. $n; $r = { tag => 'ENV', pairs => \@kv } }
        elsif ($tag == $TAG{ARGV}) { my $n = $u->(); $r = { tag => 'ARGV', args => [map { $s->() } 1 .. $n] } }
        elsif ($tag == $TAG{HASH}) {
            my $seed = $s->(); my ($lo, $hi) = unpack 'VV', substr($buf, $pos, 8); $pos += 8;
            $r = { tag => 'HASH', seed => unpack('H*', $seed), rand_bits => $hi * 4294967296 + $lo, enabled => ord substr($buf, $pos++, 1) };
        }
        elsif ($tag == $TAG{SEED}) { $r = { tag => 'SEED', seed => $u->() } }
        elsif ($tag == $TAG{OPNAME}) { my $op = $u->(); $opname{$op} = $s->(); $r = { tag => 'OPNAME', op => $op, name => $opname{$op} } }
        else { die sprintf "bad record tag 0x%02x at offset %d\n", $tag, $at }
        $r->{offset} = $at;
        if ($r->{tag} eq 'STMT') {
            my $c = $ctx{$r->{ctx}} or die "STMT with undefined context $r->{ctx}\n";
            $r->{file} = $file{$c->{file}};
            $r->{package} = $str{$c->{pkg}};
            $r->{sub} = $c->{sub} ? $str{$c->{sub}} : '';
        }
        push @recs, $r;
    }
    return @recs;
}

sub decode_file { decode(slurp($_[0])) }

# "file:line" or "file:line:sub" for each statement whose file matches $filter (a regex)
sub statements {
    my ($filter, @recs) = @_;
    return map { "$_->{file}:$_->{line}" . ($_->{sub} ne '' ? ":$_->{sub}" : '') }
           grep { $_->{tag} eq 'STMT' && $_->{file} =~ $filter } @recs;
}

# OP_END records of the named ops, as [ values... ] (plain perl values)
sub ops {
    my ($name, @recs) = @_;
    return map { [ map { $_->{v} } @{$_->{values}} ] } grep { $_->{tag} eq 'OP_END' && $_->{name} eq $name } @recs;
}

# run_perl(shim => 0|1, log => path|undef, args => [...], stdin => str, env => {}, dir => cwd)
# -> { out, err, status }
sub run_perl {
    my (%o) = @_;
    require File::Temp;
    my $tmp = File::Temp->newdir;
    my @cmd = ($^X);
    push @cmd, '-I', shim_lib(), '-MRevenant::Shim' if $o{shim};
    push @cmd, @{$o{args} || []};
    my $in = "$tmp/in";
    { open my $h, '>:raw', $in or die; print $h (defined $o{stdin} ? $o{stdin} : ''); close $h }
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', $in or die; open STDOUT, '>', "$tmp/out" or die; open STDERR, '>', "$tmp/err" or die;
        chdir $o{dir} or die "chdir $o{dir}: $!" if $o{dir};
        delete $ENV{REVENANT_SHIM_LOG};
        $ENV{REVENANT_SHIM_LOG} = $o{log} if defined $o{log};
        %ENV = (%ENV, %{$o{env} || {}});
        exec @cmd or die "exec: $!";
    }
    waitpid $pid, 0;
    my $st = $?;
    return { out => slurp("$tmp/out"), err => slurp("$tmp/err"),
             status => ($st & 127) ? 128 + ($st & 127) : $st >> 8 };
}

# reports(bytes) -> list of [KIND, statement number, text]: the fast replay's REPLAY records, KIND
# by the header's name (HIT, DIVERGED, DONE, FAILED, STOPPED).
sub reports {
    my ($bytes) = @_;
    my @r;
    my $p = 0;
    my $u = sub { my ($v, $s) = (0, 0); while (1) { my $b = ord substr($bytes, $p++, 1); $v |= ($b & 0x7f) << $s; last unless $b & 0x80; $s += 7 } $v };
    while ($p < length $bytes) {
        my $tag = ord substr($bytes, $p++, 1);
        die sprintf("not a REPLAY record: 0x%02x\n", $tag) unless $tag == $TAG{REPLAY};
        my $kind = ord substr($bytes, $p++, 1);
        my $seq = $u->();
        my $n = $u->();
        push @r, [$REPORT{$kind} // die("bad report kind $kind\n"), $seq, substr($bytes, $p, $n)];
        $p += $n;
    }
    @r;
}

1;
