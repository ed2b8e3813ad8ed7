#!/usr/bin/env bats
# Hostile names: queues, consumers, schemas, tables, columns and
# sequences whose names hold quotes, semicolons, backslashes, spaces,
# dots, $$, percent signs and non-ASCII characters work through every
# program, and never run as SQL (a canary table would be dropped).

load helper
load 200-londiste

# Each name would, if pasted into SQL, end the statement and drop the
# canary.
Q=$(printf "q'\"; DROP TABLE canary; -- \\\\ \$\$ x.y %%s é€")
C=$(printf "c'); DROP TABLE canary; --\t\$\$ \\\\N ü")

setup_file() {
	pg_start
	new_db nm
	sql nm "CREATE TABLE canary (x int)"
}

canary_alive() {
	[ "$(sql "$1" "SELECT count(*) FROM pg_tables WHERE tablename = 'canary'")" = 1 ]
}

@test "names: queue and consumer names through the PgQ programs" {
	C=$(printf "c'); DROP TABLE canary; -- \$\$ \\\\N ü")
	pgq-create-queue -d nm "$Q"
	pgq-register -d nm "$Q" "$C"
	printf 'type\tdata\n' | pgq-insert -d nm "$Q"
	sql nm "SELECT pgq.force_tick(\$n\$$Q\$n\$)" >/dev/null
	sql nm "SELECT pgq.ticker(\$n\$$Q\$n\$)" >/dev/null
	run --separate-stderr sh -c 'pgq-next-batch -d nm "$1" "$2" | pgq-events -d nm | pgq-finish-batch -d nm' x "$Q" "$C"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr pgq-status -d nm "$Q" "$C"
	[ "$status" -eq 0 ]
	run --separate-stderr pgq-status -d nm
	[ "$status" -eq 0 ]
	# status prints names escaped, one record per line
	[ "$(printf '%s\n' "$output" | grep -c DROP)" -ge 1 ]
	run --separate-stderr pgq-next-batch -d nm "$Q" "$C"
	[ "$status" -eq 1 ]
	pgq-unregister -d nm "$Q" "$C"
	pgq-drop-queue -d nm "$Q"
	canary_alive nm
	[ "$(sql nm "SELECT count(*) FROM pgq.queue")" = 0 ]
}

@test "names: a tab or newline in a queue name is carried escaped, never splits a record" {
	q=$(printf 'tab\there')
	pgq-create-queue -d nm "$q"
	pgq-register -d nm "$q" c
	printf 't\td\n' | pgq-insert -d nm "$q"
	sql nm "SELECT pgq.force_tick(E'tab\\there')" >/dev/null
	sql nm "SELECT pgq.ticker(E'tab\\there')" >/dev/null
	run --separate-stderr sh -c 'pgq-next-batch -d nm "$1" c | pgq-events -d nm | pgq-finish-batch -d nm' x "$q"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	pgq-drop-queue -d nm --force "$q"
}

@test "names: londiste replicates hostile schema, table, column and sequence names" {
	lon_pair lp ls ours
	S=$(printf "Sch'; DROP TABLE canary;--.x")
	T=$(printf "T \$\$a\\\\b é")
	K=$(printf "Id'\"; DROP TABLE canary; --")
	V=$(printf "v.al%%s\$1 ü")
	SEQ=$(printf "s'q; DROP TABLE canary; --.é")
	qi() { sql lp "SELECT quote_ident(\$n\$$1\$n\$)"; }
	qs=$(qi "$S") qt=$(qi "$T") qk=$(qi "$K") qv=$(qi "$V") qq=$(qi "$SEQ")
	for db in lp ls; do
		sql $db "CREATE TABLE canary (x int)"
		sql $db "CREATE SCHEMA $qs"
		sql $db "CREATE TABLE $qs.$qt ($qk int PRIMARY KEY, $qv text)"
		sql $db "CREATE SEQUENCE $qs.$qq"
	done
	# londiste's table names are schema.table with the parts as typed
	sql lp "SELECT londiste.provider_add_table('q', \$n\$$S.$T\$n\$)" >/dev/null ||
		sql lp "SELECT londiste.provider_add_table('q', \$n\$$qs.$qt\$n\$)" >/dev/null
	tname=$(sql lp "SELECT table_name FROM londiste.provider_table")
	sql ls "SELECT londiste.subscriber_add_table('q', \$n\$$tname\$n\$)" >/dev/null
	sql ls "UPDATE londiste.subscriber_table SET state = 'ok'"
	lon_skip lp
	sql lp "INSERT INTO $qs.$qt VALUES (1, \$v\$a'b\"c;d\\e \$\$ é\$v\$), (2, NULL), (3, 'x')"
	sql lp "UPDATE $qs.$qt SET $qv = 'changed' WHERE $qk = 3"
	sql lp "DELETE FROM $qs.$qt WHERE $qk = 2"
	replay_once lp ls
	[ "$(dump lp "$qs.$qt")" = "$(dump ls "$qs.$qt")" ]
	[ "$(sql ls "SELECT count(*) FROM $qs.$qt")" = 2 ]
	canary_alive lp
	canary_alive ls
	# a sequence: registered on both sides, its value sent by maintenance
	sql lp "SELECT londiste.provider_add_seq('q', \$n\$$S.$SEQ\$n\$)" >/dev/null
	sname=$(sql lp "SELECT seq_name FROM londiste.provider_seq")
	sql ls "SELECT londiste.subscriber_add_seq('q', \$n\$$sname\$n\$)" >/dev/null
	sql lp "SELECT nextval(\$n\$$qs.$qq\$n\$::regclass) FROM generate_series(1, 5)" >/dev/null
	sql lp "SELECT londiste.periodic_maintenance()" >/dev/null	# the ticker's maintenance
	replay_once lp ls
	replay_once lp ls
	[ "$(sql ls "SELECT last_value FROM $qs.$qq")" = 5 ]
	canary_alive ls
}

@test "names: a queue name longer than a channel name still wakes its waiters" {
	# 60 ASCII bytes then multibyte characters across the 63-byte cut.
	L="$(printf 'w%.0s' $(seq 60))ééé€€ long"
	pgq-create-queue -d nm "$L"
	sql nm "SELECT pgq.force_tick(\$n\$$L\$n\$)" >/dev/null
	# A session listening on the name (the server cuts it as it cuts
	# the NOTIFY's channel) hears the tick and the finish.
	run --separate-stderr psql -XAt -d nm -v "q=$L" -f - <<-'SQL'
		LISTEN :"q";
		SELECT pgq.ticker(:'q') > 0;
		SELECT pgq.register_consumer(:'q', 'c');
		SELECT pgq.force_tick(:'q') > 0;
		SELECT pgq.ticker(:'q') > 0;
		SELECT pgq.finish_batch(pgq.next_batch(:'q', 'c'));
	SQL
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *'payload "tick '* ]]
	[[ "$output" == *'payload "finish '* ]]
}

@test "names: a dot inside a name never sends rows to another table" {
	lon_pair dp ds ours
	for db in dp ds; do
		# created first, so the lowest OIDs: schema "public.a" with
		# table b spells public.a.b too; an index and a view named
		# like replicated tables
		sql $db 'CREATE SCHEMA "public.a"; CREATE TABLE "public.a".b (id int PRIMARY KEY, v text);
		CREATE SCHEMA "public.x"; CREATE TABLE public.w (id int);
		CREATE INDEX "x.y" ON public.w (id);
		CREATE VIEW public."x.z" AS SELECT 1 AS id;
		CREATE SCHEMA a; CREATE TABLE a.b (id int PRIMARY KEY, v text);
		CREATE TABLE public."a.b" (id int PRIMARY KEY, v text);
		CREATE TABLE "public.x".y (id int PRIMARY KEY, v text);
		CREATE TABLE "public.x".z (id int PRIMARY KEY, v text)'
	done
	# SQL syntax, the canonical form and a bare name each mean one table
	[ "$(sql dp "SELECT londiste.find_table('\"a.b\"')")" = public.a.b ]
	[ "$(sql dp "SELECT londiste.find_table('public.\"a.b\"')")" = public.a.b ]
	[ "$(sql dp "SELECT londiste.find_table('a.b')")" = a.b ]
	[ "$(sql dp "SELECT londiste.quoted_name('public.a.b')")" = 'public."a.b"' ]
	[ "$(sql dp "SELECT londiste.rel_oid('public.a.b')::oid = 'public.\"a.b\"'::regclass::oid")" = t ]
	# not the index, not the view: the tables of those names
	[ "$(sql dp "SELECT londiste.quoted_name('public.x.y')")" = '"public.x".y' ]
	[ "$(sql dp "SELECT londiste.quoted_name('public.x.z')")" = '"public.x".z' ]
	[ "$(sql dp "SELECT londiste.find_table('public.x.y')")" = public.x.y ]
	# nor does the caller's search_path play a part
	run sql dp "SET search_path = a, public; SELECT londiste.find_table('b')"
	[ "$status" -ne 0 ]
	[ "$(sql dp "SET search_path = a; SELECT londiste.find_table('\"a.b\"')")" = public.a.b ]
	lon_tables dp ds public.a.b a.b public.x.y
	lon_skip dp
	sql dp "INSERT INTO public.\"a.b\" VALUES (1, 'public a.b'); INSERT INTO a.b VALUES (2, 'a b');
		INSERT INTO \"public.x\".y VALUES (3, 'public.x y')"
	replay_once dp ds
	[ "$(sql ds "SELECT v FROM public.\"a.b\"")" = "public a.b" ]
	[ "$(sql ds "SELECT v FROM a.b")" = "a b" ]
	[ "$(sql ds "SELECT v FROM \"public.x\".y")" = "public.x y" ]
	[ "$(sql ds "SELECT count(*) FROM \"public.a\".b")" = 0 ]
}

@test "names: long queue names each get their own two triggers on a table" {
	lon_db tn ours
	sql tn "CREATE TABLE t2 (id int PRIMARY KEY)"
	P=$(printf 'p%.0s' $(seq 60))
	# 45 bytes: the server cut the TRUNCATE trigger's name; 52: the
	# last length with the names earlier versions gave; 53: both names
	# would be cut the same; two queues sharing 60 bytes; multibyte
	# characters across every cut
	Q45=$(printf 'k%.0s' $(seq 45))
	Q52=$(printf 'm%.0s' $(seq 52))
	Q53=$(printf 'n%.0s' $(seq 53))
	QM="$(printf 'é%.0s' $(seq 30))€€"
	set -- "$Q45" "$Q52" "$Q53" "${P}_A" "${P}_B" "$QM" "$P$QM"
	for q in "$@"; do
		sql tn "SELECT pgq.create_queue(\$n\$$q\$n\$)" >/dev/null
		sql tn "SELECT pgq.register_consumer(\$n\$$q\$n\$, 'c')" >/dev/null
		sql tn "SELECT londiste.provider_add_table(\$n\$$q\$n\$, 'public.t2')" >/dev/null
		sql tn "SELECT pgq.force_tick(\$n\$$q\$n\$), pgq.ticker(\$n\$$q\$n\$)" >/dev/null
		sql tn "SELECT pgq.finish_batch(pgq.next_batch(\$n\$$q\$n\$, 'c'))" >/dev/null
	done
	[ "$(sql tn "SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgrelid = 't2'::regclass")" = $((2 * $#)) ]
	[ "$(sql tn "SELECT max(octet_length(tgname)) FROM pg_trigger WHERE tgrelid = 't2'::regclass")" -le 63 ]
	# short names keep the trigger names installs already have
	[ "$(sql tn "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't2'::regclass
		AND tgname IN ('_londiste_$Q45', left('_londiste_${Q45}_truncate', 63),
			'_londiste_$Q52', left('_londiste_${Q52}_truncate', 63))")" = 4 ]
	# each queue's triggers write to that queue
	sql tn "INSERT INTO t2 VALUES (1); TRUNCATE t2"
	for q in "$@"; do
		sql tn "SELECT pgq.force_tick(\$n\$$q\$n\$), pgq.ticker(\$n\$$q\$n\$)" >/dev/null
		[ "$(sql tn "SELECT string_agg(left(ev_type, 1), '' ORDER BY ev_id) FROM pgq.get_batch_events(pgq.next_batch(\$n\$$q\$n\$, 'c'))")" = IR ]
	done
	# removing a table finds and drops exactly that queue's triggers
	for q in "$@"; do
		sql tn "SELECT londiste.provider_remove_table(\$n\$$q\$n\$, 'public.t2')" >/dev/null
		shift
		[ "$(sql tn "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't2'::regclass")" = $((2 * $#)) ]
	done
}
