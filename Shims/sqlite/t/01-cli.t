# A CLI session: every statement once, in order, with rc/rows/changes; triggers as TRIGGER;
# random values equal what the CLI printed; a CLOCK inside datetime('now'); SEED once.
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
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);
CREATE TABLE log(x);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES(new.b); END;
INSERT INTO t VALUES(1,'one',1.5);
BEGIN;
INSERT INTO t VALUES(2,'two',2.5),(3,'three',3.5);
UPDATE t SET c=c*2 WHERE a>1;
COMMIT;
DELETE FROM t WHERE a=3;
SELECT random(), hex(randomblob(4)), datetime('now');
SELECT * FROM t ORDER BY a;
INSERT INTO t VALUES(1,'dup',0);
SELECT count(*) FROM nosuch;
SELECT 'end';
SQL
open my $fh, '>', 'session.sql' or die; print $fh $session; close $fh;
my $out = `LD_PRELOAD='$SHIM' REVENANT_SHIM_LOG='$dir/log' /usr/bin/sqlite3 test.db < session.sql 2>err.txt`;
my @r = decode(read_log("$dir/log"));
ok(@r > 0, 'records decoded');

my @prep = grep { $_->{tag} eq 'PREPARE' } @r;
my @expect = grep { $_ ne '' && !/nosuch/ } split /\n/, $session;
is_deeply([map { $_->{sql} } @prep], \@expect, 'every statement once, in order (compile errors absent)');
is_deeply([map { $_->{id} } @prep], [1 .. @prep], 'dense statement ids');
my %sql_of = map { ($_->{id} => $_->{sql}) } @prep;

# each statement: PREPARE, EXEC, DONE in sequence (nested records in between allowed)
my (%done, %exec);
for my $x (@r) {
    $exec{$x->{id}}++ if $x->{tag} eq 'EXEC';
    $done{$x->{id}} = $x if $x->{tag} eq 'DONE';
}
is(scalar(grep { ($exec{$_->{id}} // 0) == 1 && $done{$_->{id}} } @prep), scalar @prep, 'one EXEC and one DONE per statement');
my %by_sql = map { ($sql_of{$_} => $done{$_}) } keys %done;
my $d = sub { $by_sql{$_[0]} };
is($d->("INSERT INTO t VALUES(1,'one',1.5);")->{changes}, 1, 'insert: changes 1');
is($d->("INSERT INTO t VALUES(2,'two',2.5),(3,'three',3.5);")->{changes}, 2, 'multi-row insert: changes 2');
is($d->("UPDATE t SET c=c*2 WHERE a>1;")->{changes}, 2, 'update: changes 2');
is($d->("DELETE FROM t WHERE a=3;")->{changes}, 1, 'delete: changes 1');
is($d->("CREATE TABLE log(x);")->{changes}, 0, 'DDL: changes 0');
is($d->("SELECT * FROM t ORDER BY a;")->{rows}, 2, 'select: 2 rows');
is($d->("SELECT * FROM t ORDER BY a;")->{rc}, 101, 'select: SQLITE_DONE');
is($d->("INSERT INTO t VALUES(1,'dup',0);")->{rc}, 1555, 'failing insert: SQLITE_CONSTRAINT_PRIMARYKEY');
isnt($d->("UPDATE t SET c=c*2 WHERE a>1;")->{digest}, '0' x 32, 'update: row-change digest');
is($d->("BEGIN;")->{digest}, '0' x 32, 'BEGIN: no row changes');

my @trig = grep { $_->{tag} eq 'TRIGGER' } @r;
is(scalar @trig, 6, 'trigger entries: 3 rows x (TRIGGER + body)');
ok(!(grep { $_->{sql} =~ /^--/ } @prep), 'trigger entries are not statements');
is($trig[0]{text}, '-- TRIGGER tr', 'trigger entry text');

is(scalar(grep { $_->{tag} eq 'SEED' } @r), 1, 'SEED once');

# random values: inside the random() statement's EXEC..DONE, equal to what the CLI printed
my ($rid) = map { $_->{id} } grep { $_->{sql} =~ /random\(\)/ } @prep;
my ($in, @rand, @clock) = (0);
for my $x (@r) {
    $in = 1 if $x->{tag} eq 'EXEC' && $x->{id} == $rid;
    $in = 0 if $x->{tag} eq 'DONE' && $x->{id} == $rid;
    push @rand, $x if $in && $x->{tag} eq 'RANDOM';
    push @clock, $x if $in && $x->{tag} eq 'CLOCK';
}
my ($line) = grep { /\|/ && /-/ } split /\n/, $out;
my ($rv, $hex, $now) = split /\|/, $line;
is(scalar @rand, 2, 'two RANDOM records in the random() statement');
is(unpack('q<', $rand[0]{bytes}), $rv, 'random() value as printed');
is(uc unpack('H*', $rand[1]{bytes}), $hex, 'randomblob(4) bytes as printed');
is(scalar @clock, 1, "a CLOCK inside datetime('now')");
my $ms = $clock[0]{ms};
my $unix = int(($ms - 210866760000000) / 1000);
my @g = gmtime $unix;
my $fmt = sprintf('%04d-%02d-%02d %02d:%02d:%02d', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]);
is($fmt, $now, "CLOCK value gives the printed datetime('now')");

my @conn = grep { $_->{tag} eq 'CONN' } @r;
is(scalar @conn, 1, 'one CONN');
like($conn[0]{file}, qr{/test\.db$}, 'CONN filename');
is($r[-1]{tag}, 'CLOSE', 'CLOSE last');
is_deeply($d->("INSERT INTO t VALUES(1,'one',1.5);")->{$_} // [], [], 'n/a') for ();
my ($ins) = grep { $_->{sql} eq "INSERT INTO t VALUES(1,'one',1.5);" } @prep;
is_deeply($ins->{write}, ['t', 'log'], 'tables written (trigger included)');
my ($upd) = grep { $_->{sql} =~ /^UPDATE/ } @prep;
is_deeply($upd->{read}, ['t'], 'tables read');

# bind_value (the CLI's .parameter): exact double and blob
{
    my $p = ".parameter init\n.parameter set \$x 0.1+0.2\n.parameter set \$y x'00ff'\nSELECT \$x, \$y, :z;\n";
    open my $ph, '>', 'p.sql' or die; print $ph $p; close $ph;
    `LD_PRELOAD='$SHIM' REVENANT_SHIM_LOG='$dir/plog' /usr/bin/sqlite3 :memory: < p.sql`;
    my @pr = decode(read_log("$dir/plog"));
    my ($sp) = grep { $_->{tag} eq 'PREPARE' && $_->{sql} =~ /^SELECT \$x/ } @pr;
    my ($ex) = grep { $_->{tag} eq 'EXEC' && $_->{id} == $sp->{id} } @pr;
    is(unpack('H*', pack('d<', $ex->{binds}[0][1])), '343333333333d33f', 'bound 0.1+0.2 bit-exact (the CLI prints 0.3)');
    is_deeply($ex->{binds}[1], ['BLOB', "\x00\xff"], 'bound blob');
    is_deeply($ex->{binds}[2], ['UNDEF'], 'unbound parameter');
}
done_testing;
