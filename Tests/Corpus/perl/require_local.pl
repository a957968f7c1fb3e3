# require/use of a module from the working directory (lib/ fixture), do FILE, %INC, import lists,
# require of a missing module (error text), version checks.
use strict;
use warnings;
use lib 'lib';
use Revenant::Greeter qw(greet shout);

my $g = Revenant::Greeter->new(name => 'VM');
print $g->hello, "\n", $g->hello, "\n";
print greet('tester'), " / ", shout('tester'), "\n";
print "VERSION=", Revenant::Greeter->VERSION, " line=$Revenant::Greeter::LOADED_AT_LINE\n";
print "INC entry: $INC{'Revenant/Greeter.pm'}\n";
my $ok = eval { Revenant::Greeter->VERSION(9); 1 };
print "version 9 check: ", ($ok ? "passed" : "failed: " . ($@ =~ s/ at .*//sr)), "\n";
my $ret = do './helper.pl';
die "do failed: ", ($@ || $!) unless $ret;
print "do returned answer=$ret->{answer} list=@{$ret->{list}} helper_sum=", helper_sum(1 .. 10), " loaded=$main::HELPER_LOADED\n";
my $missing = eval { require Revenant::Missing; 1 };
my ($first) = split /\n/, $@;
$first =~ s/\(\@INC[^)]*\)/(\@INC ...)/;
print "require missing: ", ($missing ? "loaded?!" : $first), "\n";
eval { require 'nonexistent_file.pl' }; print "require file missing: ", ($@ =~ /^(Can't locate nonexistent_file\.pl)/ ? $1 : $@), "\n";
for my $m (qw(List::Util Scalar::Util POSIX Fcntl File::Spec Carp)) {
    (my $f = "$m.pm") =~ s{::}{/}g;
    eval "require $m; 1" or die $@;
    print "required $m: ", (exists $INC{$f} ? "in %INC" : "missing"), "\n";
}
use Carp qw(croak carp);
sub checked { croak "bad argument" unless $_[0] }
eval { checked(0) }; print "croak: $@";
print "sorted INC keys with Revenant: ", join(",", sort grep { /Revenant|helper/ } keys %INC), "\n";
