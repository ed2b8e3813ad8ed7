#!/usr/bin/env bats
# Abuse of the database side: what a pgq_writer and a pgq_reader can do
# through our SECURITY DEFINER functions, and hostile objects planted
# ahead of them in the search path.  (The plain grants are in t/103.)

load helper

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
}

as() {
	local u=$1; shift
	psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d ab -c "$*"
}

queues() { sql ab "SELECT string_agg(queue_name, ',' ORDER BY queue_name) FROM pgq.queue"; }

open_batch() {
	sql ab "SELECT pgq.insert_event('q', 't', 'd')" >/dev/null
	sql ab "SELECT pgq.force_tick('q')" >/dev/null
	sql ab "SELECT pgq.ticker('q')" >/dev/null
	as r "SELECT pgq.next_batch('q', 'c')"
}

@test "every SECURITY DEFINER function of pgq, pgq_coop and londiste pins search_path" {
	run sql ab "SELECT p.oid::regprocedure FROM pg_proc p
		WHERE p.prosecdef AND p.pronamespace::regnamespace::text IN ('pgq', 'pgq_coop', 'londiste')
		AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "not pinned: $output" >&2; false; }
	# and the pinned path starts with pg_catalog, so nothing of the
	# caller's comes before the built-ins
	run sql ab "SELECT p.oid::regprocedure || ' ' || c FROM pg_proc p, unnest(p.proconfig) c
		WHERE p.prosecdef AND p.pronamespace::regnamespace::text IN ('pgq', 'pgq_coop', 'londiste')
		AND c LIKE 'search_path=%' AND c NOT LIKE 'search_path=pg_catalog%'"
	[ -z "$output" ] || { echo "$output" >&2; false; }
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
