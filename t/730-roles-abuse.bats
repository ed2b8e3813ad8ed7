#!/usr/bin/env bats
# Abuse of the database side: what a pgq_writer and a pgq_reader can do
# through our SECURITY DEFINER functions, and hostile objects planted
# ahead of them in the search path.  (The plain grants are in t/103.)

load helper
load 200-londiste
load 730-search-path

setup_file() {
	pg_start
	new_db ab
	sql ab "CREATE ROLE w LOGIN IN ROLE pgq_writer;
	CREATE ROLE r LOGIN IN ROLE pgq_reader;
	GRANT CREATE ON SCHEMA public TO w, r;
	CREATE SCHEMA secret;
	CREATE TABLE secret.t (s text);
	INSERT INTO secret.t VALUES ('the secret');
	SELECT pgq.create_queue('q');
	SELECT pgq.create_queue('victim');
	SELECT pgq.register_consumer('q', 'c');" >/dev/null
	psql -XAq -v ON_ERROR_STOP=1 -d ab -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
	psql -XAq -v ON_ERROR_STOP=1 -d ab -f "$SKYTOOLS_SQLDIR/pgq_node.sql" >/dev/null
	sql ab "SELECT * FROM pgq_node.register_location('cq', 'n1', 'dbname=ab', false);
	SELECT * FROM pgq_node.register_location('cq', 'n2', 'dbname=other', false);
	SELECT * FROM pgq_node.create_node('cq', 'root', 'n1', 'w1', NULL, NULL, NULL);
	SELECT * FROM pgq_node.register_consumer('cq', 'cc', 'n1', 1)" >/dev/null
	sql ab "CREATE TABLE public.sp_trap (who text, what text);
	GRANT INSERT, SELECT ON public.sp_trap TO PUBLIC;
	CREATE ROLE mallory LOGIN" >/dev/null
}

as() {
	local u=$1; shift
	psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d ab -c "$*"
}

# (cq is the pgq_node root's queue)
queues() { sql ab "SELECT string_agg(queue_name, ',' ORDER BY queue_name) FROM pgq.queue WHERE queue_name <> 'cq'"; }

open_batch() {
	sql ab "SELECT pgq.insert_event('q', 't', 'd')" >/dev/null
	sql ab "SELECT pgq.force_tick('q')" >/dev/null
	sql ab "SELECT pgq.ticker('q')" >/dev/null
	as r "SELECT pgq.next_batch('q', 'c')"
}

@test "every SECURITY DEFINER function of ours pins search_path, pg_temp last" {
	run sp_unsafe_secdef -d ab
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "not pinned safely: $output" >&2; false; }
}

@test "every function of ours pins search_path (but those that must resolve as the caller)" {
	run sp_unpinned -d ab
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "not pinned: $output" >&2; false; }
}

@test "a role without PgQ grants does not become superuser through a temporary domain" {
	# The report's exploit, word for word, then every type the
	# functions name, against every function PUBLIC may call.
	psql -XAtq -U mallory -d ab >/dev/null 2>&1 <<-'SQL' || :
	CREATE FUNCTION pg_temp.evil(x pg_catalog.text) RETURNS bool LANGUAGE plpgsql AS
	  $$BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; RETURN true; END$$;
	CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.evil(VALUE));
	SELECT * FROM pgq.get_consumer_info();
	SELECT * FROM pgq.get_queue_info();
	SQL
	[ "$(sql ab "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" = f ]
	sp_temp_domain_trap mallory -d ab -- "${SP_PUBLIC_CALLS[@]}"
	[ "$(sql ab "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" = f ]
	run sql ab "SELECT who FROM public.sp_trap WHERE who <> 'mallory'"
	[ -z "$output" ] || { echo "ran as $output" >&2; false; }
	# the trap is live: mallory's own use of the type trips it
	sp_temp_domain_trap mallory -d ab -- "SELECT 'x'::text"
	[ "$(sql ab "SELECT count(*) FROM public.sp_trap WHERE who = 'mallory'")" -gt 0 ]
}

@test "readers and writers do not run temporary-domain code as the owner either" {
	b=$(open_batch)
	[ -n "$b" ]
	sp_temp_domain_trap r -d ab -- "SELECT * FROM pgq.next_batch_info('q', 'c')" \
		"SELECT * FROM pgq.get_batch_events($b)" "SELECT * FROM pgq.get_batch_info($b)" \
		"SELECT pgq.batch_event_sql($b)" "SELECT pgq.batch_event_tables($b)" \
		"SELECT pgq.event_retry($b, (SELECT min(ev_id) FROM pgq.get_batch_events($b)), 0)" \
		"SELECT pgq.batch_retry($b, 0)" "SELECT pgq.force_tick('q')" \
		"SELECT pgq.register_consumer('q', 'c2')" "SELECT pgq.unregister_consumer('q', 'c2')" \
		"SELECT pgq.finish_batch($b)"
	sp_temp_domain_trap r -d ab -- "SELECT * FROM pgq_node.get_node_info('cq')" \
		"SELECT * FROM pgq_node.get_queue_locations('cq')" \
		"SELECT * FROM pgq_node.get_subscriber_info('cq')" \
		"SELECT * FROM pgq_node.get_consumer_state('cq', 'cc')" \
		"SELECT * FROM pgq_node.register_subscriber('cq', 'n2', 'w2', NULL)" \
		"SELECT * FROM pgq_node.set_subscriber_watermark('cq', 'n2', 1)" \
		"SELECT * FROM pgq_node.unregister_subscriber('cq', 'n2')"
	sp_temp_domain_trap w -d ab -- "SELECT pgq.insert_event('q', 't', 'd')" \
		"SELECT pgq.insert_event('q', 't', 'd', 'e1', 'e2', 'e3', 'e4')" \
		"SELECT pgq.current_event_table('q')" \
		"SELECT * FROM pgq_node.set_consumer_completed('cq', 'cc', 1)" \
		"SELECT * FROM pgq_node.set_consumer_error('cq', 'cc', 'e')" \
		"SELECT * FROM pgq_node.set_consumer_paused('cq', 'cc', true)" \
		"SELECT * FROM pgq_node.change_consumer_provider('cq', 'cc', 'n2')"
	run sql ab "SELECT who FROM public.sp_trap WHERE who NOT IN ('mallory', 'r', 'w')"
	[ -z "$output" ] || { echo "ran as $output" >&2; false; }
	[ "$(sql ab "SELECT count(*) FROM pg_roles WHERE rolname IN ('r', 'w') AND rolsuper")" = 0 ]
}

@test "hostile functions, operators and temp tables ahead in the path are not called" {
	# A writer plants public.now(), txid functions and an = operator
	# that record who ran them, and temp tables named like ours.
	as w "CREATE TABLE public.pwned (who text, what text);
	GRANT INSERT ON public.pwned TO PUBLIC;
	CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.pwned VALUES (current_user, 'now'); RETURN pg_catalog.now(); END \$\$;
	CREATE FUNCTION public.txid_current() RETURNS bigint LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.pwned VALUES (current_user, 'txid'); RETURN pg_catalog.txid_current(); END \$\$;
	CREATE FUNCTION public.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.pwned VALUES (current_user, 'snap'); RETURN pg_catalog.pg_current_snapshot(); END \$\$;
	CREATE FUNCTION public.texteq_pwn(text, text) RETURNS boolean LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.pwned VALUES (current_user, 'op'); RETURN \$1 OPERATOR(pg_catalog.=) \$2; END \$\$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.texteq_pwn);"
	for u in w r; do
		psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d ab <<-SQL >/dev/null
		SET search_path = public, pg_temp, pg_catalog;
		CREATE TEMP TABLE queue (queue_name text, queue_id int);
		CREATE TEMP TABLE subscription (sub_id int);
		CREATE TEMP TABLE consumer (co_name text, co_id int);
		CREATE TEMP TABLE tick (tick_id bigint);
		SELECT pgq.get_queue_info('q');
		SELECT pgq.get_consumer_info('q', 'c');
		SQL
	done
	psql -XAtq -v ON_ERROR_STOP=1 -U w -d ab <<-SQL >/dev/null
	SET search_path = public, pg_catalog;
	SELECT pgq.insert_event('q', 'from w', 'x');
	SELECT pgq.insert_event('q', 'from w', 'x', 'e1', 'e2', 'e3', 'e4');
	SELECT pgq.current_event_table('q');
	SQL
	sql ab "SELECT pgq.force_tick('q')" >/dev/null
	sql ab "SELECT pgq.ticker('q')" >/dev/null
	psql -XAtq -v ON_ERROR_STOP=1 -U r -d ab <<-SQL >/dev/null
	SET search_path = public, pg_catalog;
	SELECT pgq.next_batch_info('q', 'c');
	SELECT pgq.get_batch_events(pgq.next_batch('q', 'c'));
	SELECT pgq.event_retry(pgq.next_batch('q', 'c'), (SELECT ev_id FROM pgq.get_batch_events(pgq.next_batch('q', 'c')) LIMIT 1), 0);
	SELECT pgq.finish_batch(pgq.next_batch('q', 'c'));
	SQL
	run sql ab "SELECT who || ':' || what FROM public.pwned"
	[ -z "$output" ] || { echo "called: $output" >&2; false; }
	# The plants are live: a plain query of the caller's does call them.
	as w "SET search_path = public, pg_catalog; SELECT now(); SELECT 'a' = 'a'" >/dev/null
	[ "$(sql ab "SELECT string_agg(what, ',' ORDER BY what) FROM public.pwned")" = now,op ]
}

@test "a writer produces but cannot consume, change or drop queues" {
	as w "SELECT pgq.insert_event('q', 't', 'w')" >/dev/null
	for stmt in "SELECT pgq.next_batch('q', 'c')" "SELECT pgq.register_consumer('q', 'w')" \
	    "SELECT pgq.drop_queue('victim')" "SELECT pgq.create_queue('w')" \
	    "SELECT pgq.set_queue_config('q', 'ticker_max_count', '1')" "SELECT pgq.ticker()" \
	    "SELECT pgq.finish_batch(1)" "SELECT * FROM pgq.get_batch_events(1)" \
	    "DELETE FROM pgq.queue" "UPDATE pgq.subscription SET sub_last_tick = 1"; do
		run as w "$stmt"
		[ "$status" -ne 0 ] || { echo "writer could: $stmt" >&2; false; }
		[[ "$output" == *"permission denied"* ]] || { echo "$stmt: $output" >&2; false; }
	done
	[ "$(queues)" = q,victim ]
}

@test "a reader consumes but cannot produce, change or drop queues" {
	b=$(open_batch)
	[ -n "$b" ]
	as r "SELECT count(*) FROM pgq.get_batch_events($b)" >/dev/null
	for stmt in "SELECT pgq.insert_event('q', 't', 'r')" "SELECT pgq.drop_queue('victim')" \
	    "SELECT pgq.create_queue('r')" "SELECT pgq.set_queue_config('q', 'queue_disable_insert', 'true')" \
	    "SELECT pgq.ticker()" "SELECT pgq.maint_rotate_tables_step1('q')" \
	    "INSERT INTO pgq.event_1 (ev_type) VALUES ('x')" "SELECT * FROM secret.t"; do
		run as r "$stmt"
		[ "$status" -ne 0 ] || { echo "reader could: $stmt" >&2; false; }
		[[ "$output" == *"permission denied"* ]] || { echo "$stmt: $output" >&2; false; }
	done
	as r "SELECT pgq.finish_batch($b)" >/dev/null
	[ "$(queues)" = q,victim ]
}

@test "no SQL of a caller runs with the owner's rights (get_batch_cursor's extra where)" {
	b=$(open_batch)
	[ -n "$b" ]
	# Legitimate use: a condition on the event columns.
	as r "BEGIN; SELECT count(*) FROM pgq.get_batch_cursor($b, 'cur', 10, 'ev_type = ''t'''); COMMIT" >/dev/null
	# Abuse: a condition that reads another schema or changes queues.
	run as r "BEGIN; SELECT * FROM pgq.get_batch_cursor($b, 'c2', 10, '(SELECT s FROM secret.t) IS NOT NULL AND ev_data = (SELECT s FROM secret.t)'); COMMIT"
	leaked=$output
	run as r "BEGIN; SELECT * FROM pgq.get_batch_cursor($b, 'c3', 10, '(SELECT pgq.drop_queue(''victim'')) = 1'); COMMIT"
	sql ab "SELECT pgq.finish_batch($b)" >/dev/null
	[ "$(queues)" = q,victim ] || { echo "SECURITY HOLE (sql/pgq 55-batch.sql): a pgq_reader dropped a queue through get_batch_cursor's extra where (SECURITY DEFINER)" >&2; false; }
	[[ "$leaked" != *"the secret"* ]]
	# the cursor name is an identifier, never SQL
	b=$(open_batch)
	run as r "BEGIN; SELECT count(*) FROM pgq.get_batch_cursor($b, 'x; DROP TABLE secret.t; --', 10); COMMIT"
	[ "$(sql ab "SELECT count(*) FROM secret.t")" = 1 ]
	sql ab "SELECT pgq.finish_batch($b)" >/dev/null
}

@test "objects planted in public never run in the sessions of our programs and porcelain" {
	# PostgreSQL 14 and older let every role create in public; eve has
	# no other right.  Her functions and operator are better matches
	# than the built-ins for what replay, copy, compare and the
	# ticker's maintenance call, and record whoever runs them.
	lon_pair lp ls
	for db in lp ls; do
		sql $db "GRANT CREATE ON SCHEMA public TO PUBLIC;
		CREATE TABLE public.t (id int PRIMARY KEY, v text);
		CREATE SEQUENCE public.s;
		CREATE TABLE public.sp_trap (who text, what text);
		GRANT INSERT, SELECT ON public.sp_trap TO PUBLIC" >/dev/null
	done
	sql postgres "DROP ROLE IF EXISTS eve; CREATE ROLE eve LOGIN" >/dev/null
	for db in lp ls; do
		psql -XAtq -v ON_ERROR_STOP=1 -U eve -d $db >/dev/null <<-'SQL'
		CREATE FUNCTION public.sp_trip(what text) RETURNS void LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.sp_trap VALUES (current_user, what);
			IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
				EXECUTE 'ALTER ROLE eve SUPERUSER';
			END IF;
		END $$;
		CREATE FUNCTION public.length(name) RETURNS int LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('length'); RETURN pg_catalog.length($1::text); END $$;
		CREATE FUNCTION public.sp_cat(name, text) RETURNS text LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('||'); RETURN pg_catalog.textcat($1::text, $2); END $$;
		CREATE OPERATOR public.|| (LEFTARG = name, RIGHTARG = text, FUNCTION = public.sp_cat);
		CREATE FUNCTION public.format(text, name, name) RETURNS text LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('format'); RETURN pg_catalog.format($1, $2, $3); END $$;
		CREATE FUNCTION public.pg_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('pg_relation_size'); RETURN pg_catalog.pg_relation_size($1::regclass); END $$;
		CREATE FUNCTION public.array_length(text[], int) RETURNS int LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('array_length'); RETURN pg_catalog.array_length($1, $2); END $$;
		CREATE FUNCTION public.starts_with(text, name) RETURNS bool LANGUAGE plpgsql AS
		  $$ BEGIN PERFORM public.sp_trip('starts_with'); RETURN pg_catalog.starts_with($1, $2::text); END $$;
		SQL
	done
	# The plants are live: eve's own session calls them.
	psql -XAtq -U eve -d lp -c "SELECT length('x'::name), 'a'::name || 'b'::text" >/dev/null
	[ "$(sql lp "SELECT string_agg(what, ',' ORDER BY what) FROM public.sp_trap WHERE who = 'eve'")" = "length,||" ]

	# Set up through the porcelain's SQL, as a superuser would.
	sql lp "INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 10) g"
	sql lp "SELECT londiste.provider_add_table('q', 't'); SELECT londiste.provider_add_seq('q', 's')" >/dev/null
	sql ls "SELECT londiste.subscriber_add_table('q', 't'); SELECT londiste.subscriber_add_seq('q', 'public.s')" >/dev/null
	londiste-copy -s lp -d ls --consumer c t >/dev/null
	# Changes on the provider fire the replication trigger in a
	# superuser's session whose path has public in it.
	sql lp "INSERT INTO public.t VALUES (11, 'x'); UPDATE public.t SET v = 'y' WHERE id = 1;
		DELETE FROM public.t WHERE id = 2; SELECT nextval('public.s')" >/dev/null
	# The ticker's maintenance sends the sequence (londiste.rel_oid).
	pgq-tick -d lp
	sql lp "SELECT pgq.force_tick('q')" >/dev/null
	pgq-tick -d lp
	for i in 1 2 3 4; do
		run --separate-stderr sh -c 'pgq-next-batch -d lp q c | pgq-events -d lp |
			londiste-apply -d ls --consumer c | pgq-finish-batch -d lp'
		[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	done
	[ "$(dump lp public.t)" = "$(dump ls public.t)" ]
	[ "$(sql ls "SELECT last_value FROM public.s")" = 1 ]
	# compare looks the table up on both sides before it waits for a
	# replay that is not running here
	run --separate-stderr londiste-compare -s lp -d ls --consumer c --lock-timeout 0.2 t
	for db in lp ls; do
		run sql $db "SELECT who || ':' || what FROM public.sp_trap WHERE who <> 'eve'"
		[ -z "$output" ] || { echo "$db: ran as $output" >&2; false; }
	done
	[ "$(sql postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'eve'")" = f ]
}

@test "the install script resolves its names without the installer's search_path" {
	new_db inst none
	sql inst "CREATE TABLE public.sp_trap (who text, what text);
	CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.sp_trap VALUES (current_user, 'to_regclass');
	  RETURN pg_catalog.to_regclass(\$1); END \$\$;
	CREATE FUNCTION public.pg_has_role(name, name, text) RETURNS boolean LANGUAGE plpgsql AS
	  \$\$ BEGIN INSERT INTO public.sp_trap VALUES (current_user, 'pg_has_role');
	  RETURN pg_catalog.pg_has_role(\$1, \$2, \$3); END \$\$;" >/dev/null
	for f in pgq pgq_coop pgq_node londiste; do
		PGOPTIONS="-c search_path=public,pg_catalog" \
			psql -XAq -v ON_ERROR_STOP=1 -d inst -f "$SKYTOOLS_SQLDIR/$f.sql" >/dev/null
	done
	run sql inst "SELECT who || ':' || what FROM public.sp_trap"
	[ -z "$output" ] || { echo "called: $output" >&2; false; }
	# the plants are live
	PGOPTIONS="-c search_path=public,pg_catalog" sql inst "SELECT to_regclass('pgq.queue')" >/dev/null
	[ "$(sql inst "SELECT count(*) FROM public.sp_trap")" = 1 ]
}
