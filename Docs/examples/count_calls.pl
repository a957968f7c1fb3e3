#!/usr/bin/perl
# How many calls of each syscall the program made (a monitor in Perl, core modules only): every call
# is a notification; the table goes to revenant's stdout through `print` requests, written when
# the last call (exit_group) is seen.
#
#     revenant monitor run.rvt -- perl Docs/examples/count_calls.pl
use strict;
use warnings;
use JSON::PP;

$| = 1;
my $json = JSON::PP->new->canonical;
my $id = 0;
sub receive { my $line = <STDIN>; defined $line or die "count_calls.pl: revenant closed the protocol\n"; $json->decode($line) }
sub ask {
    my (%request) = @_;
    print $json->encode({%request, id => ++$id}), "\n";
    my $reply = receive();
    die "count_calls.pl: $reply->{error}\n" if $reply->{type} eq 'error';
    return $reply->{result};
}

my $hello = receive();
die "count_calls.pl: protocol $hello->{protocol}, not 1\n" unless $hello->{protocol} == 1;
ask(request => 'subscribe', kind => 'syscall', filter => '*');
ask(request => 'continue');
my %count;
while (1) {
    my $m = receive();
    last if $m->{type} eq 'end';
    my ($name) = $m->{details}{call} =~ /^(\w+)\(/;
    $count{$name}++;
    if ($name eq 'exit_group' || $name eq 'exit') {
        for my $n (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count) {
            ask(request => 'print', text => sprintf("%8d %s", $count{$n}, $n));
        }
    }
    ask(request => 'continue');
}
