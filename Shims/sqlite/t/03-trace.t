# The application's own tracing keeps working: CLI .trace FILE writes the same file with and
# without the shim; DBI sqlite_trace / sqlite_profile callbacks still get their calls.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use SqlChannel qw(decode read_log);

my $SHIM = $ENV{REVENANT_SQLITE_SHIM} or plan skip_all => 'REVENANT_SQLITE_SHIM not set';
my $dir = tempdir(CLEANUP => 1);
chdir $dir or die;
my $session = <<'SQL';
.trace out.txt
CREATE TABLE t(a, b);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;
INSERT INTO t VALUES(1, 'x');
SELECT * FROM t;
.trace off
INSERT INTO t VALUES(2, 'y');
.trace out2.txt --expanded
SELECT * FROM t WHERE a > 0;
SQL
open my $fh, '>', 's.sql' or die; print $fh $session; close $fh;
sub slurp { my ($f) = @_; open my $h, '<:raw', $f or return undef; local $/; my $d = <$h>; return $d // '' }
my @runs;
for my $shim (0, 1) {
    mkdir "r$shim";
    my $pre = $shim ? "LD_PRELOAD='$SHIM' REVENANT_SHIM_LOG='$dir/log'" : '';
    my $o = `cd r$shim && $pre /usr/bin/sqlite3 test.db < ../s.sql 2>&1`;
    push @runs, [$o, slurp("r$shim/out.txt"), slurp("r$shim/out2.txt")];
}
ok(length $runs[0][1], 'native .trace wrote its file');
is($runs[1][0], $runs[0][0], 'CLI output identical');
is($runs[1][1], $runs[0][1], '.trace FILE identical with the shim');
is($runs[1][2], $runs[0][2], '.trace --expanded FILE identical with the shim');
my @r = decode(read_log("$dir/log"));
my @p = grep { $_->{tag} eq 'PREPARE' } @r;
ok((grep { $_->{sql} eq "INSERT INTO t VALUES(2, 'y');" } @p), 'statements after .trace off still logged');
is(scalar(grep { $_->{tag} eq 'TRIGGER' } @r), 4, 'trigger entries still logged while the app traces');

SKIP: {
    eval { require DBD::SQLite; 1 } or skip 'no DBD::SQLite', 4;
    my $script = <<'PERL';
use DBI;
my $dbh = DBI->connect("dbi:SQLite:dbname=:memory:", "", "", { RaiseError => 1 });
my (@t, @p);
$dbh->sqlite_trace(sub { push @t, $_[0] });
$dbh->do("CREATE TABLE t(a)");
$dbh->do("INSERT INTO t VALUES(?)", undef, 42);
$dbh->sqlite_trace(undef);
$dbh->do("INSERT INTO t VALUES(7)");
$dbh->sqlite_profile(sub { push @p, $_[0] });
$dbh->selectall_arrayref("SELECT * FROM t");
$dbh->sqlite_profile(undef);
print join("|", @t), "\n", join("|", @p), "\n";
PERL
    open my $fh, '>', 'd.pl' or die; print $fh $script; close $fh;
    my $plain = `perl d.pl`;
    my $with = `LD_PRELOAD='$SHIM' REVENANT_SHIM_LOG='$dir/log2' perl d.pl`;
    like($plain, qr/INSERT INTO t VALUES\('42'\)/, 'native: DBI trace sees the expanded statement');
    is($with, $plain, 'DBI sqlite_trace / sqlite_profile get the same calls with the shim');
    my @r2 = decode(read_log("$dir/log2"));
    ok((grep { $_->{tag} eq 'PREPARE' && $_->{sql} eq 'INSERT INTO t VALUES(7)' } @r2), 'statements logged while untraced');
    ok((grep { $_->{tag} eq 'PREPARE' && $_->{sql} eq 'SELECT * FROM t' } @r2), 'statements logged while profiled');
}
done_testing;
