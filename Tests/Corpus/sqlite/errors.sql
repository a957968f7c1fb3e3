-- Error cases: constraint violations (UNIQUE, NOT NULL, CHECK, FOREIGN KEY), syntax errors,
-- missing table; the shell prints "Parse error"/"Runtime error" on stderr, continues with the
-- next statement, and exits with status 1 at the end.
PRAGMA foreign_keys = ON;
CREATE TABLE parent(id INTEGER PRIMARY KEY, code TEXT UNIQUE NOT NULL, qty INTEGER CHECK (qty >= 0));
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
INSERT INTO parent VALUES (1, 'a', 1), (2, 'b', 2);
SELECT 'before errors', count(*) FROM parent;
INSERT INTO parent VALUES (3, 'a', 3);
INSERT INTO parent VALUES (4, NULL, 4);
INSERT INTO parent VALUES (5, 'e', -5);
INSERT INTO parent VALUES (1, 'dup-pk', 0);
INSERT INTO child VALUES (1, 99);
INSERT INTO child VALUES (2, 1);
DELETE FROM parent WHERE id = 1;
SELEKT * FROM parent;
SELECT * FROM no_such_table;
SELECT no_such_column FROM parent;
INSERT INTO parent VALUES (6, 'f');
BEGIN;
INSERT INTO parent VALUES (7, 'g', 7);
INSERT INTO parent VALUES (8, 'g', 8);
COMMIT;
INSERT OR IGNORE INTO parent VALUES (9, 'a', 9);
INSERT OR REPLACE INTO parent VALUES (2, 'b2', 20);
SELECT 'after errors', id, code, qty FROM parent ORDER BY id;
SELECT 'children', count(*) FROM child;
SELECT 1/0, 'division by zero is NULL';
SELECT CAST('abc' AS INTEGER), abs(-9223372036854775807 - 1) IS NULL;
SELECT 'last statement runs';
