# question: the line that first read the config file (a syscall seen at the Perl level)
# syscall: openat path=*app.conf
# previous: config.pl
# when: grep { (readlink($_) // '') =~ m{app\.conf$} } glob('/proc/self/fd/*')
use strict;
use warnings;
my %defaults = (port => 80, host => 'localhost');
sub load {
    my ($path) = @_;
    my %c = %defaults;
    open(my $fh, '<', $path) or return \%c;
    while (my $l = <$fh>) {
        chomp $l;
        next if $l =~ /^#/;
        my ($k, $v) = split /\s*=\s*/, $l, 2;
        $c{$k} = $v;
    }
    close $fh;
    return \%c;
}
my $greeting = "starting";
print "$greeting\n";
my $config = load('app.conf');
print "port $config->{port} host $config->{host}\n";
