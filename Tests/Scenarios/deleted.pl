# question: the query that deleted bob's account (SQL level, with the Perl line that ran it)
# sql: SELECT count(*) = 0 FROM accounts WHERE owner = 'bob'
# previous: deleted.pl
# only: deleted.pl
# when: $dbh && !$dbh->selectrow_array("SELECT count(*) FROM accounts WHERE owner = 'bob'")
use strict;
use warnings;
use DBI;
unlink 'bank.db';
my $dbh = DBI->connect('dbi:SQLite:dbname=bank.db', '', '', { RaiseError => 1, PrintError => 0 });
$dbh->do('CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)');
my $add = $dbh->prepare('INSERT INTO accounts(owner, balance) VALUES (?, ?)');
$add->execute($_->[0], $_->[1]) for ['ann', 10], ['bob', 0], ['cy', 5];
my @idle = @{ $dbh->selectcol_arrayref('SELECT owner FROM accounts WHERE balance = 0') };
for my $who (@idle) {
    $dbh->do('DELETE FROM accounts WHERE owner = ?', undef, $who);
}
my ($left) = $dbh->selectrow_array('SELECT count(*) FROM accounts');
print "accounts left: $left\n";
$dbh->disconnect;
