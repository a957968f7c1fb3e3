-- 100k inserts via a recursive CTE inside a transaction, plus 20k individual-style inserts,
-- aggregates over them and an UPDATE/DELETE of many rows.
PRAGMA page_size = 4096;
CREATE TABLE big(id INTEGER PRIMARY KEY, val INTEGER, txt TEXT, grp INTEGER);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO big(id, val, txt, grp)
SELECT x, (x * 7919) % 100003, printf('row-%06d-%s', x, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 5)), x % 17 FROM c;
COMMIT;
.headers on
.mode column
SELECT count(*) AS n, min(val) AS mn, max(val) AS mx, sum(val) AS total, round(avg(val), 4) AS average FROM big;
SELECT grp, count(*) AS n, sum(val) AS s FROM big GROUP BY grp ORDER BY grp;
SELECT txt FROM big WHERE id IN (1, 2, 50000, 99999, 100000) ORDER BY id;
BEGIN;
UPDATE big SET val = -val WHERE grp = 3;
DELETE FROM big WHERE id % 10 = 0;
COMMIT;
SELECT count(*) AS remaining, sum(val < 0) AS negatives FROM big;
CREATE TABLE many(k INTEGER, v TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x + 1 FROM c LIMIT 20000)
INSERT INTO many SELECT x, hex(x * x) FROM c;
COMMIT;
SELECT count(*), sum(length(v)), max(v) FROM many;
PRAGMA integrity_check;
PRAGMA page_count;
