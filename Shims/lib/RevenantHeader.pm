package RevenantHeader;
# The channel's numbers as GuestAgents/include/revenant_channel.h defines them, for the shims' test
# decoders (t/lib): they name records and values by the header's names and keep no numbers of their
# own, so the header stays the one definition of the format (Docs/channel-format.md).
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(channel_names);

# channel_names(PREFIX) -> { number => NAME } for the header's REVENANT_<PREFIX><NAME> constants,
# e.g. channel_names('REC_SQL_') gives { 0x20 => 'CONN', ... }.
sub channel_names {
    my ($prefix) = @_;
    my $root = $ENV{REVENANT_SOURCE_ROOT} or die "REVENANT_SOURCE_ROOT not set (run via build.sh --test)\n";
    my $header = "$root/GuestAgents/include/revenant_channel.h";
    open my $h, '<', $header or die "$header: $!\n";
    my %names;
    while (<$h>) {
        next unless /^\s*REVENANT_\Q$prefix\E(\w+)\s*=\s*(0x[0-9a-fA-F]+|[0-9]+)\s*,/;
        my ($name, $n) = ($1, $2);
        $names{$n =~ /^0x/ ? hex $n : $n + 0} = $name;
    }
    die "$header: no REVENANT_$prefix* constants\n" unless %names;
    return \%names;
}

1;
