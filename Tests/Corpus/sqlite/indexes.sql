-- Indexes: EXPLAIN QUERY PLAN before/after CREATE INDEX, unique/partial/expression indexes,
-- covering index, ANALYZE, a query that uses the index, and DROP INDEX.
CREATE TABLE emp(id INTEGER PRIMARY KEY, name TEXT, dept TEXT, salary INTEGER, email TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
INSERT INTO emp SELECT x, 'emp' || x, 'dept' || (x % 50), 30000 + (x * 37) % 90000, 'e' || x || '@example.com' FROM c;
EXPLAIN QUERY PLAN SELECT * FROM emp WHERE dept = 'dept7';
CREATE INDEX idx_emp_dept ON emp(dept);
EXPLAIN QUERY PLAN SELECT * FROM emp WHERE dept = 'dept7';
SELECT count(*), min(salary), max(salary) FROM emp WHERE dept = 'dept7';
CREATE UNIQUE INDEX idx_emp_email ON emp(email);
EXPLAIN QUERY PLAN SELECT id FROM emp WHERE email = 'e500@example.com';
SELECT id, name FROM emp WHERE email = 'e500@example.com';
CREATE INDEX idx_emp_dept_salary ON emp(dept, salary);
EXPLAIN QUERY PLAN SELECT dept, salary FROM emp WHERE dept = 'dept3' AND salary > 100000;
SELECT count(*) FROM emp WHERE dept = 'dept3' AND salary > 100000;
CREATE INDEX idx_emp_lower ON emp(lower(name));
EXPLAIN QUERY PLAN SELECT id FROM emp WHERE lower(name) = 'emp42';
CREATE INDEX idx_emp_high ON emp(salary) WHERE salary > 110000;
EXPLAIN QUERY PLAN SELECT count(*) FROM emp WHERE salary > 115000;
SELECT count(*) FROM emp WHERE salary > 115000;
EXPLAIN QUERY PLAN SELECT dept, count(*) FROM emp GROUP BY dept ORDER BY dept;
ANALYZE;
SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx;
.indexes emp
DROP INDEX idx_emp_lower;
EXPLAIN QUERY PLAN SELECT id FROM emp WHERE lower(name) = 'emp42';
SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name;
PRAGMA index_info(idx_emp_dept_salary);
