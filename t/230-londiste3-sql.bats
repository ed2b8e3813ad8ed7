#!/usr/bin/env bats
# sql/londiste: londiste 3.8's API (table_info, seq_info, applied_execute,
# pending_fkeys and their functions) on a root, a branch and a leaf built
# with our pgq_node, checked against the behaviour of the original's
# regression tests; Debian's postgresql-*-londiste-sql in another
# database gives the reference signatures.

load helper
load 730-search-path

setup_file() {
	pg_start
	for db in lroot lbranch lleaf; do
		new_db "$db" && l3_install "$db" || return 1
	done
	cascade q
}

l3_install() {
	local f
	for f in pgq pgq_node londiste; do
		psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/$f.sql" >/dev/null || return 1
	done
}

# call DB 'f(args)': ret_call of a londiste function; node: ret_ok of
# a pgq_node one
call() { ret_call "$1" "londiste.$2"; }
node() { ret_ok "$1" "pgq_node.$2"; }

have_debian_londiste() {
	have_debian_pgq &&
		grep -q "^default_version = '3" "$(pg_config --sharedir)/extension/londiste.control" 2>/dev/null
}

# cascade Q: root in lroot, branch in lbranch, leaf in lleaf.
cascade() {
	local q=$1 db n
	for db in lroot lbranch lleaf; do
		for n in root branch leaf; do
			sql $db "SELECT pgq_node.register_location('$q', '$n', 'dbname=l$n', false)" >/dev/null || return 1
		done
	done
	node lroot "create_node('$q', 'root', 'root', 'w_root', NULL, NULL, NULL)" &&
	node lbranch "create_node('$q', 'branch', 'branch', 'w_branch', 'root', 1, NULL)" &&
	node lleaf "create_node('$q', 'leaf', 'leaf', 'w_leaf', 'branch', 1, NULL)"
}

# events DB Q: the events of queue Q (each database has that one queue),
# one a line: type|data|extra1|extra2|extra4
events() {
	sql "$1" "SELECT ev_type || '|' || coalesce(ev_data, '') || '|' || coalesce(ev_extra1, '')
	          || '|' || coalesce(ev_extra2, '') || '|' || coalesce(ev_extra4, '')
	          FROM pgq.event_template ORDER BY ev_id"
}

# triggers DB TABLE: name|function|args|tgtype of each trigger on TABLE
triggers() {
	sql "$1" "SELECT tgname || '|' || tgfoid::regproc || '|' || encode(tgargs, 'escape') || '|' || tgtype
	          FROM pg_trigger WHERE tgrelid = '$2'::regclass AND NOT tgisinternal ORDER BY tgname"
}

@test "root: local_add_table makes the triggers, sends londiste.add-table, and the ret codes of the original" {
	sql lroot "CREATE TABLE ra (id int PRIMARY KEY, v text); CREATE TABLE rnopk (v text)"
	[ "$(call lroot "local_add_table('q', 'ra')")" = "200|Table added: public.ra" ]
	[ "$(call lroot "local_add_table('q', 'public.ra')")" = "200|Table already added: public.ra" ]
	[ "$(call lroot "local_add_table('q', 'ra', array['skip_truncate'])")" = \
		"410|Table public.ra already added, but with different args: " ]
	[ "$(call lroot "local_add_table('q', 'rnopk')")" = "400|Primary key missing on table: public.rnopk" ]
	[ "$(call lroot "local_add_table('q', 'nosuch')")" = "404|Table does not exist: public.nosuch" ]
	[ "$(call lroot "local_add_table('noq', 'ra')")" = "400|No such set: noq" ]
	run triggers lroot ra
	[ "${lines[0]}" = '_londiste_q|pgq.logutriga|q\000|29' ]
	[ "${lines[1]}" = '_londiste_q_truncate|pgq.sqltriga|q\000|32' ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(sql lroot "SELECT table_name || '|' || local || '|' || merge_state FROM londiste.get_table_list('q')")" = "public.ra|true|ok" ]
	[ "$(events lroot q)" = "londiste.add-table|public.ra|||" ]
	sql lroot "INSERT INTO ra VALUES (1, 'a'); TRUNCATE ra"
	run events lroot q
	[ "${lines[1]}" = "I:id|id=1&v=a|public.ra||" ]
	[ "${lines[2]}" = "R||public.ra||" ]
}

@test "root: trigger arguments (ev_extra4=, backup, tgflags=, skip, no_triggers, dest_table) and 301" {
	sql lroot "CREATE TABLE rb (id int PRIMARY KEY, v text); CREATE TABLE rc (id int PRIMARY KEY);
		CREATE TABLE rd (id int PRIMARY KEY); CREATE TABLE re_copy (id int PRIMARY KEY);
		CREATE TABLE rf (id int PRIMARY KEY);
		CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
		CREATE TRIGGER _a_first AFTER INSERT ON rf FOR EACH ROW EXECUTE FUNCTION public.noop()"
	[ "$(call lroot "local_add_table('q', 'rb', array['ev_extra4=''x''', 'backup'])")" = "200|Table added: public.rb" ]
	[ "$(triggers lroot rb | head -1)" = "_londiste_q|pgq.logutriga|q\\000ev_extra4='x'\\000backup\\000|29" ]
	sql lroot "INSERT INTO rb VALUES (1, 'a'); UPDATE rb SET v = 'b'"
	run events lroot q
	[ "${lines[-2]}" = "I:id|id=1&v=a|public.rb||x" ]
	[ "${lines[-1]}" = "U:id|id=1&v=b|public.rb|id=1&v=a|x" ]
	# new flags: made again, BEFORE INSERT with sqltriga
	[ "$(call lroot "local_change_handler('q', 'public.rb', array['tgflags=BIQ'], 'handler=x')")" = \
		"200|Handler changed for table: public.rb" ]
	[ "$(triggers lroot rb | head -1)" = '_londiste_q|pgq.sqltriga|q\000|7' ]
	[ "$(sql lroot "SELECT table_attrs FROM londiste.table_info WHERE table_name = 'public.rb'")" = handler=x ]
	# skip: a BEFORE trigger named zzz_ that gets SKIP
	[ "$(call lroot "local_add_table('q', 'rc', array['tgflags=BU', 'skip'])")" = "200|Table added: public.rc" ]
	[ "$(triggers lroot rc | tail -1)" = 'zzz__londiste_q|pgq.logutriga|q\000SKIP\000|19' ]
	[ "$(call lroot "local_change_handler('q', 'public.rc', array['tgflags=A'], NULL)")" = \
		"403|Trigger creation failed for table public.rc: AFTER trigger cannot work with SKIP trigger(s)" ]
	# no_triggers
	[ "$(call lroot "local_add_table('q', 'rd', array['no_triggers'])")" = "200|Table added with no triggers: public.rd" ]
	no_output triggers lroot rd
	# dest_table: the triggers sit on the destination, events name the set's table
	[ "$(call lroot "local_add_table('q', 'public.re', NULL, NULL, 'public.re_copy')")" = \
		"200|Table added: public.re(public.re_copy)" ]
	[ "$(triggers lroot re_copy | head -1)" = "_londiste_q|pgq.logutriga|q\\000ev_extra1='public.re'\\000|29" ]
	[ "$(sql lroot "SELECT dest_table FROM londiste.get_table_list('q') WHERE table_name = 'public.re'")" = public.re_copy ]
	sql lroot "INSERT INTO re_copy VALUES (7)"
	[ "$(events lroot q | tail -1)" = "I:id|id=7|public.re||" ]
	# another AFTER row trigger fires first: added, with a warning
	[ "$(call lroot "local_add_table('q', 'rf')")" = \
		"301|Table added: public.rf, but londiste trigger is not first: _a_first" ]
}

@test "root: local_remove_table drops triggers and its serial's sequence, sends londiste.remove-table" {
	sql lroot "CREATE TABLE rg (id serial PRIMARY KEY, v text)"
	[ "$(call lroot "local_add_table('q', 'rg')")" = "200|Table added: public.rg" ]
	[ "$(call lroot "local_add_seq('q', 'rg_id_seq')")" = "200|Sequence added: public.rg_id_seq" ]
	[ "$(call lroot "local_remove_table('q', 'rg')")" = "200|Table removed: public.rg" ]
	[ "$(call lroot "local_remove_table('q', 'rg')")" = "400|Table not found: public.rg" ]
	no_output triggers lroot rg
	[ "$(sql lroot "SELECT count(*) FROM londiste.table_info WHERE table_name = 'public.rg'")" = 0 ]
	[ "$(sql lroot "SELECT count(*) FROM londiste.seq_info WHERE seq_name = 'public.rg_id_seq'")" = 0 ]
	run events lroot q
	[ "${lines[-2]}" = "londiste.remove-seq|public.rg_id_seq|||" ]
	[ "${lines[-1]}" = "londiste.remove-table|public.rg|||" ]
}

@test "root: sequences are published ahead by root_check_seqs (londiste.update-seq)" {
	sql lroot "CREATE SEQUENCE rs"
	[ "$(call lroot "local_add_seq('q', 'rs')")" = "200|Sequence added: public.rs" ]
	[ "$(call lroot "local_add_seq('q', 'public.rs')")" = "201|Sequence already added: public.rs" ]
	[ "$(call lroot "local_add_seq('q', 'nosuch')")" = "400|Sequence not found: public.nosuch" ]
	[ "$(events lroot q | tail -1)" = "londiste.update-seq|30001|public.rs||" ]
	[ "$(sql lroot "SELECT seq_name || '|' || last_value || '|' || local FROM londiste.get_seq_list('q')")" = "public.rs|30001|true" ]
	# within the buffer: nothing sent; past it: real value + 3 buffers
	[ "$(call lroot "root_check_seqs('q')")" = "100|Sequences updated" ]
	[ "$(events lroot q | grep -c '^londiste.update-seq|.*|public.rs|')" = 1 ]
	sql lroot "SELECT setval('rs', 25000)" >/dev/null
	[ "$(call lroot "root_check_seqs('q', 100)")" = "100|Sequences updated" ]
	[ "$(call lroot "root_check_seqs('q')")" = "100|Sequences updated" ]
	[ "$(events lroot q | grep -c '^londiste.update-seq|.*|public.rs|')" = 2 ]
	[ "$(events lroot q | tail -1)" = "londiste.update-seq|55000|public.rs||" ]
	[ "$(call lroot "root_check_seqs('noq')")" = "404|Queue not found: noq" ]
	[ "$(call lbranch "root_check_seqs('q')")" = "402|Not a root node" ]
	[ "$(call lroot "global_update_seq('q', 'rs', 5)")" = "402|Must not run on root node" ]
}

@test "branch: tables come from the set; local ones enter subscriber_table; merge_state derived from it" {
	sql lbranch "CREATE TABLE ba (id int PRIMARY KEY); CREATE TABLE bb (id int PRIMARY KEY)"
	[ "$(call lbranch "local_add_table('q', 'ba')")" = "404|Table not available on queue: public.ba" ]
	[ "$(call lbranch "global_add_table('q', 'ba')")" = "200|Table added: ba" ]
	[ "$(call lbranch "global_add_table('q', 'public.ba')")" = "200|Table already added: public.ba" ]
	[ "$(call lbranch "global_add_table('q', 'bb')")" = "200|Table added: bb" ]
	[ "$(call lbranch "global_add_table('q', 'bgone')")" = "200|Table added: bgone" ]
	[ "$(call lbranch "global_add_table('noq', 'ba')")" = "400|No such queue: noq" ]
	run sql lbranch "SELECT * FROM londiste.local_show_missing('q')"
	[ "$output" = $'r|public.ba\nr|public.bb\nr|public.bgone' ]
	[ "$(call lbranch "local_add_table('q', 'ba')")" = "200|Table added: public.ba" ]
	[ "$(call lbranch "local_add_table('q', 'bb', array['expect_sync'])")" = "200|Table added: public.bb" ]
	[ "$(call lbranch "local_add_table('q', 'bgone')")" = "404|Table does not exist: public.bgone" ]
	run sql lbranch "SELECT queue_name, table_name, state FROM londiste.subscriber_table ORDER BY 2"
	[ "$output" = $'q|public.ba|new\nq|public.bb|ok' ]
	ms() { sql lbranch "SELECT coalesce(merge_state, 'NULL') || '|' || coalesce(custom_snapshot, '')
		FROM londiste.get_table_list('q') WHERE table_name = 'public.ba'"; }
	[ "$(ms)" = "NULL|" ]
	# our copy protocol moves the state; londiste 3 sees it
	sql lbranch "SELECT londiste.copy_begin('q', 'public.ba')" >/dev/null
	[ "$(ms)" = "in-copy|" ]
	sql lbranch "SELECT londiste.copy_done('q', 'public.ba', '100:105:101'::pg_snapshot, 7)" >/dev/null
	[ "$(ms)" = "catching-up|100:105:101" ]
	sql lbranch "SELECT londiste.copy_caught_up('q', 'public.ba')" >/dev/null
	[ "$(ms)" = "ok|" ]
	# and the original's copy process maps back into it
	[ "$(call lbranch "local_set_table_state('q', 'public.ba', NULL, NULL)")" = "200|Table public.ba state set to NULL" ]
	[ "$(sql lbranch "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.ba'")" = new ]
	[ "$(call lbranch "local_set_table_state('q', 'public.ba', '10:20:15', 'catching-up')")" = \
		"200|Table public.ba state set to 'catching-up'" ]
	[ "$(sql lbranch "SELECT state || '|' || snapshot FROM londiste.subscriber_table WHERE table_name = 'public.ba'")" = "catching-up|10:20:15" ]
	[ "$(call lbranch "local_set_table_state('q', 'public.ba', NULL, 'wanna-sync:5')")" = \
		"200|Table public.ba state set to 'wanna-sync:5'" ]
	[ "$(ms)" = "wanna-sync:5|" ]
	[ "$(call lbranch "local_set_table_state('q', 'public.ba', NULL, 'ok')")" = "200|Table public.ba state set to 'ok'" ]
	[ "$(sql lbranch "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.ba'")" = ok ]
	[ "$(call lbranch "local_set_table_state('q', 'public.bgone', NULL, 'ok')")" = "404|No such table: public.bgone" ]
	# branch triggers as the original: logutriga, no deny
	[ "$(triggers lbranch ba | head -1)" = '_londiste_q|pgq.logutriga|q\000|29' ]
	# no event from a branch
	no_output events lbranch q
	# remove: locally, then from the set (the worker on londiste.remove-table)
	[ "$(call lbranch "local_remove_table('q', 'bgone')")" = "400|Table not registered locally: public.bgone" ]
	[ "$(call lbranch "local_remove_table('q', 'bb')")" = "200|Table removed: public.bb" ]
	[ "$(sql lbranch "SELECT count(*) FROM londiste.subscriber_table WHERE table_name = 'public.bb'")" = 0 ]
	[ "$(call lbranch "global_remove_table('q', 'ba')")" = "200|Table removed: ba" ]
	[ "$(call lbranch "global_remove_table('q', 'ba')")" = "400|Table not found: public.ba" ]
	no_output triggers lbranch ba
	[ "$(sql lbranch "SELECT count(*) FROM londiste.subscriber_table")" = 0 ]
}

@test "leaf: triggers deny changes outside replay" {
	sql lleaf "CREATE TABLE la (id int PRIMARY KEY)"
	[ "$(call lleaf "global_add_table('q', 'la')")" = "200|Table added: la" ]
	[ "$(call lleaf "local_add_table('q', 'la')")" = "200|Table added: public.la" ]
	run triggers lleaf la
	[ "${lines[0]}" = '_londiste_q|pgq.logutriga|q\000deny\000|29' ]
	[ "${lines[1]}" = '_londiste_q_truncate|pgq.sqltriga|q\000deny\000|32' ]
	run sql lleaf "INSERT INTO la VALUES (1)"
	[ "$status" -ne 0 ]
	sql lleaf "SET session_replication_role = replica; INSERT INTO la VALUES (1)"
	[ "$(sql lleaf "SELECT count(*) FROM la")" = 1 ]
}

@test "branch: global_update_seq records and follows the root's value, never back" {
	sql lbranch "CREATE SEQUENCE bs"
	[ "$(call lbranch "global_update_seq('q', 'bs', 100)")" = "200|Sequence updated" ]
	[ "$(call lbranch "global_update_seq('noq', 'bs', 100)")" = "404|Set not found: noq" ]
	[ "$(call lbranch "local_add_seq('q', 'nosuch')")" = "400|Sequence not found: public.nosuch" ]
	sql lbranch "CREATE SEQUENCE bunknown"
	[ "$(call lbranch "local_add_seq('q', 'bunknown')")" = "404|Unknown sequence: public.bunknown" ]
	[ "$(call lbranch "local_add_seq('q', 'bs')")" = "200|Sequence added: public.bs" ]
	[ "$(sql lbranch "SELECT last_value FROM bs")" = 100 ]
	[ "$(call lbranch "global_update_seq('q', 'bs', 300)")" = "200|Sequence updated" ]
	[ "$(sql lbranch "SELECT last_value FROM bs")" = 300 ]
	sql lbranch "SELECT setval('bs', 1000)" >/dev/null
	[ "$(call lbranch "global_update_seq('q', 'bs', 400)")" = "200|Sequence updated" ]
	[ "$(sql lbranch "SELECT last_value FROM bs")" = 1000 ]
	[ "$(sql lbranch "SELECT seq_name || '|' || last_value || '|' || local FROM londiste.get_seq_list('q')")" = "public.bs|400|true" ]
	[ "$(call lbranch "local_remove_seq('q', 'bs')")" = "200|Sequence removed: public.bs" ]
	[ "$(call lbranch "local_remove_seq('q', 'bs')")" = "404|Sequence not found: public.bs" ]
	[ "$(sql lbranch "SELECT * FROM londiste.local_show_missing('q') WHERE obj_kind = 'S'")" = "S|public.bs" ]
	[ "$(call lbranch "global_remove_seq('q', 'bs')")" = "200|Sequence removed: public.bs" ]
	[ "$(call lbranch "global_remove_seq('q', 'bs')")" = "400|Sequence not found: public.bs" ]
}

@test "execute_start/execute_finish: once per node; the root sends EXECUTE" {
	[ "$(call lroot "execute_start('q', 'x1.sql', 'CREATE TABLE x1 (a int)', true, 'a=1')")" = "200|Executing: x1.sql" ]
	sql lroot "CREATE TABLE x1 (a int)"
	[ "$(call lroot "execute_finish('q', 'x1.sql')")" = "200|Execute finished: x1.sql" ]
	[ "$(events lroot q | tail -1)" = "EXECUTE|CREATE TABLE x1 (a int)|x1.sql|a=1|" ]
	[ "$(call lroot "execute_start('q', 'x1.sql', 'CREATE TABLE x1 (a int)', true)")" = \
		"201|EXECUTE: \"x1.sql\" already applied, skipping" ]
	[ "$(call lroot "execute_finish('q', 'x9.sql')")" = "404|execute_file called without execute_start" ]
	[ "$(call lbranch "execute_start('q', 'x1.sql', 'CREATE TABLE x1 (a int)', true)")" = "401|Node is not root node: q" ]
	[ "$(call lbranch "execute_start('q', 'x1.sql', 'CREATE TABLE x1 (a int)', false, 'a=1')")" = "200|Executing: x1.sql" ]
	[ "$(call lbranch "execute_finish('q', 'x1.sql')")" = "200|Execute finished: x1.sql" ]
	no_output events lbranch q
	[ "$(call lbranch "execute_start('q', 'x1.sql', 'CREATE TABLE x1 (a int)', false)")" = \
		"201|EXECUTE: \"x1.sql\" already applied, skipping" ]
	[ "$(sql lbranch "SELECT queue_name || '|' || execute_sql || '|' || execute_attrs FROM londiste.applied_execute")" = \
		"q|CREATE TABLE x1 (a int)|a=1" ]
	# maintenance forgets records older than 3 months
	sql lbranch "UPDATE londiste.applied_execute SET execute_time = now() - interval '4 months'"
	sql lbranch "SELECT londiste.periodic_maintenance()" >/dev/null
	[ "$(sql lbranch "SELECT count(*) FROM londiste.applied_execute")" = 0 ]
}

@test "fkeys: found, dropped into pending_fkeys, valid when both sides are in sync, restored" {
	sql lroot "CREATE TABLE fa (id int PRIMARY KEY); CREATE TABLE fb (id int PRIMARY KEY, a int REFERENCES fa)"
	call lroot "local_add_table('q', 'fa')" >/dev/null
	call lroot "local_add_table('q', 'fb')" >/dev/null
	def="alter table only public.fb add constraint fb_a_fkey FOREIGN KEY (a) REFERENCES public.fa(id)"
	[ "$(sql lroot "SELECT * FROM londiste.find_table_fkeys('public.fa')")" = "public.fb|public.fa|fb_a_fkey|$def" ]
	[ "$(sql lroot "SELECT londiste.drop_table_fkey('public.fb', 'fb_a_fkey')")" = 1 ]
	[ "$(sql lroot "SELECT londiste.drop_table_fkey('public.fb', 'fb_a_fkey')")" = 0 ]
	no_output sql lroot "SELECT * FROM londiste.find_table_fkeys('public.fa')"
	[ "$(sql lroot "SELECT fkey_name FROM londiste.get_table_pending_fkeys('public.fb')")" = fb_a_fkey ]
	[ "$(sql lroot "SELECT fkey_name FROM londiste.get_valid_pending_fkeys('q')")" = fb_a_fkey ]
	[ "$(sql lroot "SELECT londiste.restore_table_fkey('public.fb', 'fb_a_fkey', true)")" = "$def not valid" ]
	sql lroot "$def not valid"
	[ "$(sql lroot "SELECT londiste.restore_table_fkey('public.fb', 'fb_a_fkey', true)")" = \
		"alter table only public.fb validate constraint fb_a_fkey" ]
	sql lroot "alter table only public.fb validate constraint fb_a_fkey"
	no_output sql lroot "SELECT londiste.restore_table_fkey('public.fb', 'fb_a_fkey', true)"
	[ "$(sql lroot "SELECT count(*) FROM londiste.pending_fkeys")" = 0 ]
	# not lazy: restored at once
	sql lroot "SELECT londiste.drop_table_fkey('public.fb', 'fb_a_fkey')" >/dev/null
	no_output sql lroot "SELECT londiste.restore_table_fkey('public.fb', 'fb_a_fkey')"
	[ "$(sql lroot "SELECT count(*) FROM londiste.find_table_fkeys('public.fb')")" = 1 ]
	# on a branch a table still in copy keeps its key pending
	sql lbranch "CREATE TABLE fa (id int PRIMARY KEY); CREATE TABLE fb (id int PRIMARY KEY, a int REFERENCES fa)"
	for t in fa fb; do
		call lbranch "global_add_table('q', '$t')" >/dev/null
		call lbranch "local_add_table('q', '$t')" >/dev/null
	done
	sql lbranch "SELECT londiste.drop_table_fkey('public.fb', 'fb_a_fkey')" >/dev/null
	no_output sql lbranch "SELECT fkey_name FROM londiste.get_valid_pending_fkeys('q')"
	sql lbranch "UPDATE londiste.subscriber_table SET state = 'ok' WHERE table_name IN ('public.fa', 'public.fb')"
	[ "$(sql lbranch "SELECT fkey_name FROM londiste.get_valid_pending_fkeys('q')")" = fb_a_fkey ]
}

@test "names: make_fqname, quote_fqname, split_fqname, find_column_types, is_replica_func, version" {
	run sql lroot "SELECT londiste.make_fqname('a'), londiste.make_fqname('s.a.b'),
		londiste.quote_fqname('A b.c.d'), (londiste.split_fqname('x')).*,
		londiste.find_column_types('public.fb'),
		londiste.is_replica_func('pgq.logutriga()'::regprocedure),
		londiste.is_replica_func('pgq.version()'::regprocedure), londiste.version()"
	[ "$output" = 'public.a|s.a.b|"A b"."c.d"|public|x|kv|t|f|3.8' ]
	sql lroot "SELECT londiste.set_session_replication_role('replica', true)" >/dev/null
	run sql lroot "SELECT londiste.set_session_replication_role('bogus', true)"
	[ "$status" -ne 0 ]
}

@test "signatures, result columns and SECURITY DEFINER as the original's; search_path pinned" {
	have_debian_londiste || skip "Debian's postgresql-*-londiste-sql is not installed"
	new_db l3orig none
	sql l3orig "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node; CREATE EXTENSION londiste" >/dev/null
	q="SELECT p.oid::regprocedure::text || ' ' || pg_get_function_result(p.oid)
		|| ' ' || p.prosecdef || ' ' || p.proisstrict || ' ' || p.proretset
		|| ' ' || coalesce(pg_get_function_arguments(p.oid), '')
	     FROM pg_proc p WHERE p.pronamespace = 'londiste'::regnamespace
	     ORDER BY 1"
	sql l3orig "$q" > "$BATS_TEST_TMPDIR/orig"
	sql lroot "$q" > "$BATS_TEST_TMPDIR/ours"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/orig")" -ge 49 ]
	# every function of the original is ours, exactly (ours has more)
	missing=$(comm -23 "$BATS_TEST_TMPDIR/orig" "$BATS_TEST_TMPDIR/ours")
	[ -z "$missing" ] || { echo "differs from the original: $missing" >&2; false; }
	# tables: the original's columns, in order
	t="SELECT table_name || ' ' || string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position)
	     FROM information_schema.columns WHERE table_schema = 'londiste'
	      AND table_name IN ('table_info', 'seq_info', 'applied_execute', 'pending_fkeys')
	     GROUP BY table_name ORDER BY 1"
	[ "$(sql lroot "$t")" = "$(sql l3orig "$t")" ]
	run sp_unsafe_secdef -d lroot
	[ -z "$output" ] || { echo "not pinned safely: $output" >&2; false; }
	run sp_unpinned -d lroot
	[ -z "$output" ] || { echo "not pinned: $output" >&2; false; }
}

@test "grants: PUBLIC reads the registry only; londiste_reader lists; londiste_writer manages" {
	sql lroot "DROP ROLE IF EXISTS l3nobody; DROP ROLE IF EXISTS l3read; DROP ROLE IF EXISTS l3write;
		CREATE ROLE l3nobody LOGIN; CREATE ROLE l3read LOGIN IN ROLE londiste_reader;
		CREATE ROLE l3write LOGIN IN ROLE londiste_writer; CREATE TABLE gw (id int PRIMARY KEY);
		ALTER TABLE gw OWNER TO l3write"
	[ "$(psql -XAtq -U l3nobody -d lroot -c "SELECT count(*) > 0 FROM londiste.table_info")" = t ]
	run psql -XAtq -U l3nobody -d lroot -c "SELECT * FROM londiste.get_table_list('q')"
	[ "$status" -ne 0 ]
	run psql -XAtq -U l3nobody -d lroot -c "SELECT * FROM londiste.local_add_table('q', 'gw')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"permission denied"* ]]
	run psql -XAtq -U l3nobody -d lroot -c "INSERT INTO londiste.table_info (queue_name, table_name) VALUES ('q', 'x.y')"
	[ "$status" -ne 0 ]
	psql -XAtq -U l3read -d lroot -c "SELECT * FROM londiste.get_table_list('q')" >/dev/null
	psql -XAtq -U l3read -d lroot -c "SELECT * FROM londiste.get_seq_list('q')" >/dev/null
	run psql -XAtq -U l3read -d lroot -c "SELECT * FROM londiste.local_add_table('q', 'gw')"
	[ "$status" -ne 0 ]
	[ "$(psql -XAtq -U l3write -d lroot -c "SELECT ret_code FROM londiste.local_add_table('q', 'gw')")" = 200 ]
	[ "$(psql -XAtq -U l3write -d lroot -c "SELECT ret_code FROM londiste.local_remove_table('q', 'gw')")" = 200 ]
}

@test "install again keeps the set; a Skytools 2 install gets the cascade tables later" {
	before=$(sql lroot "SELECT count(*) FROM londiste.table_info")
	[ "$before" -gt 3 ]
	l3_install lroot
	[ "$(sql lroot "SELECT count(*) FROM londiste.table_info")" = "$before" ]
	[ "$(sql lroot "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.ra'")" = ok ]
	[ "$(triggers lroot ra | head -1)" = '_londiste_q|pgq.logutriga|q\000|29' ]
	# a subscriber without PgQ nor pgq_node (Skytools 2), then a node
	new_db l3old none
	psql -XAq -v ON_ERROR_STOP=1 -d l3old -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
	sql l3old "CREATE TABLE s2 (id int PRIMARY KEY)"
	sql l3old "SELECT londiste.subscriber_add_table('q2', 's2', false, true)" >/dev/null
	[ "$(sql l3old "SELECT to_regclass('londiste.table_info') IS NOT NULL")" = t ]
	[ "$(sql l3old "SELECT count(*) FROM pg_constraint WHERE conname = 'table_info_queue_name_fkey'")" = 0 ]
	[ "$(sql l3old "SELECT to_regprocedure('londiste.root_check_seqs(text)') IS NULL")" = t ]
	l3_install l3old
	[ "$(sql l3old "SELECT to_regprocedure('londiste.root_check_seqs(text)') IS NULL")" = f ]
	[ "$(sql l3old "SELECT table_name || '|' || state FROM londiste.subscriber_table")" = "public.s2|ok" ]
	[ "$(sql l3old "SELECT count(*) FROM pg_constraint WHERE conname = 'table_info_queue_name_fkey'")" = 1 ]
	[ "$(sql l3old "SELECT londiste.upgrade_schema()")" = 0 ]
}

@test "the install refuses a database holding the original londiste, and leaves it whole" {
	have_debian_londiste || skip "Debian's postgresql-*-londiste-sql is not installed"
	new_db l3take none
	sql l3take "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node; CREATE EXTENSION londiste" >/dev/null
	n=$(sql l3take "SELECT count(*) FROM pg_proc WHERE pronamespace = 'londiste'::regnamespace")
	run --separate-stderr psql -XAq -v ON_ERROR_STOP=1 -d l3take -f "$SKYTOOLS_SQLDIR/londiste.sql"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"schema londiste holds another Londiste (Londiste 3)"* ]]
	[ "$(sql l3take "SELECT to_regprocedure('londiste.skytools_c_version()') IS NULL")" = t ]
	[ "$(sql l3take "SELECT to_regclass('londiste.provider_table') IS NULL")" = t ]
	[ "$(sql l3take "SELECT count(*) FROM pg_proc WHERE pronamespace = 'londiste'::regnamespace")" = "$n" ]
	[ "$(sql l3take "SELECT extversion FROM pg_extension WHERE extname = 'londiste'")" = 3.8 ]
	# a plain install of the original (its schema without the extension) too
	new_db l3plain none
	sql l3plain "CREATE SCHEMA londiste; CREATE TABLE londiste.table_info (queue_name text)"
	run --separate-stderr psql -XAq -v ON_ERROR_STOP=1 -d l3plain -f "$SKYTOOLS_SQLDIR/londiste.sql"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"holds another Londiste"* ]]
}

@test "the original londiste command lists tables and sequences of our root" {
	[ -x /usr/bin/londiste ] && /usr/bin/python3 -c 'import londiste' 2>/dev/null ||
		skip "Debian's python3-londiste is not installed"
	sql lroot "CREATE TABLE pyt (id int PRIMARY KEY); CREATE SEQUENCE pys"
	cat > "$BATS_TEST_TMPDIR/l3.ini" <<-INI
	[londiste]
	job_name = l3root
	db = dbname=lroot
	queue_name = q
	logfile = $BATS_TEST_TMPDIR/l3.log
	pidfile = $BATS_TEST_TMPDIR/l3.pid
	INI
	lon() { timeout 60 /usr/bin/python3 /usr/bin/londiste "$BATS_TEST_TMPDIR/l3.ini" "$@"; }
	run --separate-stderr lon add-table public.pyt
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr lon add-seq public.pys
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr lon tables
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"public.pyt"*ok* ]]
	[[ "$output" == *"public.ra"*ok* ]]
	run --separate-stderr lon seqs
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"public.pys"*True*30001* ]]
	[[ "$(events lroot q | grep add-table | tail -1)" == "londiste.add-table|public.pyt|"* ]]
	run --separate-stderr lon missing
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"public.rnopk"* ]]
	run --separate-stderr lon remove-table public.pyt
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(events lroot q | tail -1)" = "londiste.remove-table|public.pyt|||" ]
	# execute: run once, sent down as EXECUTE
	printf 'CREATE TABLE pyexec (a int);\n' > "$BATS_TEST_TMPDIR/ddl1.sql"
	run --separate-stderr lon execute "$BATS_TEST_TMPDIR/ddl1.sql"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql lroot "SELECT to_regclass('public.pyexec') IS NOT NULL")" = t ]
	[ "$(sql lroot "SELECT ev_extra1 FROM pgq.event_template WHERE ev_type = 'EXECUTE' AND ev_data LIKE '%pyexec%'")" = ddl1.sql ]
	run --separate-stderr lon execute "$BATS_TEST_TMPDIR/ddl1.sql"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"already applied"* ]]
	[ "$(sql lroot "SELECT count(*) FROM pgq.event_template WHERE ev_type = 'EXECUTE' AND ev_extra1 = 'ddl1.sql'")" = 1 ]
}

@test "maintenance on a Skytools 2 provider (no pgq_node): periodic work only, no sequence check" {
	new_db l3s2
	psql -XAq -v ON_ERROR_STOP=1 -d l3s2 -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
	run sql l3s2 "SELECT func_name FROM pgq.maint_operations() WHERE func_name LIKE 'londiste.%'"
	[ "$status" -eq 0 ]
	[ "$output" = londiste.periodic_maintenance ]
	# also under the original PgQ, whose maintenance reads pgq_node as
	# soon as londiste.root_check_seqs exists
	if have_debian_pgq; then
		new_db l3s2d debian
		psql -XAq -v ON_ERROR_STOP=1 -d l3s2d -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
		run sql l3s2d "SELECT func_name FROM pgq.maint_operations() WHERE func_name LIKE 'londiste.%'"
		[ "$status" -eq 0 ]
		[ "$output" = londiste.periodic_maintenance ]
	fi
	# with the cascade: root_check_seqs for each root queue with local sequences
	[ "$(sql lroot "SELECT func_name || '|' || func_arg FROM pgq.maint_operations() WHERE func_name = 'londiste.root_check_seqs'")" = "londiste.root_check_seqs|q" ]
}

@test "partitions: create_partition copies the parent; obsolete ones listed and dropped" {
	sql lroot "CREATE TABLE pt (id int PRIMARY KEY, ts timestamptz NOT NULL, v text);
		GRANT SELECT ON pt TO PUBLIC; DROP ROLE IF EXISTS l3px; CREATE ROLE l3px NOLOGIN;
		GRANT INSERT ON pt TO l3px WITH GRANT OPTION;
		CREATE FUNCTION public.ptf() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
		CREATE TRIGGER ptrig BEFORE INSERT ON pt FOR EACH ROW EXECUTE FUNCTION public.ptf();
		ALTER TABLE pt ENABLE ALWAYS TRIGGER ptrig;
		CREATE RULE prule AS ON DELETE TO pt DO INSTEAD NOTHING" 2>/dev/null
	[ "$(sql lroot "SELECT londiste.create_partition('pt', 'public.pt_2010_01', 'id', 'ts', '2010-01-10 11:00+00', 'month')" 2>/dev/null)" = 1 ]
	[ "$(sql lroot "SELECT londiste.create_partition('pt', 'public.pt_2010_01', 'id', 'ts', '2010-01-10 11:00+00', 'month')")" = 0 ]
	[ "$(sql lroot "SELECT londiste.create_partition('public.pt', 'pt_2999_02', 'id', '', '2999-02-10', 'month')" 2>/dev/null)" = 1 ]
	[ "$(sql lroot "SELECT inhparent::regclass FROM pg_inherits WHERE inhrelid = 'pt_2010_01'::regclass")" = pt ]
	run sql lroot "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'pt_2010_01'::regclass ORDER BY 1"
	[ "${lines[0]}" = "pt_2010_01_pkey PRIMARY KEY (id)" ]
	[[ "${lines[1]}" == "pt_2010_01_ts_check CHECK (((ts >= '2010-01-01 00:00:00"*"AND (ts < '2010-02-01 00:00:00"* ]]
	[[ "$(sql lroot "SELECT relacl FROM pg_class WHERE oid = 'pt_2010_01'::regclass")" == *"=r/"*"l3px=a*/"* ]]
	[ "$(sql lroot "SELECT tgname || tgenabled::text FROM pg_trigger WHERE tgrelid = 'pt_2010_01'::regclass")" = ptrigA ]
	[ "$(sql lroot "SELECT rulename FROM pg_rewrite WHERE ev_class = 'pt_2010_01'::regclass")" = prule ]
	run sql lroot "SELECT londiste.is_obsolete_partition('pt_2010_01', '1 year', 'month'),
		londiste.is_obsolete_partition('pt_2999_02', '1 year', 'month'),
		londiste.is_obsolete_partition('pt_x', '1 year', 'month')"
	[ "$output" = "t|f|" ]
	[ "$(sql lroot "SELECT * FROM londiste.list_obsolete_partitions('public.pt', '1 year', 'month')")" = public.pt_2010_01 ]
	[ "$(sql lroot "SELECT * FROM londiste.drop_obsolete_partitions('pt', '1 year', 'month')")" = public.pt_2010_01 ]
	[ "$(sql lroot "SELECT to_regclass('public.pt_2010_01') IS NULL, to_regclass('public.pt_2999_02') IS NULL")" = "t|f" ]
	run sql lroot "SELECT londiste.is_obsolete_partition('pt_2010_01', '1 year', 'weekly')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not supported i_partition_period: weekly"* ]]
}

# same_calls KIND: run t/230-same/KIND.sql on ours and on the original,
# each in a fresh database; their outputs must be equal.
same_calls() {
	local kind=$1
	new_db "l3same$kind" && l3_install "l3same$kind" || return 1
	new_db "l3orig$kind" none || return 1
	sql "l3orig$kind" "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node; CREATE EXTENSION londiste" >/dev/null
	psql -XAt -d "l3same$kind" -f "$BATS_TEST_DIRNAME/230-same/$kind.sql" > "$BATS_TEST_TMPDIR/$kind.ours" 2>&1
	psql -XAt -d "l3orig$kind" -f "$BATS_TEST_DIRNAME/230-same/$kind.sql" > "$BATS_TEST_TMPDIR/$kind.orig" 2>&1
	diff "$BATS_TEST_TMPDIR/$kind.orig" "$BATS_TEST_TMPDIR/$kind.ours"
}

@test "the same calls give the same answers here as in Debian's original: root" {
	have_debian_londiste || skip "Debian's postgresql-*-londiste-sql is not installed"
	same_calls root
}

@test "the same calls give the same answers here as in Debian's original: branch" {
	have_debian_londiste || skip "Debian's postgresql-*-londiste-sql is not installed"
	same_calls branch
}

@test "the same calls give the same answers here as in Debian's original: leaf" {
	have_debian_londiste || skip "Debian's postgresql-*-londiste-sql is not installed"
	same_calls leaf
}

@test "odd names: a schema with a dot, quotes and spaces, as pgq.logutriga writes them" {
	sql lroot 'CREATE SCHEMA "My Sch.x"; CREATE TABLE "My Sch.x"."T a""b" ("Id" int PRIMARY KEY, v text)'
	[ "$(call lroot "local_add_table('q', 'My Sch.x.T a\"b')")" = '200|Table added: My Sch.x.T a"b' ]
	[ "$(triggers lroot '"My Sch.x"."T a""b"' | head -1)" = '_londiste_q|pgq.logutriga|q\000|29' ]
	sql lroot 'INSERT INTO "My Sch.x"."T a""b" VALUES (1, $$x y$$)'
	[ "$(events lroot q | tail -1)" = 'I:Id|Id=1&v=x+y|My Sch.x.T a"b||' ]
	[ "$(call lroot "local_remove_table('q', 'My Sch.x.T a\"b')")" = '200|Table removed: My Sch.x.T a"b' ]
	no_output triggers lroot '"My Sch.x"."T a""b"'
}

@test "branch: skip_truncate reaches the copy state; adding again after a remove starts over" {
	sql lbranch "CREATE TABLE bst (id int PRIMARY KEY)"
	call lbranch "global_add_table('q', 'bst')" >/dev/null
	[ "$(call lbranch "local_add_table('q', 'bst', array['skip_truncate'])")" = "200|Table added: public.bst" ]
	[ "$(sql lbranch "SELECT state || '|' || skip_truncate FROM londiste.subscriber_table WHERE table_name = 'public.bst'")" = "new|true" ]
	[ "$(sql lbranch "SELECT table_attrs FROM londiste.get_table_list('q') WHERE table_name = 'public.bst'")" = skip_truncate=1 ]
	sql lbranch "SELECT londiste.copy_begin('q', 'public.bst')" >/dev/null
	[ "$(call lbranch "local_remove_table('q', 'bst')")" = "200|Table removed: public.bst" ]
	[ "$(call lbranch "local_add_table('q', 'bst', array['expect_sync'])")" = "200|Table added: public.bst" ]
	[ "$(sql lbranch "SELECT state || '|' || skip_truncate FROM londiste.subscriber_table WHERE table_name = 'public.bst'")" = "ok|false" ]
	[ "$(sql lbranch "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.bst'")" = ok ]
}
