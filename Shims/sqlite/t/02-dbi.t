# DBI + DBD::SQLite (libsqlite3 loaded RTLD_LOCAL): SQL_EXEC bindings are exact. DBD decides
# itself how to bind a perl value (text unless typed, and more), so each logged binding is
# compared with what SQLite stored from it, read back type and bits exactly.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use SqlChannel qw(decode read_log);

my $SHIM = $ENV{REVENANT_SQLITE_SHIM} or plan skip_all => 'REVENANT_SQLITE_SHIM not set';
eval { require DBD::SQLite; 1 } or plan skip_all => 'no DBD::SQLite';
my $dir = tempdir(CLEANUP => 1);
my $script = <<'PERL';
use DBI;
my $dbh = DBI->connect("dbi:SQLite:dbname=$ARGV[0]", "", "", { RaiseError => 1, AutoCommit => 1 });
$dbh->do("CREATE TABLE v(k INTEGER PRIMARY KEY, i, d, t, b, n)");
my $sth = $dbh->prepare("INSERT INTO v(i, d, t, b, n) VALUES(?, ?, ?, ?, ?)");
$sth->bind_param(1, 9007199254740993, DBI::SQL_INTEGER());
$sth->bind_param(2, 0.1 + 0.2, DBI::SQL_DOUBLE());
$sth->bind_param(3, "a\0b\x{e9}");
$sth->bind_param(4, "\x00\xff\x01bin", DBI::SQL_BLOB());
$sth->bind_param(5, undef);
$sth->execute;
my $nz = unpack("d<", pack("H*", "0000000000000080"));
$sth->execute(-5, $nz, "", "x", 9**9**9);
$sth->execute(0.1 + 0.2, 1e300 * 10, "\x{263a}", undef, -1);
my $sth2 = $dbh->prepare("INSERT INTO v(i, d) VALUES(?, ?)");
$sth2->execute(0.1 + 0.2, "0.30000000000000004");
# what SQLite stored, exactly
my $cols = join ", ", map { "typeof($_), CASE WHEN typeof($_) IN ('text','blob') THEN hex($_) ELSE $_ END" } qw(i d t b n);
my $rows = $dbh->selectall_arrayref("SELECT $cols FROM v ORDER BY k");
for my $r (@$rows) {
    my @o;
    for (my $c = 0; $c < @$r; $c += 2) {
        my ($ty, $v) = @$r[$c, $c + 1];
        push @o, $ty eq 'real' ? "real:" . unpack("H*", pack("d<", $v))
               : $ty eq 'integer' ? "integer:$v"
               : $ty eq 'null' ? "null" : "$ty:" . ($v // '');
    }
    print join(" ", @o), "\n";
}
my $r = $dbh->selectall_arrayref("SELECT i FROM v WHERE k > ? LIMIT ?", undef, 1, 10);
print scalar(@$r), "\n";
$dbh->disconnect;
PERL
open my $fh, '>', "$dir/s.pl" or die; print $fh $script; close $fh;
my $plain = `perl '$dir/s.pl' '$dir/y.db'`;
my $out = `LD_PRELOAD='$SHIM' REVENANT_SHIM_LOG='$dir/log' perl '$dir/s.pl' '$dir/x.db'`;
is($?, 0, 'script ran');
is($out, $plain, 'same output with and without the shim');
my @lines = split /\n/, $out;
my $count = pop @lines;
my @r = decode(read_log("$dir/log"));
my %sql = map { ($_->{id} => $_->{sql}) } grep { $_->{tag} eq 'PREPARE' } @r;
my @ins = map { $_->{binds} } grep { $_->{tag} eq 'EXEC' && ($sql{$_->{id}} // '') =~ /^INSERT INTO v/ } @r;
is(scalar @ins, 4, 'four executions of the inserts');

# The stored form of a bound value (column affinity: none, so it is stored as bound).
sub stored {
    my ($v) = @_;
    my ($t, $x) = @$v;
    return 'null' if $t eq 'UNDEF';
    return "integer:$x" if $t eq 'INT';
    return 'real:' . unpack('H*', pack('d<', $x)) if $t eq 'DOUBLE';
    return 'text:' . uc unpack('H*', $x) if $t eq 'STRING';
    return 'blob:' . uc unpack('H*', $x) if $t eq 'BLOB';
    return "?$t";
}
for my $k (0 .. $#ins) {
    my @want = split / /, $lines[$k];
    my @b = @{$ins[$k]};
    push @b, (['UNDEF']) x (5 - @b);
    my @got = map { stored($_) } @b;
    # the second insert binds two columns; the others read back NULL
    is_deeply(\@got, \@want, "execution " . ($k + 1) . ": logged bindings are what SQLite stored")
        or diag explain \@got, \@want;
}
ok((grep { $_->[0] eq 'DOUBLE' && unpack('H*', pack('d<', $_->[1])) eq '0000000000000080' } map { @$_ } @ins) ||
   (grep { $_->[0] eq 'INT' && $_->[1] == 0 } map { @$_ } @ins), '-0.0 as DBD bound it');
ok((grep { $_->[0] eq 'STRING' && $_->[1] eq "a\0b\xe9" } map { @$_ } @ins), 'text with a NUL kept whole');
ok((grep { $_->[0] eq 'BLOB' && $_->[1] eq "\x00\xff\x01bin" } map { @$_ } @ins), 'blob raw');
ok((grep { $_->[0] eq 'INT' && $_->[1] == 9007199254740993 } map { @$_ } @ins), '2**53+1 exact');
my ($sel) = grep { $_->{tag} eq 'EXEC' && ($sql{$_->{id}} // '') =~ /^SELECT i FROM v/ } @r;
is(scalar @{$sel->{binds}}, 2, 'select: two bindings');
my ($seldone) = grep { $_->{tag} eq 'DONE' && $_->{id} == $sel->{id} } @r;
is($seldone->{rows}, $count, 'select: rows as the script saw them');
my @conn = grep { $_->{tag} eq 'CONN' } @r;
is(scalar @conn, 1, 'one connection');
is((grep { $_->{tag} eq 'CLOSE' } @r)[0]{conn}, $conn[0]{conn}, 'closed');
done_testing;
