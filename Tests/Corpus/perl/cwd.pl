# Working directory: Cwd::getcwd / abs_path / File::Spec (the harness replaces the run's own
# directory path with <CWD>), chdir into a subdirectory and back, relative vs absolute paths.
use strict;
use warnings;
use Cwd qw(getcwd abs_path);
use File::Spec;
use File::Basename qw(basename dirname fileparse);
use File::Path qw(make_path remove_tree);

my $start = getcwd();
print "cwd=$start\n";
print "abs_path(.)=", abs_path('.'), "\n";
print "rel2abs(words.txt)=", File::Spec->rel2abs('words.txt'), "\n";
print "PWD env untouched by chdir so far: ", (defined $ENV{PWD} ? "defined" : "undef"), "\n";
make_path('a/b/c') or die "make_path: $!";
chdir 'a/b' or die "chdir: $!";
print "after chdir: ", getcwd(), "\n";
open my $fh, '>', 'c/inside.txt' or die; print $fh "inside\n"; close $fh;
print "../../words.txt exists from a/b: ", (-e '../../words.txt' ? "yes" : "no"), "\n";
chdir $start or die "chdir back: $!";
print "back: ", (getcwd() eq $start ? "same" : "different"), "\n";
print "abs_path(a/b/c/inside.txt)=", abs_path('a/b/c/inside.txt'), "\n";
print "basename=", basename('/x/y/z.tar.gz'), " dirname=", dirname('/x/y/z.tar.gz'), "\n";
my ($name, $dir, $suffix) = fileparse('/x/y/z.tar.gz', qr/\.[^.]*/);
print "fileparse: name=$name dir=$dir suffix=$suffix\n";
print "catfile=", File::Spec->catfile('a', 'b', 'c.txt'), " canonpath=", File::Spec->canonpath('a//b/./c/'), "\n";
print "abs2rel=", File::Spec->abs2rel("$start/a/b/c", $start), "\n";
make_path('tmp/x/y/z');
remove_tree('tmp');
print "remove_tree: ", (-e 'tmp' ? "still there" : "gone"), "\n";
