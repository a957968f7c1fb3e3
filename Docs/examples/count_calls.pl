#!/usr/bin/perl
# How many calls of each syscall the program made: a monitor in Perl, core modules only (JSON::PP).
#
#     revenant monitor run.rvt -- perl Docs/examples/count_calls.pl
#
# One subscription, {"kind":"syscall","filter":"*"}: every call of the followed process is a
# notification; the name is `details.call` up to its first "(". The table (count, name; most
# frequent first) has to be sent before `end`, as revenant reads no request after it: it goes to
# revenant's stdout through `print` requests at the process's last call, exit_group. When there
# was none (the process killed by a signal, or a `stop`), the table goes to stderr after `end`.
use strict;
use warnings;
use JSON::PP;

$| = 1;                                     # every line flushed
my $json = JSON::PP->new->utf8->canonical;  # lines are UTF-8 bytes both ways
my $id = 0;

sub fail { my ($message, $status) = @_; print STDERR "count_calls.pl: $message\n"; exit($status // 1) }

sub receive {
    my $line = <STDIN>;
    fail("revenant closed the protocol") unless defined $line;
    return $json->decode($line);
}

# One request; its result. Between a request and its answer revenant sends nothing else; an
# error answer ends the monitor.
sub ask {
    my (%request) = @_;
    $id++;
    print $json->encode({%request, id => $id}), "\n";
    my $answer = receive();
    my $type = $answer->{type} // '';
    if (($type ne 'reply' && $type ne 'error') || (defined $answer->{id} && $answer->{id} != $id)) {
        fail("expected the answer to request $id ($request{request}), revenant sent " . $json->encode($answer));
    }
    fail("$request{request} refused: $answer->{error}") if $type eq 'error';
    return $answer->{result};
}

my $hello = receive();
fail("expected hello, revenant sent " . ($hello->{type} // '?')) unless ($hello->{type} // '') eq 'hello';
fail("this monitor speaks protocol 1, revenant speaks " . ($hello->{protocol} // 'none'), 2)
    unless ($hello->{protocol} // 0) == 1;
ask(request => 'subscribe', kind => 'syscall', filter => '*');
ask(request => 'continue');

my (%count, $printed);
sub table { map { sprintf("%8d %s", $count{$_}, $_) } sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count }
while (1) {
    my $m = receive();
    if ($m->{type} eq 'end') {
        print STDERR map { "$_\n" } table() unless $printed;
        exit 0;
    }
    fail("expected a notification, revenant sent " . $json->encode($m)) unless $m->{type} eq 'notification';
    my ($name) = $m->{details}{call} =~ /^([^(]+)\(/;
    $count{$name // '?'}++;
    if (($name // '') eq 'exit_group') {
        ask(request => 'print', text => $_) for table();
        $printed = 1;
    }
    ask(request => 'continue');
}
