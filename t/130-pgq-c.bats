#!/usr/bin/env bats
# pgq_c: PgQ's event insert and row triggers in C, against the PL/pgSQL
# versions they replace.  Database c is installed where the module loads
# (dynamic_library_path includes $TEST_DIR/lib), database p where it does
# not; the same changes must queue byte-identical events in both.

load helper

setup_file() {
	pg_start_with_pgq_c || { [ -n "${SKIP_FILE:-}" ] && return 0; return 1; }
	new_db c
	PGOPTIONS="-c dynamic_library_path=\$libdir" new_db p
}

# Each test sees only its own events.
setup() {
	skip_file
	sql c "TRUNCATE pgq.event_template CASCADE" >/dev/null
	sql p "TRUNCATE pgq.event_template CASCADE" >/dev/null
}

# The language of each function the fast path replaces.
langs() {
	sql "$1" "SELECT string_agg(p.oid::regprocedure::text || '=' || l.lanname, ' ' ORDER BY 1)
	          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	         WHERE p.pronamespace = 'pgq'::regnamespace
	           AND p.proname IN ('insert_event', 'insert_event_raw', 'logutriga', 'sqltriga', 'jsontriga')"
}

# Every event of every queue in DB, oldest first, COPY-escaped.
dump_events() {
	psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "COPY (
		SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4, ev_owner, ev_retry
		  FROM pgq.event_template ORDER BY tableoid::regclass::text, ev_id) TO STDOUT"
}

# Run the same SQL (stdin) in both databases, errors and SQLSTATEs
# included in the output (context lines differ by language, so off).
both() {
	local sqlf="$BATS_TEST_TMPDIR/both.sql"
	cat >"$sqlf"
	for db in c p; do
		psql -XAtq -v VERBOSITY=default -v SHOW_CONTEXT=never -d "$db" -f "$sqlf" \
			>"$BATS_TEST_TMPDIR/$db.out" 2>&1 || return 1
	done
}

@test "install: C where the module loads, PL/pgSQL where it does not" {
	run langs c
	[ "$status" -eq 0 ]
	[ "$output" = "pgq.insert_event(text,text,text)=c pgq.insert_event(text,text,text,text,text,text,text)=c pgq.insert_event_raw(text,bigint,timestamp with time zone,integer,integer,text,text,text,text,text,text)=c pgq.jsontriga()=c pgq.logutriga()=c pgq.sqltriga()=c" ]
	run langs p
	[ "$output" = "pgq.insert_event(text,text,text)=plpgsql pgq.insert_event(text,text,text,text,text,text,text)=plpgsql pgq.insert_event_raw(text,bigint,timestamp with time zone,integer,integer,text,text,text,text,text,text)=plpgsql pgq.jsontriga()=plpgsql pgq.logutriga()=plpgsql pgq.sqltriga()=plpgsql" ]
	# SECURITY DEFINER and the grants survive the switch
	run sql c "SELECT prosecdef, has_function_privilege('pgq_writer', oid, 'EXECUTE'),
	                  has_function_privilege('public', oid, 'EXECUTE')
	             FROM pg_proc WHERE oid = 'pgq.insert_event(text,text,text)'::regprocedure"
	[ "$output" = "t|t|f" ]
	# re-install (the upgrade path) keeps C
	install_ours c
	run langs c
	[[ "$output" != *plpgsql* ]]
}

@test "every column type, NULLs, quotes, non-ASCII, arrays, json: identical events" {
	# the base, range and multirange types of pg_catalog that have a
	# text input, each below; gtsvector has no input function
	run sql c "SELECT string_agg(typname, ' ' ORDER BY typname) FROM pg_type
	            WHERE typnamespace = 'pg_catalog'::regnamespace AND typtype IN ('b', 'r', 'm')
	              AND typarray <> 0 AND typname !~ '^_' AND typname <> 'gtsvector'"
	[ "$status" -eq 0 ]
	local t missing=
	for t in $output; do
		grep -q "^	c_$t " "$BATS_TEST_DIRNAME/130-pgq-c.sql" || missing="$missing $t"
	done
	[ -z "$missing" ] || { echo "types without a column:$missing" >&2; false; }

	for db in c p; do
		psql -XAq -v ON_ERROR_STOP=1 -d "$db" -f "$BATS_TEST_DIRNAME/130-pgq-c.sql" >/dev/null
	done
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/p.ev")" -gt 60 ]
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	# the changes ran through C in c (a plpgsql trigger leaves no
	# plpgsql call count there)
	run sql c "SELECT count(*) FROM pgq.event_template WHERE ev_data LIKE '%Z%C3%BCrich%' OR ev_data LIKE '%Zürich%'"
	[ "$output" -gt 0 ]
}

@test "trigger errors: same message and SQLSTATE as PL/pgSQL" {
	both <<-'SQL'
	SELECT pgq.create_queue('eq') IS NOT NULL;
	CREATE TABLE e1 (id int PRIMARY KEY, v text);
	CREATE TABLE e2 (id int, v text);
	INSERT INTO e1 VALUES (1, 'a'); INSERT INTO e2 VALUES (1, 'a');
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e1 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga();
	INSERT INTO e1 VALUES (2, 'b');
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1;
	CREATE TRIGGER a AFTER TRUNCATE ON e1 FOR EACH STATEMENT EXECUTE FUNCTION pgq.sqltriga();
	TRUNCATE e1;
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1;
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e1 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('eq', 'deny');
	CREATE TRIGGER b AFTER TRUNCATE ON e1 FOR EACH STATEMENT EXECUTE FUNCTION pgq.jsontriga('eq', 'bogus', 'deny');
	UPDATE e1 SET v = 'x';
	\echo :LAST_ERROR_SQLSTATE
	DELETE FROM e1;
	\echo :LAST_ERROR_SQLSTATE
	TRUNCATE e1;
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1; DROP TRIGGER b ON e1;
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e1 FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('eq', 'backup', 'bogus=1');
	INSERT INTO e1 VALUES (3, 'c');
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1;
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e1 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('eq');
	UPDATE e1 SET id = 5;
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1;
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e1 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('no such queue');
	INSERT INTO e1 VALUES (4, 'd');
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e1;
	CREATE TRIGGER a AFTER INSERT OR UPDATE OR DELETE ON e2 FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('eq');
	INSERT INTO e2 VALUES (2, 'b');
	\echo :LAST_ERROR_SQLSTATE
	UPDATE e2 SET v = 'x';
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e2;
	CREATE TRIGGER a AFTER INSERT ON e2 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('eq', 'when=no_such_column > 1');
	INSERT INTO e2 VALUES (3, 'c');
	\echo :LAST_ERROR_SQLSTATE
	DROP TRIGGER a ON e2;
	CREATE TRIGGER a AFTER INSERT ON e2 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('eq', 'when=v');
	INSERT INTO e2 VALUES (3, 'maybe');
	\echo :LAST_ERROR_SQLSTATE
	SELECT pgq.jsontriga();
	\echo :LAST_ERROR_SQLSTATE
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[[ "$output" == *"queue name argument missing"* ]]
	[[ "$output" == *"change not allowed (UPDATE)"* ]]
	[[ "$output" == *"change not allowed (DELETE)"* ]]
	[[ "$output" == *'unknown argument "bogus=1"'* ]]
	[[ "$output" == *"primary key update not allowed"* ]]
	[[ "$output" == *"No such event queue: no such queue"* ]]
	[[ "$output" == *"has no primary key"* ]]
	[[ "$output" == *42501* ]] && [[ "$output" == *22023* ]] && [[ "$output" == *0A000* ]]
	[[ "$output" == *P0002* ]] && [[ "$output" == *55000* ]] && [[ "$output" == *42703* ]]
	run dump_events c
	[ "$output" = "I	(id,v) values ('2','b')	public.e2	\\N	\\N	\\N	\\N	\\N" ]
}

@test "insert_event: ids, NULL fields, disabled queue, replica role, raw insert" {
	both <<-'SQL'
	SELECT pgq.create_queue('iq') IS NOT NULL;
	SELECT pgq.insert_event('iq', 't1', 'd1') = currval('pgq.' || (SELECT 'event_' || queue_id || '_id_seq' FROM pgq.queue WHERE queue_name = 'iq'));
	SELECT pgq.insert_event('iq', NULL, NULL, 'x1', NULL, 'x3', 'x4') > 0;
	SELECT pgq.insert_event(NULL, 't', 'd');
	\echo :LAST_ERROR_SQLSTATE
	SELECT pgq.insert_event('nope', 't', 'd');
	\echo :LAST_ERROR_SQLSTATE
	UPDATE pgq.queue SET queue_disable_insert = true WHERE queue_name = 'iq';
	SELECT pgq.insert_event('iq', 't', 'refused');
	\echo :LAST_ERROR_SQLSTATE
	SET session_replication_role = replica;
	SELECT pgq.insert_event('iq', 't2', 'as replica') > 0;
	RESET session_replication_role;
	UPDATE pgq.queue SET queue_disable_insert = false WHERE queue_name = 'iq';
	SELECT pgq.insert_event_raw('iq', 424242, '2001-02-03 04:05:06+00', 7, 2, 'rt', 'rd', 'a', 'b', 'c', 'd');
	SELECT pgq.insert_event_raw('iq', NULL, NULL, NULL, NULL, 'rt2', NULL, NULL, NULL, NULL, NULL) > 0;
	SELECT ev_time = now() FROM pgq.event_template WHERE ev_type = 'rt2';
	SELECT ev_id, ev_time, ev_owner, ev_retry FROM pgq.event_template WHERE ev_type = 'rt';
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[ "${lines[0]}" = t ]
	[ "${lines[1]}" = t ]
	[ "${lines[2]}" = t ]
	[[ "$output" == *"No such event queue: <NULL>"* ]]
	[[ "$output" == *"Insert into queue iq disallowed"* ]]
	[[ "$output" == *"424242|2001-02-03 04:05:06+00|7|2"* ]]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	run grep -c . "$BATS_TEST_TMPDIR/c.ev"
	[ "$output" -eq 5 ]
}

@test "permissions: writers produce through the SECURITY DEFINER insert, others are refused" {
	sql c "CREATE ROLE w LOGIN IN ROLE pgq_writer; CREATE ROLE nobody LOGIN;
	       SELECT pgq.create_queue('wq');
	       CREATE TABLE pt (id int PRIMARY KEY, v text);
	       GRANT ALL ON pt TO w, nobody;
	       CREATE TRIGGER a AFTER INSERT ON pt FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('wq')" >/dev/null
	run psql -XAtq -U w -d c -c "SELECT pgq.insert_event('wq', 't', 'by w') > 0"
	[ "$output" = t ]
	run psql -XAtq -U w -d c -c "INSERT INTO pt VALUES (1, 'by w')"
	[ "$status" -eq 0 ]
	run --separate-stderr psql -XAtq -U nobody -d c -c "SELECT pgq.insert_event('wq', 't', 'by nobody')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"permission denied for function insert_event"* ]]
	run --separate-stderr psql -XAtq -U nobody -d c -c "INSERT INTO pt VALUES (2, 'by nobody')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"permission denied for function insert_event"* ]]
	run --separate-stderr psql -XAtq -U w -d c -c "SELECT pgq.insert_event_raw('wq', 1, NULL, NULL, NULL, 't', 'raw', NULL, NULL, NULL, NULL)"
	[ "$status" -ne 0 ]
	run sql c "SELECT ev_data FROM pgq.event_template ORDER BY ev_id"
	[ "${lines[0]}" = "by w" ]
	[ "${lines[1]}" = "id=1&v=by+w" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "reserved event types (EXECUTE, pgq.*, londiste.*) only from superusers and pgq_admin members, in C and PL/pgSQL" {
	local db t
	for db in c p; do
		sql "$db" "DO \$\$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rw') THEN
				CREATE ROLE rw LOGIN IN ROLE pgq_writer;
				CREATE ROLE ra LOGIN IN ROLE pgq_admin;
			END IF; END \$\$;
			SELECT pgq.create_queue('rq');
			CREATE TABLE rt (id int PRIMARY KEY, v text);
			GRANT ALL ON rt TO rw;
			CREATE TRIGGER a AFTER INSERT ON rt FOR EACH ROW
				EXECUTE FUNCTION pgq.logutriga('rq', 'ev_type=v')" >/dev/null
		for t in EXECUTE pgq.location-info londiste.add-table; do
			run --separate-stderr psql -XAtq -U rw -d "$db" \
				-c "SELECT pgq.insert_event('rq', '$t', 'CREATE ROLE x SUPERUSER', 'f.sql', NULL, NULL, NULL)"
			[ "$status" -ne 0 ]
			[[ "$stderr" == *"event type $t is reserved to superusers and members of pgq_admin"* ]]
			run --separate-stderr psql -XAtq -U rw -d "$db" -c "SELECT pgq.insert_event('rq', '$t', 'x')"
			[ "$status" -ne 0 ]
			run --separate-stderr psql -XAtq -U rw -d "$db" -c "SELECT pgq.insert_event_raw('rq', NULL, NULL, NULL, NULL, '$t', 'x', NULL, NULL, NULL, NULL)"
			[ "$status" -ne 0 ]
			# through a trigger whose ev_type comes from the row
			run --separate-stderr psql -XAtq -U rw -d "$db" -c "INSERT INTO rt VALUES (1, '$t')"
			[ "$status" -ne 0 ]
			[[ "$stderr" == *"is reserved"* ]]
			run psql -XAtq -v ON_ERROR_STOP=1 -U ra -d "$db" -c "SELECT pgq.insert_event('rq', '$t', 'by admin') > 0"
			[ "$output" = t ]
		done
		# other types stay open to every writer, also a look-alike
		run psql -XAtq -v ON_ERROR_STOP=1 -U rw -d "$db" -c "SELECT pgq.insert_event('rq', 'EXECUTEx', 'w') > 0"
		[ "$output" = t ]
		run psql -XAtq -v ON_ERROR_STOP=1 -U rw -d "$db" -c "INSERT INTO rt VALUES (2, 'I')"
		[ "$status" -eq 0 ]
		run sql "$db" "SELECT string_agg(ev_type || ':' || ev_data, ' ' ORDER BY ev_id) FROM pgq.event_template"
		[ "$output" = "EXECUTE:by admin pgq.location-info:by admin londiste.add-table:by admin EXECUTEx:w I:id=2&v=I" ]
	done
}

@test "SKIP in a BEFORE trigger queues the event and drops the change" {
	both <<-'SQL'
	SELECT pgq.create_queue('sq') IS NOT NULL;
	CREATE TABLE sk (id int PRIMARY KEY, v text);
	CREATE TRIGGER a BEFORE INSERT OR UPDATE OR DELETE ON sk FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('sq', 'SKIP');
	INSERT INTO sk VALUES (1, 'one');
	SELECT count(*) FROM sk;
	DROP TRIGGER a ON sk;
	INSERT INTO sk VALUES (1, 'one');
	CREATE TRIGGER a BEFORE INSERT OR UPDATE OR DELETE ON sk FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('sq', 'SKIP');
	UPDATE sk SET v = 'two';
	DELETE FROM sk;
	SELECT * FROM sk;
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[ "${lines[1]}" = 0 ]
	[ "${lines[2]}" = "1|one" ]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	run cut -f1,2 "$BATS_TEST_TMPDIR/c.ev"
	[ "${lines[0]}" = "I:id	id=1&v=one" ]
	[ "${lines[1]}" = "U	v='two' where id='1'" ]
	[ "${lines[2]}" = "D	id='1'" ]
}

@test "table changes reach the cached C trigger: columns, names, schema, key" {
	both <<-'SQL'
	SELECT pgq.create_queue('aq') IS NOT NULL;
	CREATE SCHEMA s1;
	CREATE TABLE s1.ch (a int, b text, c int);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON s1.ch FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('aq', 'backup');
	CREATE TRIGGER j AFTER INSERT OR UPDATE OR DELETE ON s1.ch FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('aq', 'when=a > 0', 'ev_extra3=a * 10');
	INSERT INTO s1.ch VALUES (1, 'x', 3);
	ALTER TABLE s1.ch ADD COLUMN d timestamptz DEFAULT '2020-01-01 00:00+00';
	INSERT INTO s1.ch VALUES (2, 'y', 4);
	ALTER TABLE s1.ch DROP COLUMN c;
	ALTER TABLE s1.ch RENAME COLUMN b TO "B b";
	INSERT INTO s1.ch VALUES (3, 'z');
	ALTER TABLE s1.ch ADD PRIMARY KEY (a);
	UPDATE s1.ch SET "B b" = 'zz' WHERE a = 3;
	ALTER TABLE s1.ch RENAME TO "ch 2";
	ALTER SCHEMA s1 RENAME TO "s 2";
	DELETE FROM "s 2"."ch 2" WHERE a = 1;
	ALTER TABLE "s 2"."ch 2" ALTER COLUMN a TYPE bigint;
	INSERT INTO "s 2"."ch 2" VALUES (-4, 'w');
	INSERT INTO "s 2"."ch 2" VALUES (5, 'v');
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	run cut -f1,2,3 "$BATS_TEST_TMPDIR/c.ev"
	[ "${lines[5]}" = "I:	a=3&B+b=z&d=2020-01-01+00%3a00%3a00%2b00	s1.ch" ]
	[ "${lines[7]}" = "U:a	a=3&B+b=zz&d=2020-01-01+00%3a00%3a00%2b00	s1.ch" ]
	[ "${lines[9]}" = "D:a	a=1&B+b=x&d=2020-01-01+00%3a00%3a00%2b00	s 2.ch 2" ]
	# -4 fails when=a > 0: no json event
	[ "${lines[10]}" = "I:a	a=-4&B+b=w&d=2020-01-01+00%3a00%3a00%2b00	s 2.ch 2" ]
	# a new session (fresh caches) agrees
	sql c "INSERT INTO \"s 2\".\"ch 2\" VALUES (6, 'u')"
	sql p "INSERT INTO \"s 2\".\"ch 2\" VALUES (6, 'u')"
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
}

@test "pgqadm install says which implementation it installed" {
	run --separate-stderr pgqadm -d dbname=c install
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"installed pgq with the C fast path"* ]]
	run --separate-stderr env PGOPTIONS="-c dynamic_library_path=\$libdir" pgqadm -d dbname=p install
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"installed pgq in PL/pgSQL"* ]]
	[[ "$stderr" == *"for the C fast path: make install-pg-modules"* ]]
	run langs p
	[[ "$output" != *=c* ]]
	run langs c
	[[ "$output" != *plpgsql* ]]
}

@test "queue_per_tx_limit: the C insert counts and refuses as PL/pgSQL does" {
	both <<-'SQL'
	SELECT pgq.create_queue('lq') IS NOT NULL;
	SELECT pgq.set_queue_config('lq', 'per_tx_limit', '2');
	SELECT count(pgq.insert_event('lq', 't', i::text)) FROM generate_series(1, 2) i;
	SELECT count(pgq.insert_event('lq', 't', i::text, 'a', 'b', 'c', 'd')) FROM generate_series(1, 3) i;
	\echo :LAST_ERROR_SQLSTATE
	BEGIN;
	SELECT pgq.insert_event('lq', 't', 'a') > 0;
	SAVEPOINT s;
	SELECT pgq.insert_event('lq', 't', 'gone') > 0;
	ROLLBACK TO s;
	SELECT pgq.insert_event('lq', 't', 'b') > 0;
	SELECT pgq.insert_event('lq', 't', 'c') > 0;
	\echo :LAST_ERROR_SQLSTATE
	ROLLBACK;
	SELECT count(pgq.insert_event_raw('lq', NULL, NULL, NULL, NULL, 't', 'r', NULL, NULL, NULL, NULL))
	  FROM generate_series(1, 3);
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[[ "$output" == *"Queue 'lq' allows max 2 events from one TX"* ]]
	[ "$(grep -c 54000 "$BATS_TEST_TMPDIR/c.out")" -eq 2 ]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	[ "$(cut -f2 "$BATS_TEST_TMPDIR/c.ev" | tr '\n' ' ')" = "1 2 r r r " ]
}

@test "C triggers: UPDATE and DELETE without a key refused as in PL/pgSQL" {
	both <<-'SQL'
	SELECT pgq.create_queue('kq') IS NOT NULL;
	CREATE TABLE nk (a int, b text);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON nk FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('kq');
	CREATE TABLE nkj (a int, b text);
	CREATE TRIGGER j AFTER INSERT OR UPDATE OR DELETE ON nkj FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('kq', 'when=a > 100');
	INSERT INTO nk VALUES (1, 'x');
	INSERT INTO nkj VALUES (1, 'x');
	UPDATE nk SET b = 'y';
	\echo :LAST_ERROR_SQLSTATE
	DELETE FROM nk;
	\echo :LAST_ERROR_SQLSTATE
	UPDATE nkj SET b = 'y';
	\echo :LAST_ERROR_SQLSTATE
	DELETE FROM nkj;
	\echo :LAST_ERROR_SQLSTATE
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	[ "$(grep -c "Update/Delete on table without pkey" "$BATS_TEST_TMPDIR/c.out")" -eq 4 ]
	run dump_events c
	[ "$output" = "I:	a=1&b=x	public.nk	\\N	\\N	\\N	\\N	\\N" ]
}

@test "C triggers: silent in session_replication_role 'local', as PL/pgSQL" {
	both <<-'SQL'
	SELECT pgq.create_queue('rq') IS NOT NULL;
	CREATE TABLE rl (id int PRIMARY KEY, v text);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON rl FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('rq');
	CREATE TRIGGER t AFTER TRUNCATE ON rl FOR EACH STATEMENT EXECUTE FUNCTION pgq.sqltriga('rq');
	CREATE TRIGGER s BEFORE INSERT OR UPDATE ON rl FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('rq', 'SKIP');
	SET session_replication_role = local;
	INSERT INTO rl VALUES (1, 'a');
	UPDATE rl SET v = 'b';
	TRUNCATE rl;
	INSERT INTO rl VALUES (2, 'c');
	SELECT id, v FROM rl;
	SET session_replication_role = origin;
	DELETE FROM rl;
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[[ "$output" == *"2|c"* ]]
	run dump_events c
	[ "$output" = "D:id	id=2&v=c	public.rl	\\N	\\N	\\N	\\N	\\N" ]
}

@test "C triggers: the _pgq_ev_* columns, as PL/pgSQL" {
	both <<-'SQL'
	SELECT pgq.create_queue('mq') IS NOT NULL;
	CREATE TABLE mc (id int PRIMARY KEY, _pgq_ev_type text, v text, _pgq_ev_data text,
	  _pgq_ev_extra1 text, _pgq_ev_extra2 text, _pgq_ev_extra3 text, _pgq_ev_extra4 text);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON mc FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('mq', 'ev_extra3=v');
	CREATE TRIGGER j AFTER INSERT OR UPDATE OR DELETE ON mc FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('mq', 'backup');
	CREATE TRIGGER s AFTER INSERT OR UPDATE OR DELETE ON mc FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('mq', 'ignore=v');
	INSERT INTO mc VALUES (1, 'ty', 'a', NULL, 'e1', 'e2', 'e3', NULL);
	UPDATE mc SET _pgq_ev_data = 'dd';
	UPDATE mc SET v = 'b', _pgq_ev_type = NULL;
	DELETE FROM mc;
	CREATE TABLE mbad (id int PRIMARY KEY, _pgq_ev_extra5 text);
	CREATE TRIGGER l AFTER INSERT ON mbad FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('mq');
	INSERT INTO mbad VALUES (1, 'x');
	\echo :LAST_ERROR_SQLSTATE
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	[ "$(grep -c "Unknown magic column: _pgq_ev_extra5" "$BATS_TEST_TMPDIR/c.out")" -eq 1 ]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	# jsontriga, logutriga (its ev_extra3=v wins), sqltriga; sqltriga
	# ignores v, so the updates that change only v and _pgq_ev_* are
	# nothing to it
	run cat "$BATS_TEST_TMPDIR/c.ev"
	[ "${lines[0]}" = "ty	\\N	e1	e2	e3	\\N	\\N	\\N" ]
	[ "${lines[1]}" = "ty	\\N	e1	e2	a	\\N	\\N	\\N" ]
	[ "${lines[3]}" = "ty	dd	e1	e2	e3	\\N	\\N	\\N" ]
	[ "${lines[6]}" = "\\N	dd	e1	e2	b	\\N	\\N	\\N" ]
	[ "${#lines[@]}" -eq 10 ]
	[ "$(grep -c _pgq_ev "$BATS_TEST_TMPDIR/c.ev")" -eq 0 ]
}

@test "C triggers: a writer's search_path never chooses what when= and ev_*= expressions call" {
	# Planted in public by a role with no grant but CREATE there: an
	# operator and a function more specific than pg_catalog's, which a
	# superuser's default search_path would pick for `amount > 100` and
	# `lower(name)` if the expression ran under it.
	sql postgres "DO \$\$BEGIN CREATE ROLE mallory130 LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" >/dev/null
	for db in c p; do
		sql "$db" "GRANT CREATE ON SCHEMA public TO PUBLIC;
			CREATE TABLE public.pwned (who text, via text);
			GRANT INSERT ON public.pwned TO PUBLIC;
			SELECT pgq.create_queue('trapq');
			CREATE TABLE public.acct (id int PRIMARY KEY, name varchar(20), amount numeric);
			CREATE TRIGGER t AFTER INSERT ON public.acct FOR EACH ROW
			  EXECUTE FUNCTION pgq.logutriga('trapq', 'when=amount > 100', 'ev_extra3=lower(name)')" >/dev/null
		psql -XAtq -v ON_ERROR_STOP=1 -U mallory130 -d "$db" >/dev/null <<-'SQL'
		CREATE FUNCTION public.mal_gt(numeric, integer) RETURNS boolean LANGUAGE plpgsql AS
		  $$BEGIN INSERT INTO public.pwned VALUES (current_user, '>');
		    EXECUTE 'ALTER ROLE mallory130 SUPERUSER'; RETURN true; END$$;
		CREATE OPERATOR public.> (leftarg = numeric, rightarg = integer, function = public.mal_gt);
		CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE plpgsql AS
		  $$BEGIN INSERT INTO public.pwned VALUES (current_user, 'lower'); RETURN 'pwn'; END$$;
		SQL
		sql "$db" "SET search_path = public, pg_catalog;
			INSERT INTO public.acct VALUES (1, 'Bob', 5), (2, 'Eve', 500)" >/dev/null
		run sql "$db" "SELECT who || ':' || via FROM public.pwned"
		[ -z "$output" ] || { echo "$db: ran $output" >&2; false; }
		run sql "$db" "SELECT string_agg(ev_extra3, ',') FROM pgq.event_template WHERE ev_extra1 = 'public.acct'"
		[ "$output" = eve ]
	done
	[ "$(sql postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory130'")" = f ]
}

@test "event tables: defaults, constraints, triggers on them, savepoints: as the planned INSERT" {
	# The C insert stores most events without planning an INSERT; a
	# table with anything an INSERT would honour beyond that keeps the
	# planned one.  Either way the result is the PL/pgSQL one.
	# (the table's name differs between c and p: errors by SQLSTATE)
	both <<-'SQL'
	\set VERBOSITY sqlstate
	SELECT pgq.create_queue('dq') IS NOT NULL;
	SELECT 'pgq.event_' || queue_id || '_' || queue_cur_table AS tbl FROM pgq.queue WHERE queue_name = 'dq' \gset
	SELECT pgq.insert_event('dq', 'plain', 'd') > 0;
	ALTER TABLE :tbl ALTER COLUMN ev_owner SET DEFAULT 42;
	ALTER TABLE :tbl ADD COLUMN ev_note text DEFAULT 'noted';
	SELECT pgq.insert_event('dq', 'defaults', 'd') > 0;
	SELECT pgq.insert_event_raw('dq', NULL, NULL, NULL, 3, 'raw', 'd', NULL, NULL, NULL, NULL) > 0;
	SELECT ev_type, ev_owner, ev_retry, ev_note FROM :tbl ORDER BY ev_id;
	ALTER TABLE :tbl ADD CONSTRAINT no_bad CHECK (ev_type <> 'bad');
	SELECT pgq.insert_event('dq', 'bad', 'd');
	SELECT 'no_bad: ' || (:'LAST_ERROR_MESSAGE' LIKE '%violates check constraint "no_bad"');
	CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN NEW.ev_extra4 := 'stamped'; RETURN NEW; END$$;
	CREATE TRIGGER stamp BEFORE INSERT ON :tbl FOR EACH ROW EXECUTE FUNCTION public.stamp();
	SELECT pgq.insert_event('dq', 'triggered', 'd') > 0;
	DROP TRIGGER stamp ON :tbl;
	CREATE TABLE dt (id int PRIMARY KEY, v text);
	CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON dt FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('dq');
	BEGIN;
	INSERT INTO dt VALUES (1, 'kept');
	SAVEPOINT s;
	INSERT INTO dt VALUES (2, 'undone');
	ROLLBACK TO s;
	INSERT INTO dt VALUES (3, 'after the savepoint');
	SAVEPOINT s2;
	SELECT pgq.insert_event('dq', 'bad', 'd');
	ROLLBACK TO s2;
	UPDATE dt SET v = 'updated' WHERE id = 1;
	COMMIT;
	INSERT INTO dt VALUES (4, repeat('a b/ä-', 700));
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[[ "$output" == *"plain|||noted"* ]]
	[[ "$output" == *"defaults|42||noted"* ]]
	[[ "$output" == *"raw||3|noted"* ]]
	[[ "$output" == *"no_bad: true"* ]]
	[ "$(grep -c 'ERROR:  23514' "$BATS_TEST_TMPDIR/c.out")" -eq 2 ]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	run grep -c . "$BATS_TEST_TMPDIR/c.ev"
	[ "$output" -eq 8 ]
	grep -q "^triggered	d	.*	stamped	" "$BATS_TEST_TMPDIR/c.ev"
	grep -q "^U:id	id=1&v=updated	public.dt" "$BATS_TEST_TMPDIR/c.ev"
}

@test "the direct insert's executor state, kept for a transaction: DDL, subtransactions, a nested insert" {
	# The C insert opens an event table and its indexes once per
	# transaction; DDL on the table in that transaction, a subtransaction
	# that opened it or failed while using it, another queue's table and
	# an insert made while one is being stored must all behave as the
	# planned INSERT does (without the closing, DDL on the table fails:
	# "being used by active queries").
	both <<-'SQL'
	\set VERBOSITY sqlstate
	SELECT pgq.create_queue('kq') IS NOT NULL;
	SELECT pgq.create_queue('kq2') IS NOT NULL;
	SELECT 'pgq.event_' || queue_id || '_' || queue_cur_table AS tbl FROM pgq.queue WHERE queue_name = 'kq' \gset
	CREATE FUNCTION public.nest(t text) RETURNS boolean LANGUAGE plpgsql AS
	  $$BEGIN IF t = 'outer' THEN PERFORM pgq.insert_event('kq', 'inner', 'd'); END IF; RETURN true; END$$;
	BEGIN;
	SELECT pgq.insert_event('kq', 'a', 'd') > 0;
	ALTER TABLE :tbl ADD COLUMN ev_note text DEFAULT 'noted';
	SELECT pgq.insert_event('kq', 'b', 'd') > 0;
	CREATE INDEX kq_type ON :tbl (ev_type);
	SELECT pgq.insert_event('kq', 'c', 'd') > 0;
	ALTER TABLE :tbl ADD CONSTRAINT no_bad CHECK (ev_type <> 'bad');
	ALTER TABLE :tbl ADD CONSTRAINT nest CHECK (public.nest(ev_type));
	DO $$
	BEGIN
		PERFORM pgq.insert_event('kq', 'd', 'd');
		BEGIN
			PERFORM pgq.insert_event('kq', 'bad', 'd');
		EXCEPTION WHEN check_violation THEN NULL;
		END;
		PERFORM pgq.insert_event('kq', 'e', 'd');
		BEGIN
			PERFORM pgq.insert_event('kq2', 'sub', 'opened here, committed');
			PERFORM pgq.insert_event('kq', 'sub', 'opened here, committed');
		END;
		PERFORM pgq.insert_event('kq', 'f', 'd');
		BEGIN
			PERFORM pgq.insert_event('kq2', 'gone', 'opened here, rolled back');
			PERFORM pgq.insert_event('kq', 'gone', 'opened here, rolled back');
			RAISE EXCEPTION 'undo';
		EXCEPTION WHEN raise_exception THEN NULL;
		END;
		PERFORM pgq.insert_event('kq', 'g', 'd');
		PERFORM pgq.insert_event('kq', 'outer', 'd');
		PERFORM pgq.insert_event('kq', 'h', 'd');
	END
	$$;
	SELECT pgq.insert_event('kq', 'bad', 'd');
	ROLLBACK;
	BEGIN;
	SELECT pgq.insert_event('kq', 'a', 'd') > 0;
	ALTER TABLE :tbl ADD COLUMN ev_note text DEFAULT 'noted';
	CREATE INDEX kq_type ON :tbl (ev_type);
	ALTER TABLE :tbl ADD CONSTRAINT nest CHECK (public.nest(ev_type));
	DO $$
	BEGIN
		PERFORM pgq.insert_event('kq', 'b', 'd');
		BEGIN
			PERFORM pgq.insert_event('kq2', 'sub', 'opened here, committed');
			PERFORM pgq.insert_event('kq', 'sub', 'opened here, committed');
		END;
		BEGIN
			PERFORM pgq.insert_event('kq2', 'gone', 'opened here, rolled back');
			PERFORM pgq.insert_event('kq', 'gone', 'opened here, rolled back');
			RAISE EXCEPTION 'undo';
		EXCEPTION WHEN raise_exception THEN NULL;
		END;
		PERFORM pgq.insert_event('kq', 'outer', 'd');
		PERFORM pgq.insert_event('kq', 'c', 'd');
	END
	$$;
	SAVEPOINT s;
	SELECT pgq.insert_event('kq', 'undone', 'd') > 0;
	ROLLBACK TO s;
	SELECT pgq.insert_event('kq', 'd', 'd') > 0;
	TRUNCATE :tbl;
	SELECT pgq.insert_event('kq', 'e', 'd') > 0;
	SELECT pgq.insert_event('kq', 'f', 'd') > 0;
	COMMIT;
	SELECT ev_type, ev_note FROM :tbl ORDER BY ev_id;
	SET enable_seqscan = off;
	SELECT count(*) FROM :tbl WHERE ev_type = 'f';
	SELECT pgq.drop_queue('kq') IS NOT NULL;
	SQL
	diff "$BATS_TEST_TMPDIR/p.out" "$BATS_TEST_TMPDIR/c.out"
	run cat "$BATS_TEST_TMPDIR/c.out"
	[ "$(grep -c 'ERROR:  23514' "$BATS_TEST_TMPDIR/c.out")" -eq 1 ]
	[[ "$output" != *WARNING* ]]
	[[ "$output" == *$'e|noted\nf|noted\n1\n'* ]]
	dump_events c >"$BATS_TEST_TMPDIR/c.ev"
	dump_events p >"$BATS_TEST_TMPDIR/p.ev"
	diff "$BATS_TEST_TMPDIR/p.ev" "$BATS_TEST_TMPDIR/c.ev"
	run cut -f1,2 "$BATS_TEST_TMPDIR/c.ev"
	[ "$output" = "sub	opened here, committed" ]
}

@test "C triggers read the queue's row under insert_event's search_path, not the writer's" {
	# An unqualified sequence name in the queue's row (a hand edit):
	# insert_event resolves it under its own pinned path, where it is
	# not found; a trigger must not resolve it under the writer's path,
	# which finds the writer's sequence.
	sql c "SELECT pgq.create_queue('spq');
		CREATE SCHEMA w130; CREATE SEQUENCE w130.evseq;
		UPDATE pgq.queue SET queue_event_seq = 'evseq' WHERE queue_name = 'spq';
		CREATE TABLE w130.t (id int PRIMARY KEY);
		CREATE TRIGGER l AFTER INSERT ON w130.t FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('spq')" >/dev/null
	run --separate-stderr sql c "SET search_path = w130, public; SELECT pgq.insert_event('spq', 't', 'd')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *'relation "evseq" does not exist'* ]]
	run --separate-stderr sql c "SET search_path = w130, public; INSERT INTO w130.t VALUES (1)"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *'relation "evseq" does not exist'* ]]
	run sql c "SELECT last_value, is_called FROM w130.evseq"
	[ "$output" = "1|f" ]
}
