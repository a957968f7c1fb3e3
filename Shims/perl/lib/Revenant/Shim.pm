# Revenant::Shim — loads the Revenant recording shim (Shim.xs) and then hides itself.
#
# Used as `perl -I DIR -MRevenant::Shim ...`. On purpose this file loads no module (no strict,
# no XSLoader/DynaLoader.pm: they would appear in %INC), declares no package and no global, and
# boots the XS part by hand with the DynaLoader functions built into perl. Afterwards %INC, @INC,
# the symbol table and %ENV look as they would without it. See Docs/channel-format.md.
{
    my ($dir, $so, $i);
    $i = 0;
    for my $d (@INC) {
        if (!ref $d && -e "$d/auto/Revenant/Shim/Shim.so") { $dir = $d; $so = "$d/auto/Revenant/Shim/Shim.so"; last }
        $i++;
    }
    die "Revenant::Shim: auto/Revenant/Shim/Shim.so not found in \@INC\n" unless defined $so;

    # hide: our %INC entry, the -I directory that held us, the variables that loaded us
    delete $INC{'Revenant/Shim.pm'};
    splice @INC, $i, 1;
    if (defined $ENV{PERL5OPT} && $ENV{PERL5OPT} =~ /\A\s*-[mM]Revenant::Shim\s*\z/) { delete $ENV{PERL5OPT} }
    if (defined $ENV{PERL5LIB} && $ENV{PERL5LIB} eq $dir) { delete $ENV{PERL5LIB} }

    my $booted_dl = !defined &DynaLoader::dl_load_file;
    DynaLoader::boot_DynaLoader('DynaLoader') if $booted_dl;
    my $lib = DynaLoader::dl_load_file($so, 0)
        or die "Revenant::Shim: cannot load $so: " . DynaLoader::dl_error() . "\n";
    my $sym = DynaLoader::dl_find_symbol($lib, 'boot_Revenant__Shim')
        or die "Revenant::Shim: no boot symbol in $so\n";
    my $boot = DynaLoader::dl_install_xsub('Revenant::Shim::bootstrap', $sym, $so);
    &$boot('Revenant::Shim');
    undef $boot;    # so that the CV dies with its glob below (no __ANON__ left behind)

    # hide the symbols: the stash dl_install_xsub created, the DynaLoader functions we booted
    # (XSLoader boots them again when needed). The -M switch's own BEGIN leaves a main::BEGIN
    # glob, as any `use` in the script would (deleting it would leave main::__ANON__ instead).
    # Only deletions from here on: the XS part reads the hash state at the first statement.
    delete $main::{'Revenant::'};
    if ($booted_dl) { delete $DynaLoader::{$_} for qw(dl_load_file dl_unload_file dl_find_symbol dl_undef_symbols dl_install_xsub dl_error CLONE) }
}
1;
