-- t/130-pgq-c.bats runs this in a database with the C triggers and in
-- one with the PL/pgSQL triggers and compares the queued events.  Every
-- base, range and multirange type of pg_catalog has a column named
-- c_TYPE (the test checks that), declared one per line after a tab.
SET TimeZone = 'Europe/Helsinki';
SELECT pgq.create_queue('q');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'häppy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);

CREATE TABLE public."All Types" (
	id int PRIMARY KEY,
	c_aclitem aclitem,
	c_bit bit(4),
	c_bool bool,
	c_box box,
	c_bpchar char(5),
	c_bytea bytea,
	c_char "char",
	c_cid cid,
	c_cidr cidr,
	c_circle circle,
	c_date date,
	c_datemultirange datemultirange,
	c_daterange daterange,
	c_float4 float4,
	c_float8 float8,
	c_inet inet,
	c_int2 int2,
	c_int2vector int2vector,
	c_int4 int4,
	c_int4multirange int4multirange,
	c_int4range int4range,
	c_int8 int8,
	c_int8multirange int8multirange,
	c_int8range int8range,
	c_interval interval,
	c_json json,
	c_jsonb jsonb,
	c_jsonpath jsonpath,
	c_line line,
	c_lseg lseg,
	c_macaddr macaddr,
	c_macaddr8 macaddr8,
	c_money money,
	c_name name,
	c_numeric numeric,
	c_nummultirange nummultirange,
	c_numrange numrange,
	c_oid oid,
	c_oidvector oidvector,
	c_path path,
	c_pg_lsn pg_lsn,
	c_pg_snapshot pg_snapshot,
	c_point point,
	c_polygon polygon,
	c_refcursor refcursor,
	c_regclass regclass,
	c_regcollation regcollation,
	c_regconfig regconfig,
	c_regdictionary regdictionary,
	c_regnamespace regnamespace,
	c_regoper regoper,
	c_regoperator regoperator,
	c_regproc regproc,
	c_regprocedure regprocedure,
	c_regrole regrole,
	c_regtype regtype,
	c_text text,
	c_tid tid,
	c_time time,
	c_timestamp timestamp,
	c_timestamptz timestamptz,
	c_timetz timetz,
	c_tsmultirange tsmultirange,
	c_tsquery tsquery,
	c_tsrange tsrange,
	c_tstzmultirange tstzmultirange,
	c_tstzrange tstzrange,
	c_tsvector tsvector,
	c_txid_snapshot txid_snapshot,
	c_uuid uuid,
	c_varbit varbit,
	c_varchar varchar(20),
	c_xid xid,
	c_xid8 xid8,
	c_xml xml,
	c_int4_arr int4[],
	c_int4_arr2 int4[][],
	c_text_arr text[],
	c_timestamptz_arr timestamptz[],
	c_json_arr json[],
	c_mood mood,
	c_pair pair,
	c_posint posint,
	"Odd ""name"", ü" text
);

CREATE TRIGGER a_log AFTER INSERT OR UPDATE OR DELETE ON "All Types"
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q');
CREATE TRIGGER b_logb AFTER INSERT OR UPDATE OR DELETE ON "All Types"
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'backup', 'ignore=c_xml,c_bytea');
CREATE TRIGGER c_sql AFTER INSERT OR UPDATE OR DELETE ON "All Types"
	FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q');
CREATE TRIGGER d_json AFTER INSERT OR UPDATE OR DELETE ON "All Types"
	FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('q', 'backup');
CREATE TRIGGER e_trunc AFTER TRUNCATE ON "All Types"
	FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga('q');
CREATE TRIGGER f_trunc AFTER TRUNCATE ON "All Types"
	FOR EACH STATEMENT EXECUTE FUNCTION pgq.sqltriga('q');
CREATE TRIGGER g_trunc AFTER TRUNCATE ON "All Types"
	FOR EACH STATEMENT EXECUTE FUNCTION pgq.jsontriga('q');

INSERT INTO "All Types" VALUES (1,
	'postgres=arwdDxt/postgres', B'1010', true, '(1,1),(0,0)', 'ab', '\x00ff275c22', 'x',
	'7', '10.0.0.0/8', '<(0,0),2>', '2024-02-29', '{[2024-01-01,2024-01-05)}',
	'[2024-01-01,2024-01-31]', '1.5e-7', '-0', '192.168.1.5/24', -32768, '1 2 3',
	2147483647, '{[1,3),[5,7)}', '[1,10)', 9223372036854775807, '{}', '(1,5]',
	'1 year 2 mons -3 days 04:05:06.5', '{"a": [1, "x", null], "b": "ü\u0001"}',
	'{"k": [true, 1.50], "s": "a\"b"}', '$.a[*] ? (@ > 1)', '{1,-1,0}', '[(0,0),(1,1)]',
	'08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '12.34', 'a name',
	'-12345678901234567890.000001', '{[1.1,2.2)}', '[1.5,2.5]', 4294967295, '23 25',
	'((0,0),(1,1),(2,0))', '16/B374D848', '10:20:10,14,15', '(1.5,-2)', '((0,0),(1,1),(1,0))',
	'my cursor', 'pg_class', '"C"', 'english', 'simple', 'public', '||/',
	'+(int4,int4)', 'now', 'abs(int4)', 'postgres', 'int4',
	E'quote '' dq " bs \\ tab\t nl\n cr\r comma, paren() amp& eq= pct% plus+ Zürich ☃',
	'(1,2)', '23:59:59.999999', '2024-01-02 03:04:05.678', '2024-06-30 12:00:00+02',
	'12:00:00+05:30', '{[2024-01-01,2024-01-02)}', 'fat & (rat | cat)',
	'[2024-01-01,2024-02-01)', '{}', '[2024-01-01 00:00+00,)', 'a fat cat:1A ''q''',
	'10:20:10,14,15', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', B'101', 'v a r',
	'12345', '12345678901', '<a x="1">t&amp;ü</a>',
	'{1,NULL,3}', '{{1,2},{3,4}}', '{"a b","c,d","e\"f",NULL,"ü","","NULL"}',
	'{"2024-01-01 00:00:00+00",infinity}', ARRAY['{"x": 1}'::json, '[]'],
	'häppy', ROW(1, 'x, "y" (z)'), 5, 'odd');

-- all NULL
INSERT INTO "All Types" (id) VALUES (2);

-- empty strings, blanks, infinities, extremes
INSERT INTO "All Types" (id, c_bool, c_text, c_varchar, c_bpchar, c_float4, c_float8,
	c_date, c_timestamp, c_timestamptz, c_numeric, c_int2, c_int8, c_name, c_json, c_jsonb,
	c_text_arr, c_int4_arr, "Odd ""name"", ü")
VALUES (3, false, '', '   ', '', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity',
	'NaN', 0, -9223372036854775808, '', '""', 'null', '{}', '{}', ' ');

-- multi-byte and control characters in keys and values
INSERT INTO "All Types" (id, c_text, c_json, c_varchar, c_timestamptz, c_timestamp)
VALUES (4, E'日本語 \u00e9\u0301 \x01\x1f', E'"\\u00e9"', 'ß', '1999-12-31 23:59:59.5-08', '0044-03-15 12:00 BC');

UPDATE "All Types" SET c_text = 'new ☃', c_int8 = NULL, c_bytea = '\x01' WHERE id = 1;
-- no change at all
UPDATE "All Types" SET c_bool = c_bool WHERE id = 1;
-- only ignored columns of b_logb change
UPDATE "All Types" SET c_xml = '<b/>' WHERE id = 1;
-- NULLs become values
UPDATE "All Types" t SET (c_text, c_int4, c_json, c_timestamptz, c_text_arr, c_pair, c_mood)
	= (s.c_text, s.c_int4, s.c_json, s.c_timestamptz, s.c_text_arr, s.c_pair, s.c_mood)
	FROM "All Types" s WHERE t.id = 2 AND s.id = 1;
DELETE FROM "All Types" WHERE id = 3;
DELETE FROM "All Types" WHERE id = 4;
TRUNCATE "All Types";

-- the trigger arguments, on a table without a primary key (UPDATE and
-- DELETE need pkey= then, but for sqltriga's own message)
CREATE TABLE opt (b text, a int, c timestamptz, d int, k text);
CREATE TRIGGER o1 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'pkey=a', 'ignore=d', 'backup');
CREATE TRIGGER o2 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q', 'pkey=a,k', 'ignore=d');
CREATE TRIGGER o3 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('q', 'pkey=k,a', 'when=a > 1', 'ev_extra3=b || ''!''', 'ev_extra4=a * 2');
CREATE TRIGGER o4 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'pkey=a', 'ev_type=''custom''', 'ev_data=b', 'ev_extra1=''x''', 'ev_extra2=c', 'ev_type=upper(b)');
CREATE TRIGGER o5 AFTER INSERT ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q');
CREATE TRIGGER o6 AFTER INSERT ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q', 'pkey=', 'ignore=');
CREATE TRIGGER o7 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'pkey=k', 'ignore=a,b,c,d,k', 'when=a IS NULL OR a > 1');
CREATE TRIGGER o8 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('q', 'ignore=a,b,c,d', 'pkey=x,,y');
CREATE TRIGGER o9 AFTER INSERT OR UPDATE OR DELETE ON opt
	FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q', 'ignore=a,b,c,d', 'pkey=zz', 'when=true');
CREATE TRIGGER ot AFTER TRUNCATE ON opt
	FOR EACH STATEMENT EXECUTE FUNCTION pgq.jsontriga('q', 'pkey=a,b', 'SKIP', 'whatever');
INSERT INTO opt VALUES ('x', 1, '2024-05-06 07:08:09+00', 1, 'k1'), ('y y', 2, NULL, NULL, 'k2'),
	('n', NULL, '2001-01-01', 3, NULL);
UPDATE opt SET d = 10 WHERE a = 1;
UPDATE opt SET b = 'x2' WHERE a = 1;
UPDATE opt SET c = NULL, d = 5 WHERE a = 2;
UPDATE opt SET b = b;
DELETE FROM opt WHERE b = 'n';
DELETE FROM opt;
TRUNCATE opt;

-- NULL and empty text in the first and last columns
CREATE TABLE lead_null (a int, b text, c text);
CREATE TRIGGER l1 AFTER INSERT OR UPDATE OR DELETE ON lead_null
	FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'pkey=b');
CREATE TRIGGER l2 AFTER INSERT OR UPDATE OR DELETE ON lead_null
	FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q', 'pkey=b');
CREATE TRIGGER l3 AFTER INSERT OR UPDATE OR DELETE ON lead_null
	FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('q', 'pkey=b');
INSERT INTO lead_null VALUES (NULL, 'n', NULL), (NULL, '', ''), (1, 'x', NULL);
UPDATE lead_null SET a = 2 WHERE b = 'n';
UPDATE lead_null SET c = NULL WHERE b = '';
DELETE FROM lead_null;
