-- random(), randomblob() and datetime('now') stored in a table: the db file differs between runs,
-- so this session has a mask and the harness compares `.dump` text with the masks applied.
CREATE TABLE events(id INTEGER PRIMARY KEY, token TEXT, blobby BLOB, at TEXT, fixed TEXT);
INSERT INTO events(token, blobby, at, fixed) VALUES
  ('R' || random(), randomblob(8), datetime('now'), 'one'),
  ('R' || random(), randomblob(8), datetime('now'), 'two'),
  ('R' || random(), randomblob(8), datetime('now'), 'three');
.headers on
.mode column
SELECT id, typeof(token) AS t, length(blobby) AS bl, length(at) AS al, fixed FROM events ORDER BY id;
SELECT typeof(random()) AS rtype, random() = random() AS same_twice, abs(random() % 10) < 10 AS in_range;
SELECT count(DISTINCT token) > 0 AS ok FROM events;
SELECT datetime('now') AS now_masked;
SELECT date('now') >= '2020-01-01' AS after_2020, julianday('now') > 2458849.5 AS jd_ok;
SELECT strftime('%Y', 'now') + 0 >= 2020 AS year_ok;
