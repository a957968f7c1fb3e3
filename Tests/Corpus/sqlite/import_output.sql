-- Shell I/O: .import of a CSV fixture, .read of a SQL fixture, .output/.once writing files into
-- the working directory, .print, .echo, .bail off, .changes, .timer off.
.bail off
.print starting session
.import --csv people.csv people
SELECT count(*) AS imported FROM people;
SELECT name, dept FROM people WHERE CAST(salary AS INTEGER) > 100000 ORDER BY name;
.read extra.sql
SELECT k, v FROM extra ORDER BY v DESC;
.headers on
.mode csv
.once export.csv
SELECT id, name, salary FROM people ORDER BY CAST(id AS INTEGER);
.mode list
.output multi.txt
SELECT 'line one';
.print printed into the file
SELECT 'line two';
.output stdout
.print back on stdout
.echo on
SELECT 'echoed statement';
.echo off
.changes on
UPDATE extra SET v = v * 10;
.changes off
.mode table
SELECT * FROM extra ORDER BY k;
.print done
