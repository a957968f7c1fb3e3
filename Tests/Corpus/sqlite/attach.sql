-- ATTACH a second database file in the working directory, create and fill a table there,
-- cross-database joins and INSERT ... SELECT, DETACH, then re-attach under another name.
CREATE TABLE main_users(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO main_users VALUES (1, 'ann'), (2, 'ben'), (3, 'cy');
ATTACH DATABASE 'other.db' AS other;
CREATE TABLE other.orders(id INTEGER PRIMARY KEY, user_id INTEGER, item TEXT, amount INTEGER);
INSERT INTO other.orders(user_id, item, amount) VALUES (1, 'book', 12), (1, 'pen', 2), (3, 'lamp', 30), (4, 'ghost', 1);
.headers on
.mode column
.databases
SELECT u.name, o.item, o.amount FROM main_users u JOIN other.orders o ON o.user_id = u.id ORDER BY u.name, o.item;
SELECT u.name, coalesce(sum(o.amount), 0) AS total FROM main_users u LEFT JOIN other.orders o ON o.user_id = u.id GROUP BY u.id ORDER BY u.id;
BEGIN;
INSERT INTO other.orders(user_id, item, amount) SELECT id, 'welcome gift', 0 FROM main_users;
UPDATE main_users SET name = upper(name);
COMMIT;
CREATE TABLE main.summary AS SELECT user_id, count(*) AS n FROM other.orders GROUP BY user_id ORDER BY user_id;
SELECT * FROM summary;
SELECT name FROM other.sqlite_schema;
DETACH DATABASE other;
SELECT count(*) FROM other.orders;
ATTACH 'other.db' AS again;
SELECT count(*) AS orders_again FROM again.orders;
ATTACH 'third.db' AS third;
CREATE TABLE third.copy AS SELECT * FROM again.orders WHERE amount > 0;
SELECT count(*) AS copied FROM third.copy;
DETACH again;
DETACH third;
.databases
