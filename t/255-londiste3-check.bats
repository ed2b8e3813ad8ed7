#!/usr/bin/env bats
# londiste(1) check on Londiste 3 cascade nodes: structure that drifted
# from the provider and replication triggers that differ from what
# londiste 3 sets up, one line each, status 1.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

# t2_synced: l1 copied t2 (into its own name there) and replays it.
t2_synced() {
	[ "$(sql l1 "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.t2'")" = ok ]
}

# r1 -> b1 -> l1; t1 on every node, t2 on every node (on l1 under the
# name t2_here), copied and in sync.  Built once with the workers, which
# the copies need, and saved; each test starts from a fresh copy of the
# saved databases, workers stopped: check looks at structure and
# triggers only, and what one test changes is gone for the next.
check_tree() {
	saved_tree check "r1 b1 l1" check_tree_build
}
check_tree_build() {
	local n
	cascade_tree r1 b1 l1 || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text NOT NULL, n numeric(10,2));
		CREATE TABLE t2 (a int, b text, PRIMARY KEY (a, b))" &&
	londiste "$(ini r1)" add-table t1 t2 &&
	wait_for londiste "$(ini b1)" add-table t1 t2 --create &&
	wait_for londiste "$(ini l1)" add-table t1 --create &&
	londiste "$(ini l1)" add-table t2 --create --dest-table=t2_here &&
	wait_for t2_synced
}

# check_is NODE STATUS [LINE...]: check on NODE exits STATUS and prints
# exactly the lines given.
check_is() {
	local node=$1 want=$2 exp
	shift 2
	run --separate-stderr londiste "$(ini "$node")" check
	exp=$(printf '%s\n' "$@")
	[ "$status" -eq "$want" ] && [ "$output" = "$exp" ] || {
		printf 'check on %s: status %s, output:\n%s\nstderr:\n%s\nexpected %s:\n%s\n' \
			"$node" "$status" "$output" "$stderr" "$want" "$exp" >&2
		false
	}
}

T='	'

@test "londiste3 check: a clean cascade reports nothing on any node; -v sums up on stderr" {
	need_node_mode
	check_tree
	check_is r1 0
	check_is b1 0
	check_is l1 0
	run --separate-stderr londiste -v "$(ini l1)" check
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"check: 2 tables, 0 drifts"* ]]
	# names: only tables replicated here
	run --separate-stderr londiste "$(ini l1)" check t1 public.t2
	[ "$status" -eq 0 ]
	run --separate-stderr londiste "$(ini l1)" check nosuch
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not replicated on this node"* ]]
	run --separate-stderr londiste "$(ini l1)" check --bogus
	[ "$status" -eq 2 ]
}

@test "londiste3 check: columns added, dropped, retyped, made NOT NULL and a changed primary key, against the provider (dest-table honoured)" {
	need_node_mode
	check_tree
	sql b1 "ALTER TABLE t1 ADD COLUMN x int"
	sql l1 "ALTER TABLE t1 ALTER COLUMN n TYPE numeric(12,2), DROP COLUMN v"
	sql l1 "ALTER TABLE t2_here ADD COLUMN c int NOT NULL DEFAULT 0"
	check_is b1 1 "public.t1${T}column${T}x${T}integer${T}-"
	check_is l1 1 \
		"public.t1${T}column${T}n${T}numeric(12,2)${T}numeric(10,2)" \
		"public.t1${T}column${T}v${T}-${T}text not null" \
		"public.t1${T}column${T}x${T}-${T}integer" \
		"public.t2${T}column${T}c${T}integer not null${T}-"
	run --separate-stderr londiste -v "$(ini l1)" check t2
	[ "$status" -eq 1 ]
	[ "$output" = "public.t2${T}column${T}c${T}integer not null${T}-" ]
	[[ "$stderr" == *"check: 1 tables, 1 drifts"* ]]
	# primary key
	sql b1 "ALTER TABLE t2 DROP CONSTRAINT t2_pkey, ADD PRIMARY KEY (b, a)"
	sql l1 "ALTER TABLE t2_here DROP COLUMN c"
	check_is l1 1 \
		"public.t1${T}column${T}n${T}numeric(12,2)${T}numeric(10,2)" \
		"public.t1${T}column${T}v${T}-${T}text not null" \
		"public.t1${T}column${T}x${T}-${T}integer" \
		"public.t2${T}pkey${T}-${T}a,b${T}b,a"
	sql b1 "ALTER TABLE t1 ALTER COLUMN x SET NOT NULL"
	check_is b1 1 "public.t1${T}column${T}x${T}integer not null${T}-" \
		"public.t2${T}pkey${T}-${T}b,a${T}a,b"
	# the root has no provider: only its triggers are checked
	check_is r1 0
}

@test "londiste3 check: triggers dropped, disabled, enabled for replicas, without deny on a leaf" {
	need_node_mode
	check_tree
	# the root: its triggers must fire for the applications' writes
	sql r1 "ALTER TABLE t1 DISABLE TRIGGER _londiste_q"
	sql r1 "DROP TRIGGER _londiste_q_truncate ON t2"
	check_is r1 1 \
		"public.t1${T}trigger${T}_londiste_q${T}disabled${T}origin" \
		"public.t2${T}trigger${T}_londiste_q_truncate${T}missing${T}present"
	sql r1 "ALTER TABLE t1 ENABLE ALWAYS TRIGGER _londiste_q"
	check_is r1 1 "public.t2${T}trigger${T}_londiste_q_truncate${T}missing${T}present"
	# below the root a trigger that fires for the replay is drift
	sql b1 "ALTER TABLE t1 ENABLE ALWAYS TRIGGER _londiste_q; ALTER TABLE t2 ENABLE REPLICA TRIGGER _londiste_q_truncate"
	check_is b1 1 \
		"public.t1${T}trigger${T}_londiste_q${T}always${T}origin" \
		"public.t2${T}trigger${T}_londiste_q_truncate${T}replica${T}origin"
	# a leaf's trigger without deny, and one of another queue
	sql l1 "DROP TRIGGER _londiste_q ON t1;
		CREATE TRIGGER _londiste_q AFTER INSERT OR UPDATE OR DELETE ON t1
			FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q');
		DROP TRIGGER _londiste_q ON t2_here;
		CREATE TRIGGER _londiste_q AFTER INSERT OR UPDATE OR DELETE ON t2_here
			FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('other', 'deny')"
	check_is l1 1 \
		"public.t1${T}trigger-deny${T}_londiste_q${T}-${T}deny" \
		"public.t2${T}trigger-extra1${T}_londiste_q${T}-${T}ev_extra1='public.t2'" \
		"public.t2${T}trigger-queue${T}_londiste_q${T}other${T}q"
	# add-table puts them right again
	sql l1 "DROP TRIGGER _londiste_q ON t1"
	check_is l1 1 "public.t1${T}trigger${T}_londiste_q${T}missing${T}present" \
		"public.t2${T}trigger-extra1${T}_londiste_q${T}-${T}ev_extra1='public.t2'" \
		"public.t2${T}trigger-queue${T}_londiste_q${T}other${T}q"
	sql l1 "SELECT londiste.create_trigger('q', 'public.t1', NULL, 'public.t1', 'leaf');
		SELECT londiste.create_trigger('q', 'public.t2', NULL, 'public.t2_here', 'leaf')" >/dev/null
	check_is l1 0
	# a table whose relation is gone
	sql l1 "DROP TABLE t2_here"
	check_is l1 1 "public.t2${T}table${T}-${T}missing${T}present"
}

@test "londiste3 check: a table added with --no-triggers has none, and none is expected; a table gone from the root" {
	need_node_mode
	# r1 -> b1 -> l1 (with t1 and t2, which check finds as they should be)
	check_tree
	sql r1 "CREATE TABLE t3 (id int PRIMARY KEY)"
	londiste "$(ini r1)" add-table t3 --no-triggers
	[ "$(sql r1 "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't3'::regclass")" = 0 ]
	check_is r1 0
	# on the root too, a table of the set that is gone
	sql r1 "DROP TABLE t3"
	check_is r1 1 "public.t3${T}table${T}-${T}missing${T}present"
}

@test "londiste3 check: a role with londiste_reader (and pgq_reader) is enough" {
	need_node_mode
	check_tree
	sql postgres "DROP ROLE IF EXISTS chk; CREATE ROLE chk LOGIN IN ROLE londiste_reader, pgq_reader" >/dev/null
	cp "$(ini l1)" "$(ini lr)"
	sed -i "s|^db = .*|db = host=$TEST_DIR dbname=l1 user=chk|" "$(ini lr)"
	sql b1 "ALTER TABLE t1 ADD COLUMN x int"
	check_is lr 1 "public.t1${T}column${T}x${T}-${T}integer"
}

@test "londiste subscriber check (Skytools 2): the subscriber's tables against the provider's" {
	new_db prov none
	new_db sub none
	cat >"$BATS_TEST_TMPDIR/l.ini" <<-INI
	[londiste]
	job_name = j
	provider_db = host=$TEST_DIR dbname=prov
	subscriber_db = host=$TEST_DIR dbname=sub
	pgq_queue_name = q
	INI
	for db in prov sub; do
		sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY)"
	done
	londiste "$BATS_TEST_TMPDIR/l.ini" provider install
	londiste "$BATS_TEST_TMPDIR/l.ini" subscriber install
	londiste "$BATS_TEST_TMPDIR/l.ini" provider add t1 t2
	londiste "$BATS_TEST_TMPDIR/l.ini" subscriber add t1 t2
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" subscriber check
	[ "$status" -eq 0 ] && [ -z "$output" ]
	sql sub "ALTER TABLE t1 ADD COLUMN x date"
	sql prov "ALTER TABLE t2 DROP CONSTRAINT t2_pkey"
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" subscriber check
	[ "$status" -eq 1 ]
	[ "$output" = "public.t1${T}column${T}x${T}date${T}-
public.t2${T}pkey${T}-${T}id${T}-" ] || { echo "$output" >&2; false; }
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" subscriber check t1
	[ "$status" -eq 1 ]
	[ "$output" = "public.t1${T}column${T}x${T}date${T}-" ]
	sql prov "DROP TABLE t1"
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" subscriber check public.t1
	[ "$status" -eq 1 ]
	[ "$output" = "public.t1${T}table${T}-${T}present${T}missing" ]
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" subscriber check t9
	[ "$status" -eq 2 ]
}
