-- Built-in functions with deterministic inputs: JSON1 (json_extract, json_each, json_group_array,
-- json_object, ->>), date/time with fixed dates, printf/format, string and math functions.
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('{"name":"alpha","tags":["x","y"],"n":1,"nested":{"ok":true}}'),
  ('{"name":"beta","tags":[],"n":2.5,"nested":{"ok":false}}'),
  ('{"name":"gamma","tags":["z"],"n":null}');
.headers on
.mode column
SELECT id, json_extract(body, '$.name') AS name, body ->> '$.n' AS n, json_array_length(body, '$.tags') AS ntags, body -> '$.nested' AS nested FROM docs ORDER BY id;
SELECT d.id, t.key, t.value FROM docs d, json_each(d.body, '$.tags') t ORDER BY d.id, t.key;
SELECT json_group_array(json_extract(body, '$.name')) AS names, json_object('count', count(*), 'valid', sum(json_valid(body))) AS stats FROM docs;
SELECT json_set('{"a":1}', '$.b', 2, '$.c', json('[3]')) AS set_, json_remove('{"a":1,"b":2}', '$.a') AS removed, json_type('{"a":[1]}', '$.a') AS t;
SELECT date('2024-02-28', '+1 day') AS leap, date('2023-02-28', '+1 day') AS noleap, datetime('2024-01-31 12:00:00', '+1 month') AS month_overflow;
SELECT strftime('%Y-%m-%d %H:%M:%S %w %j', '2023-11-14 22:13:20') AS f, strftime('%s', '2023-11-14 22:13:20') AS epoch, datetime(1700000000, 'unixepoch') AS from_epoch;
SELECT julianday('2024-01-01') - julianday('2023-01-01') AS days_2023, time('12:34:56', '+90 minutes') AS t, date('2024-03-15', 'start of month', '-1 day') AS end_feb;
SELECT printf('%5.2f|%-6s|%06d|%x|%e', 3.14159, 'ab', 42, 255, 12345.678) AS p, format('%q', 'it''s') AS q;
SELECT upper('mixed Case'), lower('MIXED'), length('héllo'), length(CAST('héllo' AS BLOB)), substr('abcdef', -3, 2), replace('a-b-c', '-', '+'), trim('  x  '), ltrim('xxy', 'x'), instr('hello', 'll'), unicode('é'), char(72, 105);
SELECT abs(-5), round(2.5), round(-2.5), round(3.14159, 3), max(1, 5, 3), min('b', 'a'), 7 / 2, 7 / 2.0, 7 % 3, typeof(7 / 2.0);
SELECT coalesce(NULL, NULL, 'third'), nullif(3, 3), ifnull(NULL, 'dflt'), iif(1 > 2, 'yes', 'no'), CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END;
SELECT 'abc' LIKE 'A%' AS like_ci, 'abc' GLOB 'A*' AS glob_cs, 'x' || 1 || 2.5 AS concat, 10 BETWEEN 1 AND 10 AS btw, 3 IN (1, 2, 3) AS inn;
SELECT sqlite_version() IS NOT NULL AS has_version, hex(9223372036854775807) AS maxint_hex, 9223372036854775807 + 1 AS overflow_real;
SELECT value, value * value AS sq FROM generate_series(1, 5);
