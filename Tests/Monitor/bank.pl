use strict;
use DBI;
my $dbh = DBI->connect("dbi:SQLite:dbname=bank.db", "", "", {RaiseError => 1, AutoCommit => 1});
$dbh->do("CREATE TABLE acct(name TEXT PRIMARY KEY, bal INTEGER)");
$dbh->do("INSERT INTO acct VALUES('alice', 10), ('bob', 5)");
my %bal = (alice => 10, bob => 5);
for my $i (1..4) {
    $bal{alice} -= 4;
    $bal{bob} += 4;
    $dbh->do("UPDATE acct SET bal = bal - 4 WHERE name = 'alice'");
    $dbh->do("UPDATE acct SET bal = bal + 4 WHERE name = 'bob'");
    open(my $fh, '>>', 'ledger.txt') or die;
    print $fh "alice=$bal{alice}\n";
    close $fh;
}
print "alice=$bal{alice} bob=$bal{bob}\n";
