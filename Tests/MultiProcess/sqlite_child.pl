# perl running sqlite3 on a database the parent also writes (DBD::SQLite), one after the other.
use strict; use warnings;
use DBI;
$| = 1;
unlink 'shared.db';
my $db = DBI->connect('dbi:SQLite:dbname=shared.db', '', '', { RaiseError => 1, AutoCommit => 1 });
$db->do('create table t (who text, n integer)');
$db->do('insert into t values (?, ?)', undef, 'perl', $_) for 1 .. 3;
system('sqlite3', 'shared.db', "insert into t values ('sqlite3', 10); insert into t values ('sqlite3', 20);") == 0
    or die "sqlite3: $?";
my ($sum) = $db->selectrow_array('select sum(n) from t');
print "sum after the child: $sum\n";
$db->do('update t set n = n * 2 where who = ?', undef, 'sqlite3');
print `sqlite3 shared.db "select who, sum(n) from t group by who order by who"`;
$db->disconnect;
unlink 'shared.db';
