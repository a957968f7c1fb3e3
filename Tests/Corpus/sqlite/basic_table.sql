-- CREATE TABLE, INSERT, UPDATE, DELETE, SELECT with the shell's output modes and headers.
CREATE TABLE items(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  price REAL,
  qty INTEGER DEFAULT 0,
  note TEXT
);
INSERT INTO items(name, price, qty, note) VALUES
  ('widget', 2.50, 10, NULL),
  ('gadget', 13.99, 3, 'fragile'),
  ('doohickey', 0.75, 120, 'bulk, cheap'),
  ('thingamajig', 99.00, 1, 'has "quotes"'),
  ('whatsit', NULL, 0, 'price unknown');
UPDATE items SET qty = qty + 5 WHERE name = 'gadget';
DELETE FROM items WHERE name = 'whatsit';
.headers on
.mode list
SELECT * FROM items ORDER BY id;
.mode csv
SELECT * FROM items ORDER BY name;
.mode column
SELECT id, name, price, qty FROM items ORDER BY price DESC;
.mode box
SELECT name, price * qty AS total FROM items ORDER BY total;
.mode markdown
SELECT name, length(name) AS len FROM items ORDER BY len, name;
.mode json
SELECT id, name, note FROM items ORDER BY id;
.mode line
SELECT count(*) AS n, sum(qty) AS total_qty, round(avg(price), 3) AS avg_price FROM items;
.mode insert items_copy
SELECT * FROM items WHERE id <= 2 ORDER BY id;
.mode tabs
.headers off
SELECT name, qty FROM items ORDER BY qty;
.mode quote
SELECT name, price, note FROM items ORDER BY id;
.nullvalue <null>
.mode list
.separator " | "
SELECT id, note FROM items ORDER BY id;
SELECT typeof(id), typeof(name), typeof(price), typeof(note) FROM items ORDER BY id LIMIT 1;
SELECT changes(), total_changes();
