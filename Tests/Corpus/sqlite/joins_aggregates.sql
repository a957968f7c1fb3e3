-- Joins and aggregates over the people.csv fixture (.import), GROUP BY/HAVING, window functions,
-- CTEs, correlated subqueries, LEFT JOIN with NULLs, UNION/INTERSECT/EXCEPT, group_concat.
.import --csv people.csv people_raw
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, dept TEXT, salary INTEGER, started TEXT);
INSERT INTO people SELECT CAST(id AS INTEGER), name, dept, CASE WHEN salary = '' THEN NULL ELSE CAST(salary AS INTEGER) END, started FROM people_raw;
DROP TABLE people_raw;
CREATE TABLE depts(name TEXT PRIMARY KEY, floor INTEGER, head INTEGER REFERENCES people(id));
INSERT INTO depts VALUES ('Engineering', 3, 7), ('Sales', 1, 3), ('Security', 4, 5), ('Legal', 2, NULL);
.headers on
.mode column
SELECT p.name, p.dept, d.floor FROM people p JOIN depts d ON d.name = p.dept ORDER BY d.floor, p.name;
SELECT d.name AS dept, count(p.id) AS n, coalesce(h.name, '-') AS head FROM depts d LEFT JOIN people p ON p.dept = d.name LEFT JOIN people h ON h.id = d.head GROUP BY d.name ORDER BY d.name;
SELECT p.name FROM people p LEFT JOIN depts d ON d.name = p.dept WHERE d.name IS NULL ORDER BY p.name;
SELECT dept, count(*) AS n, sum(salary) AS total, round(avg(salary), 1) AS avg, min(salary) AS min, max(salary) AS max, count(salary) AS with_salary FROM people GROUP BY dept HAVING count(*) > 1 ORDER BY total DESC;
SELECT dept, group_concat(name, ',') AS members FROM (SELECT dept, name FROM people ORDER BY name) GROUP BY dept ORDER BY dept;
SELECT name, dept, salary, rank() OVER (PARTITION BY dept ORDER BY salary DESC) AS rnk, sum(salary) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM people ORDER BY id;
SELECT name, salary, lag(name) OVER w AS prev, lead(name) OVER w AS next, ntile(3) OVER w AS tile FROM people WINDOW w AS (ORDER BY salary NULLS FIRST, id) ORDER BY salary NULLS FIRST, id;
WITH avg_by_dept AS (SELECT dept, avg(salary) AS a FROM people GROUP BY dept)
SELECT p.name, p.salary, round(a.a) AS dept_avg FROM people p JOIN avg_by_dept a USING (dept) WHERE p.salary > a.a ORDER BY p.name;
SELECT name FROM people p WHERE salary = (SELECT max(salary) FROM people q WHERE q.dept = p.dept) ORDER BY name;
SELECT dept FROM people UNION SELECT name FROM depts ORDER BY 1;
SELECT dept FROM people INTERSECT SELECT name FROM depts ORDER BY 1;
SELECT name FROM depts EXCEPT SELECT dept FROM people ORDER BY 1;
SELECT strftime('%Y', started) AS year, count(*) AS hires FROM people GROUP BY year ORDER BY year;
SELECT total(salary), sum(salary), avg(salary) IS NOT NULL, count(*) - count(salary) AS nulls FROM people;
SELECT a.name AS a, b.name AS b FROM people a CROSS JOIN people b WHERE a.id < b.id AND a.dept = b.dept AND a.dept = 'Sales' ORDER BY a.id, b.id;
