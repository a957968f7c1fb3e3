# Storable: store/retrieve to a file in cwd (canonical so the bytes are deterministic), nstore,
# freeze/thaw, dclone of nested data with shared references.
use strict;
use warnings;
use Storable qw(store retrieve nstore freeze thaw dclone);
use Data::Dumper;
$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Indent = 1;
$Storable::canonical = 1;

my $shared = [1, 2, 3];
my $data = { list => $shared, again => $shared, hash => { map { ("k$_" => $_ * 1.5) } 1 .. 10 }, str => "hello\x00world", undef => undef, num => 12345678901 };
store($data, 'data.sto') or die "store: $!";
nstore($data, 'data.nsto') or die "nstore: $!";
print "stored sizes: ", -s 'data.sto', " ", -s 'data.nsto', "\n";
my $r1 = retrieve('data.sto');
my $r2 = retrieve('data.nsto');
print "retrieved equal: ", (Dumper($r1) eq Dumper($data) ? "yes" : "no"), " / ", (Dumper($r2) eq Dumper($data) ? "yes" : "no"), "\n";
print "shared ref preserved: ", ($r1->{list} == $r1->{again} ? "yes" : "no"), "\n";
my $frozen = freeze($data);
my $thawed = thaw($frozen);
print "freeze length=", length($frozen), " thaw ok: ", (Dumper($thawed) eq Dumper($data) ? "yes" : "no"), "\n";
my $clone = dclone($data);
$clone->{list}[0] = 'changed';
print "dclone independent: orig=$data->{list}[0] clone=$clone->{list}[0] clone.again=$clone->{again}[0]\n";
my $missing = eval { retrieve('no-such.sto') };
print "retrieve missing: ", (defined $missing ? "defined" : "undef"), " err=", ($@ =~ /^(can't open no-such\.sto: No such file or directory)/ ? $1 : $@), "\n";
print Dumper($r1);
