# question: the item after which the running total passes 100 (inputs read by Storable's C code)
# when: $total > 100
# print: $total;$item->{name}
use strict;
use warnings;
use Storable qw(retrieve);
my $cart = retrieve('cart.storable');
my $total = 0;
my $item;
for $item (@{ $cart->{items} }) {
    $total += $item->{price} * $item->{qty};
}
print "total $total\n";
