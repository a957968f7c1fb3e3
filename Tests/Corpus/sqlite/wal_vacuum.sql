-- Journal modes and maintenance: WAL (shared-memory -shm file, -wal file removed at close),
-- checkpoint, back to DELETE mode, user_version, VACUUM, VACUUM INTO a new file, integrity check.
PRAGMA journal_mode = WAL;
CREATE TABLE w(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
INSERT INTO w SELECT x, printf('value %d %s', x, hex(x)) FROM c;
SELECT count(*) FROM w;
PRAGMA wal_checkpoint(TRUNCATE);
DELETE FROM w WHERE id % 2 = 0;
SELECT count(*), max(id) FROM w;
PRAGMA journal_mode = DELETE;
PRAGMA user_version = 42;
PRAGMA user_version;
PRAGMA application_id = 1234;
PRAGMA freelist_count;
VACUUM;
PRAGMA freelist_count;
VACUUM INTO 'vacuumed-copy.db';
ATTACH 'vacuumed-copy.db' AS cp;
SELECT count(*), sum(id) FROM cp.w;
PRAGMA cp.user_version;
DETACH cp;
PRAGMA integrity_check;
PRAGMA journal_mode;
PRAGMA page_size;
PRAGMA encoding;
