#!/usr/bin/env bash
# `make demo`: what Revenant can do so far, on this machine, step by step.
set -u
BIN=${1:-.build/release/revenant}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
work=$(mktemp -d /tmp/revenant-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "The machine: which hypervisor and trap strategy" "revenant info"
"$BIN" info

step "Unmodified /usr/bin/perl inside the VM (no guest kernel: the VMM is the kernel)" \
     "revenant run -v -- perl -MList::Util=sum -e 'print \"sum=\", sum(1..100), \"\\n\"'"
"$BIN" run -v -- perl -MList::Util=sum -e 'print "sum=", sum(1..100), "\n"'

step "sqlite3 with a file database in the working directory (read-write)" \
     "revenant run -- sqlite3 demo.db < session.sql"
cat > session.sql <<'SQL'
create table t(id integer primary key, name text);
insert into t(name) values ('alpha'), ('beta'), ('gamma');
select id, name, length(name) from t order by name desc;
SQL
"$BIN" run -- sqlite3 demo.db < session.sql
echo "(on the host afterwards: $(sqlite3 demo.db 'select count(*) from t') rows in demo.db)"

step "The sandbox: the host is read-only, /tmp is private, /proc/self is the program's" \
     "revenant run -- perl -e '...'"
"$BIN" run -- perl -e 'open(my $f, ">", "/etc/revenant-demo") or print "write /etc: $!\n";
    open($f, ">", "/tmp/private.txt") and print "write /tmp: ok (private to this run)\n";
    print "readlink /proc/self/exe: ", readlink("/proc/self/exe"), "\n"'
[ -e /tmp/private.txt ] && echo "LEAK: /tmp/private.txt on the host" || echo "(the host's /tmp has no private.txt)"

step "Signals: a handler, an alarm that interrupts a sleep, the exit status (same as natively)" \
     "revenant run -- perl -e '\$| = 1; \$SIG{USR1} = ...; kill USR1 => \$\$; \$SIG{ALRM} = sub { die ... }; alarm 1; sleep 5'"
"$BIN" run -- perl -e '$| = 1; $SIG{USR1} = sub { print "USR1 handled\n" }; kill USR1 => $$;
    $SIG{ALRM} = sub { die "alarm fired after 1 s\n" }; alarm 1; sleep 5'
echo "exit status $? (die in a signal handler exits with \$! = EINTR = 4, as natively)"

step "A crash is reported with rip, symbol and faulting address; the status is 128+SIGSEGV" \
     "revenant run -- ./crash"
printf '#include <stdio.h>\nint main(void){ volatile int *p = 0; printf("about to crash\\n"); fflush(stdout); return *p; }\n' > crash.c
cc -O0 -o crash crash.c && "$BIN" run -- ./crash
echo "exit status $?"

step "Child processes: system, backticks, a pipeline, exec — one VMM per guest process" \
     "revenant run -- perl -e 'system(...); print \`... | sort | uniq -c\`; exec ...'"
"$BIN" run -- perl -e '$| = 1; system("sh", "-c", "exit 3"); print "system: exit ", $? >> 8, "\n";
  print `printf "b\na\nb\n" | sort | uniq -c`; exec "/bin/echo", "exec: the program replaced"'

step "Child processes recorded and replayed: parent and child write at once; the replay interleaves them as recorded" \
     "revenant record -o kids.rvt -- perl -e 'fork; print ...'; revenant replay kids.rvt; revenant replay --pid CHILD kids.rvt"
"$BIN" record -o kids.rvt -- perl -e '$| = 1; my $p = fork // die; print $p ? "parent $_\n" : "child $_\n" for 1 .. 4;
    exit 7 unless $p; waitpid $p, 0; print "child ended with ", $? >> 8, "\n"' > recorded.txt
cat recorded.txt
"$BIN" replay kids.rvt > replayed.txt && cmp -s recorded.txt replayed.txt && echo "-- replay: the same bytes, in the same order"
"$BIN" info kids.rvt | grep '^processes'
child=$("$BIN" info --json kids.rvt | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][1]["pid"])')
echo "-- replay --pid $child (the child alone):"
"$BIN" replay --pid "$child" kids.rvt
echo "exit status $?"

step "An unsupported syscall: ENOSYS and one line naming it (threads)" \
     "revenant run -- perl -Mthreads -e 'threads->create(sub {}) or print \"no thread\\n\"'"
"$BIN" run -- perl -Mthreads -e 'threads->create(sub {}) or print "no thread\n"' 2>&1 | grep -v "^Thread creation"

step "Record a run that reads the clock, randomness, its pid and a file; replay it after the file is gone" \
     "revenant record -o run.rvt -- perl -e '...'; rm input.txt; revenant replay run.rvt"
echo "a line from a file" > input.txt
"$BIN" record -o run.rvt -- perl -e 'open F, "<", "input.txt" or die; print scalar <F>;
    print "time ", time, ", rand ", rand(), ", pid $$\n"'
rm input.txt
echo "-- replayed (input.txt deleted):"
"$BIN" replay run.rvt
echo "exit status $?"

step "What the trace holds, and its syscalls, without replaying" "revenant info run.rvt; revenant log run.rvt syscalls --where 'path=input*'"
"$BIN" info run.rvt
"$BIN" log run.rvt syscalls --where 'path=input*'

step "The Perl shim logged every statement live, and Revenant threw the log away; regen brings it back by replay" \
     "revenant regen run.rvt; revenant log run.rvt perl"
"$BIN" regen run.rvt
"$BIN" log run.rvt perl | grep -v '^    %ENV'

step "A script whose input bypasses perl's ops (XS reading a file itself): regen says the fast Perl replay cannot be trusted" \
     "revenant record -o md5.rvt -- perl -MDigest::MD5 -e '...addfile...'; revenant regen md5.rvt"
echo "some data" > data.txt
"$BIN" record -o md5.rvt -- perl -MDigest::MD5 -e 'open my $f, "<", "data.txt" or die; print Digest::MD5->new->addfile($f)->hexdigest, "\n"'
"$BIN" regen md5.rvt | tail -1

step "The SQLite shim: the query log of a Perl script using DBI, each statement with the Perl line that ran it" \
     "revenant record -o bank.rvt -- perl bank.pl; revenant log bank.rvt sql --where table=accounts"
cat > bank.pl <<'PERL'
use DBI;
my $dbh = DBI->connect("dbi:SQLite:dbname=bank.db", "", "", { RaiseError => 1 });
$dbh->do("CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)");
my $add = $dbh->prepare("INSERT INTO accounts(owner, balance) VALUES (?, ?)");
$add->execute($_, 100) for qw(ann bob cy);
my $pay = $dbh->prepare("UPDATE accounts SET balance = balance - ? WHERE owner = ?");
$pay->execute(60, "bob");
$pay->execute(70, "bob");
$dbh->do("DELETE FROM accounts WHERE owner = 'cy'");
print "done\n";
PERL
"$BIN" record -o bank.rvt -- perl bank.pl
"$BIN" log bank.rvt sql --where table=accounts

step "Time travel: when did bob's balance go negative, and the database just before the delete" \
     "revenant sql bank.rvt --when \"SELECT balance < 0 FROM accounts WHERE owner = 'bob'\"; revenant sql bank.rvt --at 6 --restore before.db"
"$BIN" sql bank.rvt --when "SELECT balance < 0 FROM accounts WHERE owner = 'bob'"
"$BIN" sql bank.rvt --at 6 --restore before.db
echo "-- before.db: $(sqlite3 before.db "SELECT group_concat(owner || '=' || balance, ' ') FROM accounts"); bank.db now: $(sqlite3 bank.db "SELECT group_concat(owner || '=' || balance, ' ') FROM accounts")"

step "when: every open of the database, found in the VMM during a replay, with its position at three levels" \
     "revenant when bank.rvt --syscall 'openat path=*bank.db'"
"$BIN" when bank.rvt --syscall 'openat path=*bank.db'

step "Perl-level replay, both forms: the first statement where a lexical goes negative (fast: perl runs the script again, fed from the log; VM: variables read from perl's memory)" \
     "revenant perl loan.rvt --when '\$balance < 0' --print '\$balance, @history'; ... --path vm"
cat > loan.pl <<'PERL'
my $balance = 100;
my @history;
sub pay {
    my ($n) = @_;
    $balance -= $n;
    push @history, $n;
}
pay($_) for 30, 50, 40, 10;
print "balance $balance\n";
PERL
"$BIN" record -o loan.rvt -- perl loan.pl
"$BIN" perl loan.rvt --when '$balance < 0' --print '$balance, @history'
"$BIN" perl loan.rvt --path vm --when '$balance < 0' --print '$balance, @history'

step "Breakpoints: every time line 5 ran, with values; the same question through when --perl" \
     "revenant perl loan.rvt --break loan.pl:5 --print '\$n, \$balance'; revenant when loan.rvt --perl '@history >= 3'"
"$BIN" perl loan.rvt --break loan.pl:5 --print '$n, $balance'
"$BIN" when loan.rvt --perl '@history >= 3'

step "A software breakpoint in libsqlite3: every prepare, with the Perl line that asked for it" \
     "revenant when bank.rvt --symbol sqlite3_prepare_v2"
"$BIN" when bank.rvt --symbol sqlite3_prepare_v2 | tail -4

step "Hostile input: a socket cannot reach or create anything on the host; a changed trace is refused" \
     "revenant run -- perl -MSocket -e '... bind(\$s, pack_sockaddr_un(\"/etc/evil.sock\")) ...'; revenant replay tampered.rvt"
perl -MSocket -e 'socket(my $s, AF_UNIX, SOCK_DGRAM, 0); bind($s, pack_sockaddr_un("host.sock")); sleep 5' &
sleep 0.5
"$BIN" run -- perl -MSocket -e 'socketpair(my $a, my $b, AF_UNIX, SOCK_DGRAM, 0) or die;
    print "bind /etc/evil.sock: ", (bind($a, pack_sockaddr_un("/etc/evil.sock")) ? "bound" : "$!"), "\n";
    print "send to a host socket: ", (defined(send($b, "x", 0, pack_sockaddr_un("host.sock"))) ? "sent" : "$!"), "\n"'
"$BIN" record -o tampered.rvt -- perl -e 'print 1000, "\n"' >/dev/null
blob=$(ls -S tampered.rvt/blobs | head -1)
chmod u+w "tampered.rvt/blobs/$blob" && printf 'X' | dd of="tampered.rvt/blobs/$blob" bs=1 seek=4096 conv=notrunc 2>/dev/null
"$BIN" replay tampered.rvt; echo "exit status $?"

step "Syscalls without a trap: each syscall instruction rewritten the first time it traps; the same loop through the trap" \
     "revenant run -v -- perl -e '...getppid() 20000 times...'; revenant run --syscall-path trap -- perl -e '...'"
loop='use Time::HiRes "time"; my $t = time; getppid() for 1 .. 20000; printf "%.2f us a getppid\n", (time - $t) * 5e1'
"$BIN" run -v -- perl -e "$loop" 2>&1 | grep -v -e "KVM vCPU" -e "hypervisor"
"$BIN" run --syscall-path trap -- perl -e "$loop"
echo "(natively: $(perl -e "$loop"))"

step "Start-up: revenant is a static launcher for run, record and replay (no index, no loader); other commands run in revenant-full" \
     "hyperfine -N 'revenant --help' 'revenant run -- perl -e 1' 'perl -e 1'"
hyperfine -N --warmup 3 --runs 20 "$BIN --help" "$BIN run -- perl -e 1" "perl -e 1" 2>/dev/null | grep -E "Benchmark|Time"

step "gdb on a recording, backwards: who wrote the pointer a program crashed on?" \
     "revenant record -o crash.rvt -- ./debuggee 16; gdb -batch -ex 'target remote | revenant gdb crash.rvt' -ex continue -ex 'watch slot' -ex reverse-continue"
gcc -g -O0 -o debuggee "$ROOT/Tests/Programs/debuggee.c"
"$BIN" record -o crash.rvt --shims none -- ./debuggee 16 >/dev/null 2>&1
gdb -batch -nx -ex "target remote | $BIN gdb crash.rvt" -ex continue -ex 'watch slot' -ex reverse-continue \
    -ex 'x/i $pc' 2>&1 | grep -v -e '^Reading' -e 'File transfers'

step "Files through time: a report written, renamed, then deleted — restored as it was before the rename" \
     "revenant restore files.rvt --at perl:report.pl:4 --dir then;
  revenant diff files.rvt --path out/report.txt --from perl:report.pl:2 --to perl:report.pl:4"
mkdir -p out
cat > report.pl <<'PERL'
open(my $f, '>', 'out/report.txt') or die; print $f "total: 10\n"; close $f;
open($f, '>>', 'out/report.txt') or die; print $f "checked\n"; close $f;
print "appended\n";
rename('out/report.txt', 'out/final.txt') or die;
unlink('out/final.txt') or die;
PERL
"$BIN" record -o files.rvt -- perl report.pl >/dev/null
echo "-- now: $(ls out | wc -l) files in out/"
"$BIN" restore files.rvt --at perl:report.pl:4 --dir then
find then -type f -exec sh -c 'echo "$1:"; cat "$1"' _ {} \;
"$BIN" diff files.rvt --path out/report.txt --from perl:report.pl:2 --to perl:report.pl:4
"$BIN" when files.rvt --syscall 'unlink' | sed 's/^/when: /'

step "Replicas: a bit flipped in one of three, outvoted, replaced by a fork of a healthy one; a faulty primary's place taken; two start again from a verified checkpoint" \
     "revenant run --replicas 3 --compare-every 50 --inject 'flip replica=2 event=449 addr=ADDR bit=0' -- perl loop.pl"
cat > loop.pl <<'PERL'
$| = 1; my $s = 0;
for my $i (1..3000) { $s += $i; print "$i: $s\n" if $i % 1000 == 0; my @st = stat('loop.pl'); }
PERL
"$BIN" record -o loop.rvt --shims none -- perl loop.pl >/dev/null
# perl's stat buffer: a stat call's third argument.
addr=$("$BIN" log loop.rvt syscalls --where path=loop.pl | tail -1 | sed 's/.*"loop.pl", \(0x[0-9a-f]*\),.*/\1/')
"$BIN" run --replicas 3 --compare-every 50 --inject "flip replica=2 event=449 addr=$addr bit=0" -- perl loop.pl
echo "(the primary flipped instead: a backup takes its place, cuts the log and goes on live)"
"$BIN" run --replicas 3 --compare-every 50 --inject "flip replica=0 event=449 addr=$addr bit=0" -- perl loop.pl
echo "(two replicas cannot tell which is right: both start again from the last verified checkpoint)"
"$BIN" run --replicas 2 --compare-every 50 --inject "flip replica=0 event=449 addr=$addr bit=0" -- perl loop.pl
echo "(and without checkpoints — no state comparison — a lost primary ends the run: nothing unverified leaves, exit 125)"
"$BIN" run --replicas 2 --compare-every 0 --inject "kill replica=0 event=449" -- perl loop.pl || echo "exit $?"
echo "(with --net the guest's sockets are the supervisor's too: a killed primary's connection goes on in its successor)"
cat > server.pl <<'PERL'
use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
open my $p, '>', 'port.tmp' or die; print $p $l->sockport, "\n"; close $p; rename 'port.tmp', 'port.txt';
$l->timeout(10); my $c = $l->accept or die;
syswrite($c, "a1\na2\n"); my $all = ''; while (sysread($c, my $b, 4096)) { $all .= $b }
open my $o, '>', 'got.txt' or die; print $o $all; close $o;
PERL
cat > client.pl <<'PERL'
use Socket;
open my $p, '<', 'port.txt' or die; my $port = <$p>; chomp $port; close $p;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die; connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die;
sysread($s, my $first, 3); stat('client.pl') for 1..10; sysread($s, my $second, 3);
print "got $first", "got $second"; send($s, "thanks\n", 0); close $s;
PERL
# Runs "$@" while the server waits for one connection.
served() {
    rm -f port.txt got.txt; perl server.pl & local server=$!
    while [ ! -e port.txt ]; do sleep 0.02; done
    "$@"; wait "$server"
}
served "$BIN" record --net --shims none -o net.rvt -- perl client.pl >/dev/null
# The first read of the connection (3 bytes); the primary is killed three calls later.
read1=$("$BIN" log net.rvt syscalls --where name=read | grep ', 3) = 3' | head -1 | sed 's/^#\([0-9]*\).*/\1/')
served "$BIN" run --net --replicas 3 --inject "kill replica=0 event=$((read1 + 3))" -- perl client.pl
echo "the server got: $(cat got.txt)"
echo "(fewer than two cores per replica: they take turns at the cores; -v counts the hand-overs)"
"$BIN" run -v --replicas 3 -- perl loop.pl 2>&1 >/dev/null | grep '^revenant: replicas:'

step "A monitor program of your own (any language, JSON lines): when did a hash key first hold a value; every open, with the Perl line and SQL statement around it" \
     "revenant monitor monitored.rvt -- python3 Docs/examples/first_value.py bal alice -2;
  revenant monitor monitored.rvt -- python3 Docs/examples/files_opened.py opened.sqlite"
mkdir monitored && cd monitored  # (a bank.pl of its own, a fresh bank.db)
cp "$ROOT/Tests/Monitor/bank.pl" .
"$BIN" record -o monitored.rvt -- perl bank.pl >/dev/null
"$BIN" monitor monitored.rvt -- python3 "$ROOT/Docs/examples/first_value.py" bal alice -2
"$BIN" monitor monitored.rvt -- python3 "$ROOT/Docs/examples/files_opened.py" opened.sqlite
sqlite3 -column -header opened.sqlite \
    "SELECT event, path, result, perl, perl_caller, sql FROM opened WHERE path LIKE '%ledger%' OR path LIKE '%.db'"
cd ..

step "revenant dap: an editor's debugger on the recording — a conditional breakpoint, two steps back, a die" \
     "a DAP client (Tests/DAP/client.py, as VS Code or nvim-dap would) driving revenant dap loop.rvt"
mkdir dap && cd dap
cp "$ROOT/Tests/DAP/loop.pl" .
"$BIN" record -o loop.rvt -- perl loop.pl >/dev/null
python3 "$ROOT/Tests/DAP/client.py" "$BIN" loop.rvt seen.json
python3 - <<'PY'
import json
s = json.load(open("seen.json"))
for k, what in [("second", "breakpoint at line 12 where $i == 4"), ("back1", "step back"), ("back2", "step back")]:
    f = s[k]["frames"][0]
    print(f"{what:38} -> {f[0]} at {f[1]}:{f[2]}, $count{{even}} = {s[k].get('count', s[k]['locals'].get('%count'))}")
d = s["died"]
print(f"{'exception breakpoint (die)':38} -> line {d['frames'][0][1]}: {d['text']}")
PY
cd ..

printf '\nMore: README.md (every command), Docs/ (how each part works, what the tests check), make test.\n'
