# Neutrality: every sqlite corpus session gives the same stdout, stderr, exit status and final
# database (.dump for masked entries, bytes otherwise) with and without the preload; perl scripts
# that do not use SQLite behave the same.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Find;
use File::Copy qw(copy);
use File::Path qw(make_path);

my $SHIM = $ENV{REVENANT_SQLITE_SHIM} or plan skip_all => 'REVENANT_SQLITE_SHIM not set';
my $ROOT = $ENV{REVENANT_SOURCE_ROOT} or plan skip_all => 'REVENANT_SOURCE_ROOT not set';
my $CORPUS = "$ROOT/Tests/Corpus";
my $SQLITE3 = '/usr/bin/sqlite3';
my $scratch = tempdir(CLEANUP => 1);

sub slurp { my ($f) = @_; open my $h, '<:raw', $f or return undef; local $/; my $d = <$h>; return defined $d ? $d : '' }

sub copy_tree {
    my ($from, $to) = @_;
    find({ no_chdir => 1, wanted => sub {
        my $rel = substr($File::Find::name, length $from);
        return if $rel eq '';
        if (-d $_) { make_path("$to$rel") } else { copy($_, "$to$rel") or die "$_: $!" }
    } }, $from);
}

sub env_of {
    my ($file) = @_;
    my %e;
    my $d = slurp($file);
    return %e unless defined $d;
    for my $l (split /\n/, $d) {
        next if $l eq '' || $l =~ /^#/;
        my ($k, $v) = split /=/, $l, 2;
        $e{$k} = $v;
    }
    return %e;
}

sub masks_of {
    my ($file) = @_;
    my $d = slurp($file);
    return () unless defined $d;
    return map { qr/$_/m } grep { $_ ne '' && !/^#/ } split /\n/, $d;
}

# Run one session in DIR; returns { status, out, err, files => { rel => content } }
sub run_session {
    my ($name, $dir, $preload, $log, $masks) = @_;
    make_path($dir);
    copy_tree("$CORPUS/fixtures", $dir);
    my %env = env_of("$CORPUS/sqlite/$name.env");
    my $pid = fork // die;
    if (!$pid) {
        chdir $dir or die;
        $ENV{$_} = $env{$_} for keys %env;
        if ($preload) { $ENV{LD_PRELOAD} = $SHIM; $ENV{REVENANT_SHIM_LOG} = $log }
        open STDIN, '<', "$CORPUS/sqlite/$name.sql" or die;
        open STDOUT, '>', "$dir.out" or die;
        open STDERR, '>', "$dir.err" or die;
        exec $SQLITE3, 'test.db' or die;
    }
    waitpid $pid, 0;
    my $st = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my %files;
    my $norm = sub {
        my ($d) = @_;
        $d =~ s/\Q$dir\E/<CWD>/g;
        $d =~ s/$_/<MASKED>/g for @$masks;
        return $d;
    };
    find({ no_chdir => 1, wanted => sub {
        return unless -f $_ && !-l $_;
        my $rel = substr($File::Find::name, length $dir);
        my $c = slurp($_);
        if (@$masks && substr($c, 0, 16) eq "SQLite format 3\0") {
            $c = `$SQLITE3 '$_' .dump 2>&1`;
        }
        $files{$rel} = $norm->($c);
    } }, $dir);
    return { status => $st, out => $norm->(slurp("$dir.out")), err => $norm->(slurp("$dir.err")), files => \%files };
}

opendir my $dh, "$CORPUS/sqlite" or die;
my @names = sort map { /^(.*)\.sql$/ ? $1 : () } readdir $dh;
ok(@names >= 10, 'corpus sessions found');
for my $name (@names) {
    my @masks = masks_of("$CORPUS/sqlite/$name.mask");
    # equal-length working directories, as the corpus harness uses
    my $a = run_session($name, "$scratch/$name/native", 0, undef, \@masks);
    my $b = run_session($name, "$scratch/$name/shimmed", 1, "$scratch/$name.log", \@masks);
    is($b->{status}, $a->{status}, "$name: exit status");
    is($b->{out}, $a->{out}, "$name: stdout");
    is($b->{err}, $a->{err}, "$name: stderr");
    is_deeply([sort keys %{$b->{files}}], [sort keys %{$a->{files}}], "$name: same files");
    for my $f (sort keys %{$a->{files}}) {
        ok(defined $b->{files}{$f} && $b->{files}{$f} eq $a->{files}{$f}, "$name: $f identical");
    }
    ok(-s "$scratch/$name.log", "$name: the shim logged");
}

# perl without SQLite: same output, LD_PRELOAD and REVENANT_SHIM_LOG invisible
{
    my $prog = 'print join(",", map { "$_=" . ($ENV{$_} // "") } qw(LD_PRELOAD REVENANT_SHIM_LOG)), "\n"; print scalar(@ARGV), "\n"; my %h = (a=>1,b=>2); print join(",", sort keys %h), "\n"; print $$ > 0 ? "pid\n" : "";';
    my $plain = `perl -e '$prog' x y`;
    local $ENV{LD_PRELOAD} = $SHIM;
    local $ENV{REVENANT_SHIM_LOG} = "$scratch/perl.log";
    my $with = `perl -e '$prog' x y`;
    is($with, $plain, 'perl without SQLite: same behaviour, the preload hidden');
    is(-s "$scratch/perl.log", 0, 'perl without SQLite: nothing logged');
}
{
    local $ENV{LD_PRELOAD} = "/lib/x86_64-linux-gnu/libm.so.6:$SHIM";
    my $out = `perl -e 'print \$ENV{LD_PRELOAD} // "unset"' 2>/dev/null`;
    is($out, '/lib/x86_64-linux-gnu/libm.so.6', 'LD_PRELOAD keeps the other entries');
}
done_testing;
