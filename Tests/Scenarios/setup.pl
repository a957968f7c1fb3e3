# Writes the scenarios' input files into the current directory (run natively before recording).
use strict;
use Storable qw(nstore);
open(my $c, '>', 'app.conf') or die;
print $c "# app\nport = 8080\nhost = example.org\n";
close $c;
open(my $l, '>', 'app.log') or die;
print $l "$_\n" for 'INFO start', 'ERROR disk full', 'INFO retry', 'WARN slow', 'ERROR timeout',
    'INFO retry', 'ERROR lost connection', 'INFO done', 'ERROR shutdown';
close $l;
for my $i (1 .. 6) {
    open(my $f, '>', "data$i.txt") or die;
    print $f "payload $i\n" x ($i * 7);
    close $f;
}
nstore({ items => [map { { name => "item$_", price => 7 * $_, qty => 1 + $_ % 3 } } 1 .. 8] }, 'cart.storable');
