-- Schema introspection and .dump: tables with various types, index, view, trigger, quoting edge cases.
CREATE TABLE t1(id INTEGER PRIMARY KEY, name TEXT, amount REAL, data BLOB, flag INTEGER DEFAULT 1);
CREATE TABLE "weird name"("col with space" TEXT, "quote""col" TEXT);
CREATE INDEX t1_name ON t1(name);
CREATE VIEW v1 AS SELECT name, amount FROM t1 WHERE flag;
CREATE TRIGGER t1_ai AFTER INSERT ON t1 BEGIN UPDATE t1 SET flag = 0 WHERE id = NEW.id AND NEW.amount < 0; END;
INSERT INTO t1(name, amount, data) VALUES
  ('plain', 1.5, x'0102'),
  ('it''s quoted', -2.25, NULL),
  ('newline
inside', 1e100, x''),
  (NULL, 0.1, zeroblob(3)),
  ('unicode ☃ é', 3, 'text in blob col');
INSERT INTO "weird name" VALUES ('a b', 'x"y'), (NULL, '');
.tables
.schema
.dump
.dump t1
.schema --indent v1
.databases
SELECT name, type, tbl_name FROM sqlite_schema ORDER BY name;
PRAGMA table_info(t1);
