-- Views and triggers: AFTER INSERT/UPDATE/DELETE audit triggers, BEFORE trigger with RAISE(ABORT),
-- INSTEAD OF trigger on a view, views over joins and aggregates.
CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT UNIQUE, stock INTEGER NOT NULL, price REAL);
CREATE TABLE audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT, product TEXT, detail TEXT);
CREATE TRIGGER trg_ins AFTER INSERT ON products BEGIN
  INSERT INTO audit(action, product, detail) VALUES ('insert', NEW.name, 'stock=' || NEW.stock);
END;
CREATE TRIGGER trg_upd AFTER UPDATE OF stock ON products WHEN OLD.stock <> NEW.stock BEGIN
  INSERT INTO audit(action, product, detail) VALUES ('update', NEW.name, OLD.stock || '->' || NEW.stock);
END;
CREATE TRIGGER trg_del AFTER DELETE ON products BEGIN
  INSERT INTO audit(action, product, detail) VALUES ('delete', OLD.name, NULL);
END;
CREATE TRIGGER trg_guard BEFORE UPDATE OF stock ON products WHEN NEW.stock < 0 BEGIN
  SELECT RAISE(ABORT, 'stock cannot go negative');
END;
CREATE VIEW low_stock AS SELECT name, stock FROM products WHERE stock < 5;
CREATE VIEW inventory_value AS SELECT count(*) AS items, sum(stock) AS units, round(sum(stock * price), 2) AS value FROM products;
CREATE VIEW product_entry AS SELECT name, stock, price FROM products;
CREATE TRIGGER trg_view_ins INSTEAD OF INSERT ON product_entry BEGIN
  INSERT INTO products(name, stock, price) VALUES (upper(NEW.name), coalesce(NEW.stock, 0), NEW.price);
END;
INSERT INTO products(name, stock, price) VALUES ('apple', 10, 0.5), ('pear', 3, 0.75), ('plum', 0, 1.25);
UPDATE products SET stock = stock + 7 WHERE name = 'pear';
UPDATE products SET price = 0.55 WHERE name = 'apple';
DELETE FROM products WHERE name = 'plum';
INSERT INTO product_entry(name, stock, price) VALUES ('kiwi', 2, 0.3), ('fig', NULL, 2.0);
.headers on
.mode column
SELECT * FROM products ORDER BY id;
SELECT * FROM audit ORDER BY seq;
SELECT * FROM low_stock ORDER BY name;
SELECT * FROM inventory_value;
UPDATE products SET stock = -1 WHERE name = 'apple';
SELECT name, stock FROM products WHERE name = 'apple';
SELECT name, type FROM sqlite_schema WHERE type IN ('view', 'trigger') ORDER BY type, name;
DROP VIEW low_stock;
DROP TRIGGER trg_del;
DELETE FROM products WHERE name = 'KIWI';
SELECT count(*) AS audit_rows FROM audit;
SELECT name, seq FROM sqlite_sequence;
