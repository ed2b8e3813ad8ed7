#!/usr/bin/env bats
# sql/pgq: logutriga, sqltriga and jsontriga.

load helper

setup_file() {
	pg_start
	new_db trg
	sql trg "SELECT pgq.create_queue('tq')" >/dev/null
}

# The events queued so far by the triggers, oldest first, as
# ev_type|ev_data|ev_extra1|ev_extra2|ev_extra3|ev_extra4; then empty
# the queue's tables so each test sees only its own.
events() {
	sql trg "SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4
	         FROM pgq.event_template ORDER BY ev_id" &&
	sql trg "TRUNCATE pgq.event_template CASCADE" >/dev/null
}

@test "logutriga: I/U/D/R, url encoding, NULL versus empty, odd names" {
	sql trg "CREATE SCHEMA \"Sch.ema\";
	CREATE TABLE \"Sch.ema\".\"my tab\"\"x\" (id int PRIMARY KEY, \"na me\" text, v int, ü text);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON \"Sch.ema\".\"my tab\"\"x\"
	  FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq');
	CREATE TRIGGER lt AFTER TRUNCATE ON \"Sch.ema\".\"my tab\"\"x\"
	  FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga('tq')"
	sql trg "INSERT INTO \"Sch.ema\".\"my tab\"\"x\" VALUES (1, 'a b&c=d', NULL, 'ö'), (2, '', 0, E'x\\\\y\"(),')"
	sql trg "UPDATE \"Sch.ema\".\"my tab\"\"x\" SET v = 5 WHERE id = 1"
	sql trg "DELETE FROM \"Sch.ema\".\"my tab\"\"x\" WHERE id = 1"
	sql trg "TRUNCATE \"Sch.ema\".\"my tab\"\"x\""
	run events
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 'I:id|id=1&na+me=a+b%26c%3dd&v&%c3%bc=%c3%b6|Sch.ema.my tab"x|||' ]
	[ "${lines[1]}" = 'I:id|id=2&na+me=&v=0&%c3%bc=x%5cy%22%28%29%2c|Sch.ema.my tab"x|||' ]
	[ "${lines[2]}" = 'U:id|id=1&na+me=a+b%26c%3dd&v=5&%c3%bc=%c3%b6|Sch.ema.my tab"x|||' ]
	[ "${lines[3]}" = 'D:id|id=1&na+me=a+b%26c%3dd&v=5&%c3%bc=%c3%b6|Sch.ema.my tab"x|||' ]
	[ "${lines[4]}" = 'R||Sch.ema.my tab"x|||' ]
	[ "${#lines[@]}" -eq 5 ]
}

@test "logutriga: types in their text form" {
	sql trg "CREATE TABLE ty (a int PRIMARY KEY, c numeric, d bool, e timestamptz, f int[], g json, h float8, i bytea);
	CREATE TRIGGER l AFTER INSERT ON ty FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq')"
	sql trg "SET TimeZone = 'UTC'; INSERT INTO ty VALUES (1, 1.50, true, '2020-01-01 10:00+02', '{1,2}', '{\"x\":1}', 1.5e300, '\\x00ff')"
	run events
	[ "$output" = 'I:a|a=1&c=1.50&d=t&e=2020-01-01+08%3a00%3a00%2b00&f=%7b1%2c2%7d&g=%7b%22x%22%3a1%7d&h=1.5e%2b300&i=%5cx00ff|public.ty|||' ]
}

@test "logutriga: NULL and empty values in the first and last columns" {
	sql trg "CREATE TABLE lead (a int, b text, c text, PRIMARY KEY (b));
	CREATE TRIGGER l AFTER INSERT ON lead FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq')"
	sql trg "INSERT INTO lead VALUES (NULL, 'n', NULL), (NULL, '', ''), (1, ',', '\"')"
	run events
	[ "${lines[0]}" = 'I:b|a&b=n&c|public.lead|||' ]
	[ "${lines[1]}" = 'I:b|a&b=&c=|public.lead|||' ]
	[ "${lines[2]}" = 'I:b|a=1&b=%2c&c=%22|public.lead|||' ]
}

@test "logutriga: ignore, backup, when, colname=EXPR, pkey, no primary key" {
	sql trg "CREATE TABLE t4 (a int PRIMARY KEY, b text, c text);
	CREATE TRIGGER x AFTER INSERT OR UPDATE OR DELETE ON t4 FOR EACH ROW
	  EXECUTE FUNCTION pgq.logutriga('tq', 'ignore=c', 'backup', 'ev_extra3=b||''!''', 'when=a>0');
	CREATE TABLE t5 (a int, b text);
	CREATE TRIGGER x AFTER INSERT OR UPDATE ON t5 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq', 'pkey=a');
	CREATE TABLE t6 (a int, b text);
	CREATE TRIGGER x AFTER INSERT ON t6 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq')"
	sql trg "INSERT INTO t4 VALUES (1, 'x', 'y'), (-1, 'n', 'n')"
	sql trg "UPDATE t4 SET b = 'w', c = 'zz'"
	sql trg "UPDATE t4 SET c = 'only-ignored'"
	sql trg "DELETE FROM t4"
	sql trg "INSERT INTO t5 VALUES (1, 'x')"
	sql trg "UPDATE t5 SET b = 'y'"
	sql trg "INSERT INTO t6 VALUES (1, 'x')"
	run events
	[ "${lines[0]}" = 'I:a|a=1&b=x|public.t4||x!|' ]
	[ "${lines[1]}" = 'U:a|a=1&b=w|public.t4|a=1&b=x|w!|' ]
	[ "${lines[2]}" = 'D:a|a=1&b=w|public.t4||w!|' ]
	[ "${lines[3]}" = 'I:a|a=1&b=x|public.t5|||' ]
	[ "${lines[4]}" = 'U:a|a=1&b=y|public.t5|||' ]
	[ "${lines[5]}" = 'I:|a=1&b=x|public.t6|||' ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "logutriga: SKIP, deny, primary key update, bad arguments" {
	sql trg "CREATE TABLE u4 (a int PRIMARY KEY, b text);
	CREATE TRIGGER x BEFORE INSERT OR UPDATE OR DELETE ON u4 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq', 'SKIP');
	CREATE TABLE u5 (a int PRIMARY KEY, b text);
	CREATE TRIGGER x BEFORE INSERT OR UPDATE OR DELETE ON u5 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq', 'deny');
	CREATE TRIGGER y BEFORE TRUNCATE ON u5 FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga('tq', 'deny');
	CREATE TABLE u6 (a int PRIMARY KEY, b text);
	CREATE TRIGGER x AFTER INSERT OR UPDATE ON u6 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq');
	CREATE TABLE u7 (a int PRIMARY KEY);
	CREATE TRIGGER x AFTER INSERT ON u7 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq', 'bogus');
	CREATE TABLE u8 (a int PRIMARY KEY);
	CREATE TRIGGER x AFTER INSERT ON u8 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('nosuchqueue')"
	sql trg "INSERT INTO u4 VALUES (1, 'x')"
	run sql trg "SELECT count(*) FROM u4"
	[ "$output" = 0 ]
	run --separate-stderr sql trg "INSERT INTO u5 VALUES (1, 'x')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"change not allowed (INSERT)"* ]]
	run --separate-stderr sql trg "TRUNCATE u5"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"change not allowed (TRUNCATE)"* ]]
	sql trg "INSERT INTO u6 VALUES (1, 'x')"
	run --separate-stderr sql trg "UPDATE u6 SET a = 2"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"primary key update not allowed"* ]]
	# an update that changes nothing is still a change
	sql trg "UPDATE u6 SET b = b"
	run --separate-stderr sql trg "INSERT INTO u7 VALUES (1)"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"unknown argument"* ]]
	run --separate-stderr sql trg "INSERT INTO u8 VALUES (1)"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"No such event queue"* ]]
	run events
	[ "${lines[0]}" = 'I:a|a=1&b=x|public.u4|||' ]
	[ "${lines[1]}" = 'I:a|a=1&b=x|public.u6|||' ]
	[ "${lines[2]}" = 'U:a|a=1&b=x|public.u6|||' ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "sqltriga: SQL fragments" {
	sql trg "CREATE TABLE s2 (a int, b int, c text, \"D d\" text, PRIMARY KEY (a, b));
	CREATE TRIGGER s AFTER INSERT OR UPDATE OR DELETE ON s2 FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('tq');
	CREATE TRIGGER st AFTER TRUNCATE ON s2 FOR EACH STATEMENT EXECUTE FUNCTION pgq.sqltriga('tq')"
	sql trg "INSERT INTO s2 VALUES (1, 2, 'x''y', 'q'), (3, 4, NULL, E'b\\\\s')"
	sql trg "UPDATE s2 SET c = 'z' WHERE a = 1"
	sql trg "UPDATE s2 SET c = c WHERE a = 1"
	sql trg "DELETE FROM s2 WHERE a = 1"
	sql trg "TRUNCATE s2"
	run events
	[ "${lines[0]}" = "I|(a,b,c,\"D d\") values ('1','2','x''y','q')|public.s2|||" ]
	[ "${lines[1]}" = "I|(a,b,c,\"D d\") values ('3','4',null,E'b\\\\s')|public.s2|||" ]
	[ "${lines[2]}" = "U|c='z' where a='1' and b='2'|public.s2|||" ]
	[ "${lines[3]}" = "U|a='1' where a='1' and b='2'|public.s2|||" ]
	[ "${lines[4]}" = "D|a='1' and b='2'|public.s2|||" ]
	[ "${lines[5]}" = "R||public.s2|||" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "jsontriga: JSON rows" {
	sql trg "CREATE TABLE j3 (a int PRIMARY KEY, b text, c numeric, d bool, e timestamptz);
	CREATE TRIGGER j AFTER INSERT OR UPDATE OR DELETE ON j3 FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('tq', 'backup');
	CREATE TRIGGER jt AFTER TRUNCATE ON j3 FOR EACH STATEMENT EXECUTE FUNCTION pgq.jsontriga('tq')"
	sql trg "SET TimeZone = 'UTC'; INSERT INTO j3 VALUES (1, 'q\"x', 1.50, true, '2020-01-01 10:00+02')"
	sql trg "UPDATE j3 SET b = NULL"
	sql trg "DELETE FROM j3"
	sql trg "TRUNCATE j3"
	run events
	[ "${lines[0]}" = '{"op":"INSERT","table":["public","j3"],"pkey":["a"]}|{"a":1,"b":"q\"x","c":"1.50","d":true,"e":"2020-01-01T08:00:00+00:00"}|public.j3|||' ]
	[ "${lines[1]}" = '{"op":"UPDATE","table":["public","j3"],"pkey":["a"]}|{"a":1,"b":null,"c":"1.50","d":true,"e":"2020-01-01T08:00:00+00:00"}|public.j3|{"a":1,"b":"q\"x","c":"1.50","d":true,"e":"2020-01-01T08:00:00+00:00"}||' ]
	[ "${lines[2]}" = '{"op":"DELETE","table":["public","j3"],"pkey":["a"]}|{"a":1,"b":null,"c":"1.50","d":true,"e":"2020-01-01T08:00:00+00:00"}|public.j3|||' ]
	[ "${lines[3]}" = '{"op":"TRUNCATE","table":["public","j3"],"pkey":["a"]}|{}|public.j3|||' ]
}

@test "a dropped column is left out" {
	sql trg "CREATE TABLE dc (a int PRIMARY KEY, gone text, b text);
	ALTER TABLE dc DROP COLUMN gone;
	CREATE TRIGGER x AFTER INSERT ON dc FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq')"
	sql trg "INSERT INTO dc VALUES (1, 'b')"
	run events
	[ "$output" = 'I:a|a=1&b=b|public.dc|||' ]
}
