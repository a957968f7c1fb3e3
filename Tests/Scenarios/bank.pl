# question: the first statement where the balance is negative (a lexical, changed in a sub)
# when: $balance < 0
# print: $balance;$count
use strict;
use warnings;
my $balance = 100;
our $count = 0;
my @ledger;
sub withdraw {
    my ($amount) = @_;
    $balance -= $amount;
    push @ledger, -$amount;
    $count++;
    return $balance;
}
sub deposit { my $n = shift; $balance += $n; push @ledger, $n; $count++ }
for my $op (30, 50, 40, -100, 90, 20) {
    if ($op < 0) { deposit(-$op) } else { withdraw($op) }
    printf "after %d: %d\n", $op, $balance;
}
print "transactions: $count\n";
