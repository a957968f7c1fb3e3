# sqlite3 run by the shell, several times, on one database: a table made, filled in a transaction
# from a here-document, read back; the exit status of a failing statement.
use strict; use warnings;
$| = 1;
unlink 'shell.db';
(system q{sqlite3 shell.db "create table kv (k text primary key, v integer)"}) == 0 or die;
(system q{sqlite3 shell.db <<'SQL'
begin;
insert into kv values ('a', 1), ('b', 2), ('c', 3);
update kv set v = v * 10 where k != 'b';
commit;
SQL
}) == 0 or die;
print `sqlite3 shell.db 'select k, v from kv order by k'`;
my $status = system q{sqlite3 shell.db "insert into kv values ('a', 5)" 2>/dev/null};
print "duplicate key: exit ", $? >> 8, "\n";
print `sqlite3 shell.db 'select count(*), sum(v) from kv'`;
unlink 'shell.db';
