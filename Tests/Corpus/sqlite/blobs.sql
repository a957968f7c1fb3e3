-- Blobs: x'..' literals, hex(), zeroblob, randomblob (only its length and type are printed),
-- blob comparison/concatenation/substr, CAST between text and blob.
CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB, label TEXT);
INSERT INTO b(data, label) VALUES
  (x'', 'empty'),
  (x'00', 'nul'),
  (x'DEADBEEF', 'deadbeef'),
  (x'00ff00ff7f80', 'mixed'),
  (zeroblob(16), 'zeros'),
  (CAST('hello' AS BLOB), 'text as blob');
.headers on
.mode column
SELECT id, label, hex(data) AS hexdata, length(data) AS len, typeof(data) AS type FROM b ORDER BY id;
SELECT length(randomblob(32)) AS rb_len, typeof(randomblob(8)) AS rb_type, length(hex(randomblob(10))) AS hexlen;
SELECT hex(x'0102' || x'0304') AS concat, hex(substr(x'0011223344', 2, 3)) AS sub, x'01' < x'02' AS lt, x'0100' > x'01' AS gt;
SELECT CAST(x'68656c6c6f' AS TEXT) AS as_text, hex('héllo') AS utf8hex;
SELECT label FROM b WHERE data = x'DEADBEEF';
SELECT instr(x'00112233', x'2233') AS pos, quote(x'abcd') AS quoted;
UPDATE b SET data = data || x'FF' WHERE label = 'nul';
SELECT hex(data) FROM b WHERE label = 'nul';
SELECT hex(zeroblob(4)), length(zeroblob(100000));
CREATE TABLE big_blob(id INTEGER PRIMARY KEY, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20)
INSERT INTO big_blob SELECT x, zeroblob(x * 5000) FROM c;
SELECT count(*), sum(length(payload)) FROM big_blob;
