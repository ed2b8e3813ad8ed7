#!/usr/bin/env bats
# londiste-apply --node: the worker of a cascade node.  Three clusters:
# root (this file's cluster), branch and leaf, chained root -> branch
# -> leaf through queue q, with pgq, pgq_node and londiste (ours).

load helper

# node_cluster NAME PORT: another cluster beside this file's.
node_cluster() {
	extra_cluster "$1" "$2" "synchronous_commit = off" "full_page_writes = off"
}

# node_db PORT NAME: a fresh database with pgq, pgq_node and londiste.
node_db() {
	local f
	psql -XAtq -v ON_ERROR_STOP=1 -p "$1" -d postgres \
		-c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >/dev/null || return 1
	for f in pgq pgq_node londiste; do
		psql -XAq -v ON_ERROR_STOP=1 -p "$1" -d "$2" -f "$SKYTOOLS_SQLDIR/$f.sql" >/dev/null || return 1
	done
}

locations() {
	local n
	for n in root:5432 branch:5433 leaf:5434; do
		sql "$1" "SELECT pgq_node.register_location('q', '${n%:*}',
			'host=$TEST_DIR port=${n#*:} dbname=${n%:*}', false)" >/dev/null || return 1
	done
}

# subscriber TABLE...: the tables replicated here, in state ok.
subscribe() {
	local db=$1 t
	shift
	for t in "$@"; do
		sql "$db" "SELECT londiste.subscriber_add_table('q', '$t')" >/dev/null || return 1
	done
	sql "$db" "UPDATE londiste.subscriber_table SET state = 'ok'"
}

tables() {
	sql "$1" "CREATE TABLE t (id int PRIMARY KEY, v text);
		CREATE TABLE s (id int, \"K k\" text, v text, n int, PRIMARY KEY (id, \"K k\"))"
}

# The three nodes as every test starts from them, built once in
# setup_file and kept as templates (root_tpl, branch_tpl, leaf_tpl, one
# in each cluster); fresh NODE... gives the test new databases root,
# branch or leaf cloned from them, as fresh as built anew, for the nodes
# it uses.  The nodes refer to each other by those names only.
setup_file() {
	pg_start || return 1
	node_cluster branch 5433 && node_cluster leaf 5434 || return 1
	node_vars
	build_nodes || return 1
	# (a template must have no session: psql's are gone)
	psql -XAtq -v ON_ERROR_STOP=1 -p 5432 -d postgres -c "ALTER DATABASE root RENAME TO root_tpl" &&
	psql -XAtq -v ON_ERROR_STOP=1 -p 5433 -d postgres -c "ALTER DATABASE branch RENAME TO branch_tpl" &&
	psql -XAtq -v ON_ERROR_STOP=1 -p 5434 -d postgres -c "ALTER DATABASE leaf RENAME TO leaf_tpl"
}

node_vars() {
	R="host=$TEST_DIR port=5432 dbname=root"
	B="host=$TEST_DIR port=5433 dbname=branch"
	L="host=$TEST_DIR port=5434 dbname=leaf"
}

setup() { node_vars; }

# fresh NODE...: the test's database of each NODE (root, branch, leaf),
# a new clone of the template.
fresh() {
	local n port
	for n; do
		case $n in root) port=5432 ;; branch) port=5433 ;; leaf) port=5434 ;; esac
		psql -XAtq -v ON_ERROR_STOP=1 -p "$port" -d postgres \
			-c "DROP DATABASE IF EXISTS $n WITH (FORCE)" \
			-c "CREATE DATABASE $n TEMPLATE ${n}_tpl" >/dev/null || return 1
	done
}

# build_nodes: root -> branch -> leaf, t and s replicated (in state ok
# on branch and leaf), and a plain consumer "watch" on the queue of
# root and branch at the same tick.  (Each step checked: setup_file
# calls it in a list, where set -e does not stop it.)
build_nodes() {
	local wm db
	node_db 5432 root && node_db 5433 branch && node_db 5434 leaf || return 1
	locations "$R" && locations "$B" && locations "$L" || return 1
	sql "$R" "SELECT ret_code FROM pgq_node.create_node('q', 'root', 'root', 'rw', NULL, NULL, NULL)" >/dev/null &&
	tables "$R" &&
	sql "$R" "CREATE TRIGGER tg AFTER INSERT OR UPDATE OR DELETE ON t
		FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q');
		CREATE TRIGGER tg AFTER INSERT OR UPDATE OR DELETE ON s
		FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('q')" || return 1
	wm=$(sql "$R" "SELECT global_watermark FROM pgq_node.register_subscriber('q', 'branch', 'bw', NULL)") &&
	[ "$(sql "$B" "SELECT ret_code FROM pgq_node.create_node('q', 'branch', 'branch', 'bw', 'root', $wm, NULL)")" = 200 ] &&
	wm=$(sql "$B" "SELECT global_watermark FROM pgq_node.register_subscriber('q', 'leaf', 'lw', NULL)") &&
	[ "$(sql "$L" "SELECT ret_code FROM pgq_node.create_node('q', 'leaf', 'leaf', 'lw', 'branch', $wm, NULL)")" = 200 ] ||
		return 1
	for db in "$B" "$L"; do
		tables "$db" && subscribe "$db" public.t public.s >/dev/null || return 1
	done
	# plain consumers of the root's and the branch's queue, at the
	# same tick
	sql "$R" "SELECT pgq.register_consumer('q', 'watch')" >/dev/null &&
	sql "$B" "SELECT pgq.register_consumer('q', 'watch')" >/dev/null
}

# work PROVIDER NODE CONSUMER: the node's worker, until no batch is ready.
work() {
	local rc
	while :; do
		rc=0
		pgq-next-batch -d "$1" q "$3" > "$BATS_TEST_TMPDIR/next" || rc=$?
		[ "$rc" -eq 1 ] && return 0
		[ "$rc" -eq 0 ] || return "$rc"
		( set -o pipefail
		  pgq-events -d "$1" < "$BATS_TEST_TMPDIR/next" |
			londiste-apply -d "$2" --consumer "$3" --node |
			pgq-finish-batch -d "$1" ) || return $?
	done
}

cascade() { work "$R" "$B" bw && work "$B" "$L" lw; }

# batches DB: what consumer watch gets from queue q, batch by batch:
# ticks, then each event (ev_txid left out: it is each node's own).
batches() {
	local id
	while id=$(sql "$1" "SELECT pgq.next_batch('q', 'watch')") && [ -n "$id" ]; do
		sql "$1" "SELECT 'batch', prev_tick_id, tick_id FROM pgq.get_batch_info($id)"
		sql "$1" "SELECT ev_id, ev_time, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4
			FROM pgq.get_batch_events($id) ORDER BY ev_id"
		sql "$1" "SELECT pgq.finish_batch($id)" >/dev/null
	done
}

dump() { sql "$1" "SELECT * FROM $2 ORDER BY 1, 2"; }

same_tables() {
	local db
	for db in "$B" "$L"; do
		[ "$(dump "$R" t)" = "$(dump "$db" t)" ] || { echo "t differs on $db" >&2; return 1; }
		[ "$(dump "$R" s)" = "$(dump "$db" s)" ] || { echo "s differs on $db" >&2; return 1; }
	done
}

# A hand-made batch: hbatch ID PREV CUR, hevent ID TYPE DATA EXTRA1..3
# (fields written as they are: COPY-escaped), hend ID COUNT.
hbatch() { printf 'batch\t%s\t%s\t%s\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tlw\n' "$1" "$3" "$2"; }
hevent() { printf 'event\t%s\t2024-01-02 03:04:05+00\t100\t\\N\t%s\t%s\t%s\t%s\t%s\t\\N\n' "$@"; }
hend() { printf 'end\t%s\t%s\n' "$1" "$2"; }

@test "londiste-apply --node: usage names the option" {
	run --separate-stderr londiste-apply --help
	[ "$status" -eq 0 ]
	[[ "$output" == *--node* ]]
	run --separate-stderr londiste-apply --node
	[ "$status" -eq 2 ]
}

@test "londiste-apply --node: a branch's queue hands out the root's batches: same tick ids, same events; the leaf applies them" {
	fresh root branch leaf
	sql "$R" "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g"
	sql "$R" "INSERT INTO s VALUES (1, 'a b', E'it''s\\\\', 5), (2, 'x', NULL, NULL)"
	tick "$R" q
	sql "$R" "UPDATE t SET v = 'u' WHERE id % 7 = 0; DELETE FROM t WHERE id > 45"
	sql "$R" "UPDATE s SET v = 'new', n = NULL WHERE id = 1; UPDATE s SET n = 3 WHERE id = 2"
	tick "$R" q
	tick "$R" q		# an empty batch
	sql "$R" "DELETE FROM s WHERE id = 1; INSERT INTO t VALUES (100, 'last')"
	tick "$R" q
	cascade
	same_tables
	[ "$(sql "$L" 'SELECT count(*) FROM t')" = 46 ]
	[ "$(sql "$L" "SELECT \"K k\", n FROM s")" = "x|3" ]
	# the same batches, tick for tick, event for event
	batches "$R" > "$BATS_TEST_TMPDIR/root"
	batches "$B" > "$BATS_TEST_TMPDIR/branch"
	[ "$(grep -c '^batch' "$BATS_TEST_TMPDIR/root")" -eq 4 ]
	[ "$(grep -vc '^batch' "$BATS_TEST_TMPDIR/root")" -eq 68 ]
	diff "$BATS_TEST_TMPDIR/root" "$BATS_TEST_TMPDIR/branch"
	# positions: the branch and the leaf at the root's last tick
	top=$(sql "$R" "SELECT max(tick_id) FROM pgq.tick")
	[ "$(sql "$B" "SELECT last_tick_id FROM pgq_node.local_state WHERE consumer_name = 'bw'")" = "$top" ]
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state WHERE consumer_name = 'lw'")" = "$top" ]
	[ "$(sql "$B" "SELECT max(tick_id) FROM pgq.tick")" = "$top" ]
	# the branch's queue statistics: nothing untick'ed, its event seq
	# never moved back
	[ "$(sql "$B" "SELECT ev_new FROM pgq.get_queue_info('q')")" = 0 ]
	[ "$(sql "$B" "SELECT bool_and(s >= coalesce(p, 0)) FROM (SELECT tick_event_seq s,
		lag(tick_event_seq) OVER (ORDER BY tick_id) p FROM pgq.tick) x")" = t ]
	pfx=$(sql "$R" "SELECT queue_data_pfx FROM pgq.queue")
	[ "$(sql "$B" "SELECT max(tick_event_seq) FROM pgq.tick")" = "$(sql "$R" "SELECT max(ev_id) FROM $pfx")" ]
	# a leaf keeps no queue; londiste.completed is not used
	[ "$(sql "$L" "SELECT count(*) FROM pgq.queue")" = 0 ]
	[ "$(sql "$B" "SELECT count(*) FROM londiste.completed")" = 0 ]
}

@test "londiste-apply --node: a batch delivered twice is skipped and re-emitted; a gap exits 2; no position exits 4" {
	fresh root branch
	sql "$R" "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g"
	tick "$R" q
	pgq-next-batch -d "$R" q bw | pgq-events -d "$R" > "$BATS_TEST_TMPDIR/s"
	londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/s" > /dev/null
	run --separate-stderr londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(head -1 "$BATS_TEST_TMPDIR/s")" ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(sql "$B" 'SELECT count(*) FROM t')" = 10 ]
	pfx=$(sql "$B" "SELECT queue_data_pfx FROM pgq.queue")
	[ "$(sql "$B" "SELECT count(*) FROM $pfx")" = 10 ]
	pgq-finish-batch -d "$R" < "$BATS_TEST_TMPDIR/s" > /dev/null

	# the next batch, made to start one tick too late: a gap
	sql "$R" "INSERT INTO t VALUES (11, 'v')"
	tick "$R" q
	pgq-next-batch -d "$R" q bw | pgq-events -d "$R" > "$BATS_TEST_TMPDIR/s"
	awk -F '\t' -v OFS='\t' 'NR == 1 { $4 = $4 + 1 } { print }' "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/gap"
	run --separate-stderr londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/gap"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *gap* ]]
	[ -z "$output" ]
	[ "$(sql "$B" 'SELECT count(*) FROM t')" = 10 ]
	# a consumer this node does not know
	run --separate-stderr londiste-apply -d "$B" --consumer nobody --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *pgq_node.local_state* ]]
	# the root applies nothing, nor does a merge leaf
	run --separate-stderr londiste-apply -d "$R" --consumer rw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *root* ]]
	sql "$B" "UPDATE pgq_node.node_info SET node_type = 'leaf', combined_queue = 'cq'"
	run --separate-stderr londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"merge leaf"* ]]
	sql "$B" "UPDATE pgq_node.node_info SET node_type = 'branch', combined_queue = NULL"
	# the real one goes on
	run --separate-stderr londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql "$B" 'SELECT count(*) FROM t')" = 11 ]
}

mid_batch() {
	[ "$(sql "$B" "SELECT count(*) > 0 FROM pg_stat_activity
		WHERE application_name = 'londiste-apply' AND backend_xid IS NOT NULL")" = t ]
}

@test "londiste-apply --node: killed mid-batch (kill -9) and run again: nothing lost, nothing twice" {
	fresh root branch leaf
	sql "$R" "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 8000) g"
	tick "$R" q
	sql "$R" "UPDATE t SET v = 'w' WHERE id <= 4000"
	tick "$R" q
	pgq-next-batch -d "$R" q bw | pgq-events -d "$R" > "$BATS_TEST_TMPDIR/s"
	n=$(wc -l < "$BATS_TEST_TMPDIR/s")
	mkfifo "$BATS_TEST_TMPDIR/f"
	# (fd 3 is bats' own)
	londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/f" > "$BATS_TEST_TMPDIR/out" 2>/dev/null 3>&- &
	pid=$!
	exec 7> "$BATS_TEST_TMPDIR/f"
	head -n $((n - 2)) "$BATS_TEST_TMPDIR/s" >&7
	# mid-batch: its transaction is open
	wait_for mid_batch
	kill -9 "$pid"
	exec 7>&-
	wait "$pid" || true
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
	[ "$(sql "$B" 'SELECT count(*) FROM t')" = 0 ]
	# the pipeline again, from the unfinished batch on
	work "$R" "$B" bw
	work "$B" "$L" lw
	same_tables
	[ "$(sql "$L" "SELECT count(*), count(*) FILTER (WHERE v = 'w') FROM t")" = "8000|4000" ]
	batches "$R" > "$BATS_TEST_TMPDIR/root"
	batches "$B" > "$BATS_TEST_TMPDIR/branch"
	[ "$(grep -vc '^batch' "$BATS_TEST_TMPDIR/branch")" -eq 12000 ]
	cmp "$BATS_TEST_TMPDIR/root" "$BATS_TEST_TMPDIR/branch"
}

# The worker's transaction copies rows into a table: its first
# statements (position, event table) have run.
copying_rows() {
	[ "$(sql "$B" "SELECT count(*) > 0 FROM pg_stat_activity
		WHERE application_name = 'londiste-apply' AND backend_xid IS NOT NULL
		AND query LIKE 'COPY %'")" = t ]
}

@test "londiste-apply --node: the branch's queue rotates while a batch goes into it: its consumers lose nothing" {
	fresh root branch leaf
	# a first batch, and every consumer of the branch's queue past it,
	# so that the queue may rotate
	sql "$R" "INSERT INTO t VALUES (0, 'first')"
	tick "$R" q
	cascade
	batches "$R" > /dev/null
	batches "$B" > /dev/null
	sql "$B" "UPDATE pgq.queue SET queue_rotation_period = '0';
		UPDATE pgq.subscription SET sub_last_tick = (SELECT max(tick_id) FROM pgq.tick)"
	sql "$R" "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 3000) g"
	tick "$R" q
	pgq-next-batch -d "$R" q bw | pgq-events -d "$R" > "$BATS_TEST_TMPDIR/s"
	n=$(wc -l < "$BATS_TEST_TMPDIR/s")
	mkfifo "$BATS_TEST_TMPDIR/f"
	londiste-apply -d "$B" --consumer bw --node < "$BATS_TEST_TMPDIR/f" > "$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 7> "$BATS_TEST_TMPDIR/f"
	head -n $((n - 1)) "$BATS_TEST_TMPDIR/s" >&7
	# it has read which table is current; now rotate under it (only
	# once: the next rotation waits for the batch)
	wait_for copying_rows
	cur=$(sql "$B" "SELECT queue_cur_table FROM pgq.queue")
	for r in 1 2 3; do
		sql "$B" "SELECT pgq.maint_rotate_tables_step1('q')" >/dev/null
		sql "$B" "SELECT pgq.maint_rotate_tables_step2()" >/dev/null
	done
	[ "$(sql "$B" "SELECT queue_cur_table FROM pgq.queue")" = $(((cur + 1) % 3)) ]
	tail -n 1 "$BATS_TEST_TMPDIR/s" >&7
	exec 7>&-
	wait "$pid"
	pgq-finish-batch -d "$R" < "$BATS_TEST_TMPDIR/out" >/dev/null
	# the events went into the table that was current when the batch
	# began, and the branch's consumers get them all
	pfx=$(sql "$B" "SELECT queue_data_pfx FROM pgq.queue")
	[ "$(sql "$B" "SELECT count(*) FROM ${pfx}_$cur")" -ge 3000 ]
	batches "$R" > "$BATS_TEST_TMPDIR/root"
	batches "$B" > "$BATS_TEST_TMPDIR/branch"
	[ "$(grep -vc '^batch' "$BATS_TEST_TMPDIR/branch")" -eq 3000 ]
	cmp "$BATS_TEST_TMPDIR/root" "$BATS_TEST_TMPDIR/branch"
	work "$B" "$L" lw
	same_tables
}

@test "londiste-apply --node: a hostile SQL fragment is refused (2), nothing of the batch applied" {
	fresh leaf
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	for frag in "I|(id,v) values ('1',(select 'x'))" "I|(id,v) values ('1','a'); drop table t" \
		"I|(id,v) select 1, 'a'" "U|v='a' where true" "U|v='a' where id='1' or true" \
		"U|v=now() where id='1'" "D|id='1' or id>'0'" "I|(id,v) values ('1',E'\\\\x41')"; do
		{ hbatch 900 "$ok" $((ok + 1))
		  hevent 1 I "(id,v) values ('50','good')" public.t '\N' '\N'
		  hevent 2 "${frag%%|*}" "${frag#*|}" public.t '\N' '\N'
		  hend 900 2; } > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 2 ] || { echo "$frag: $status $stderr" >&2; false; }
		[[ "$stderr" == *"event 2 (table public.t)"* ]]
		[ "$(sql "$L" 'SELECT count(*) FROM t')" = 0 ]
	done
	# an update fragment that would change two rows fails the batch
	sql "$L" "INSERT INTO s VALUES (1, 'a', 'x', 1), (1, 'b', 'x', 1)"
	{ hbatch 901 "$ok" $((ok + 1))
	  hevent 1 U "n='2' where id='1'" public.s '\N' '\N'
	  hend 901 1; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -ne 0 ]
	[ "$(sql "$L" 'SELECT sum(n) FROM s')" = 2 ]
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")" = "$ok" ]
}

@test "londiste-apply: sqltriga events apply without --node too (a key update included); url-encoded plain I/U/D still do" {
	fresh leaf
	{ hbatch 910 0 1
	  hevent 1 I "(id,\"K k\",v,n) values ('1','a b',E'x\\\\\\\\y''z',null)" public.s '\N' '\N'
	  hevent 2 I "id=2&v=url+row" public.t '\N' '\N'
	  hevent 3 U "v=changed&id=2" public.t '\N' '\N'
	  hevent 4 I "(id,v) values ('3','three')" public.t '\N' '\N'
	  hevent 5 D "id='3'" public.t '\N' '\N'
	  hevent 6 U "\"K k\"='moved',n='7' where id='1' and \"K k\"='a b'" public.s '\N' '\N'
	  hend 910 6; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql "$L" 'SELECT * FROM s')" = "1|moved|x\\y'z|7" ]
	[ "$(sql "$L" 'SELECT * FROM t')" = "2|changed" ]
}

@test "londiste-apply: rows whose column names only read alike never share a statement; a column twice exits 2" {
	fresh leaf
	sql "$L" "DO \$\$BEGIN EXECUTE format('CREATE TABLE w (id int PRIMARY KEY, a text, b text, %I text, %I text)',
		E'a\\x1f', E'\\x1fb'); END\$\$"
	subscribe "$L" public.w
	{ hbatch 915 0 1
	  hevent 1 I 'id=1&a%1F=x&b=y' public.w '\N' '\N'
	  hevent 2 I 'id=2&a=p&%1Fb=q' public.w '\N' '\N'
	  hend 915 2; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql "$L" "SELECT id, coalesce(a, '-'), coalesce(b, '-') FROM w ORDER BY id")" = "$(printf '1|-|y\n2|p|-')" ]
	# a row of the same names as one before, but one of them twice
	{ hbatch 916 1 2
	  hevent 1 I 'id=3&a=1' public.w '\N' '\N'
	  hevent 2 I 'id=4&id=5' public.w '\N' '\N'
	  hend 916 2; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"event 2 (table public.w)"*twice* ]]
	[ "$(sql "$L" 'SELECT count(*) FROM w')" = 2 ]
}

@test "londiste-apply --node: pgq.location-info and pgq.global-watermark; unknown types stop (2), other tables' rows are skipped" {
	fresh leaf
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	{ hbatch 920 "$ok" $((ok + 1))
	  hevent 1 pgq.location-info newnode q 'host=elsewhere' false
	  hevent 2 I "id=1&v=x" public.other '\N' '\N'
	  hevent 3 pgq.global-watermark 1 q '\N' '\N'
	  hend 920 3; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql "$L" "SELECT node_location FROM pgq_node.node_location WHERE node_name = 'newnode'")" = host=elsewhere ]
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")" = $((ok + 1)) ]
	ok=$((ok + 1))
	for ev in "X:id|id=1|public.other|q" "londiste.no-such|x|\\N|q" "pgq.no-such|x|q|q" \
		"pgq.location-info|n2|other_queue|host=x"; do
		IFS='|' read -r ty da e1 e2 <<< "$ev"
		{ hbatch 921 "$ok" $((ok + 1))
		  hevent 1 "$ty" "$da" "$e1" "$e2" false
		  hend 921 1; } > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 2 ] || { echo "$ev: $status $stderr" >&2; false; }
	done
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")" = "$ok" ]
	# without --node, a type unknown for a table not replicated here is
	# skipped as before
	{ hbatch 922 0 1; hevent 1 X:id id=1 public.other '\N' '\N'; hend 922 1; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
}

@test "londiste-apply --node: a retried event (ev_retry set) in a cascaded batch exits 2, nothing applied" {
	fresh leaf
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	n=$(sql "$L" "SELECT count(*) FROM t")
	{ hbatch 925 "$ok" $((ok + 1))
	  hevent 1 I:id "id=925&v=first" public.t '\N' '\N'
	  printf 'event\t2\t2024-01-02 03:04:05+00\t100\t1\tI:id\tid=926&v=retried\tpublic.t\t\\N\t\\N\t\\N\n'
	  hend 925 2; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"a retried event (ev_retry 1)"* ]]
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")" = "$ok" ]
	[ "$(sql "$L" "SELECT count(*) FROM t")" = "$n" ]
	# the same batch without the retry count applies
	sed -i 's/\t100\t1\tI:id/\t100\t\\N\tI:id/' "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql "$L" "SELECT count(*) FROM t")" = $((n + 2)) ]
}

@test "londiste-apply --node: a node function that refuses (ret_code 400 or more) exits 3, nothing of the batch applied" {
	fresh leaf
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	n=$(sql "$L" "SELECT count(*) FROM t")
	sql "$L" "CREATE OR REPLACE FUNCTION londiste.global_update_seq(i_queue_name text, i_seq_name text,
		i_value int8, OUT ret_code int4, OUT ret_note text)
		LANGUAGE sql AS \$\$ SELECT 500, 'refused by the test' \$\$" >/dev/null
	{ hbatch 926 "$ok" $((ok + 1))
	  hevent 1 I:id "id=927&v=x" public.t '\N' '\N'
	  hevent 2 londiste.update-seq 5 public.rq '\N' '\N'
	  hend 926 2; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"update sequence: 500 refused by the test"* ]]
	[ "$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")" = "$ok" ]
	[ "$(sql "$L" "SELECT count(*) FROM t")" = "$n" ]
	[ "$(sql "$L" "SELECT count(*) FROM londiste.seq_info WHERE seq_name = 'public.rq'")" = 0 ]
}

# The londiste 3 functions (lon3 SQL) the next tests need.
need_lon3() {
	[ -n "$(sql "$L" "SELECT to_regprocedure('londiste.execute_start(text,text,text,boolean,text)')")" ] ||
		skip "londiste 3's SQL API (execute_start, global_update_seq) is not in sql/londiste yet"
}

@test "londiste-apply --node: EXECUTE runs once per node, also when it comes again; update-seq sets the sequence; add-table, remove-table" {
	fresh leaf
	need_lon3
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	sql "$L" "CREATE SEQUENCE sq"
	sql "$L" "SELECT ret_code FROM londiste.global_update_seq('q', 'public.sq', 1)" >/dev/null
	sql "$L" "SELECT ret_code FROM londiste.local_add_seq('q', 'public.sq')" >/dev/null
	script='CREATE TABLE x1 (a int); INSERT INTO x1 VALUES (1);'
	for b in 1 2; do
		{ hbatch $((930 + b)) "$ok" $((ok + 1))
		  hevent 1 EXECUTE "$script" f1.sql '\N' '\N'
		  hevent 2 londiste.update-seq $((40 + b)) public.sq '\N' '\N'
		  hevent 3 londiste.add-table public.new$b '\N' '\N' '\N'
		  hevent 4 londiste.remove-table public.new1 '\N' '\N' '\N'
		  hend $((930 + b)) 4; } > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
		# delivered twice: skipped by the position
		run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 0 ]
		ok=$((ok + 1))
	done
	[ "$(sql "$L" 'SELECT count(*) FROM x1')" = 1 ]
	[ "$(sql "$L" 'SELECT last_value FROM sq')" = 42 ]
	[ "$(sql "$L" "SELECT string_agg(table_name, ',') FROM londiste.table_info WHERE table_name LIKE 'public.new%'")" = public.new2 ]
	# a script that would commit the batch halfway fails it
	{ hbatch 935 "$ok" $((ok + 1))
	  hevent 1 EXECUTE 'CREATE TABLE x2 (a int); COMMIT; CREATE TABLE x3 (a int)' f2.sql '\N' '\N'
	  hend 935 1; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	# the message names the file, which the operator needs to step over it
	[[ "$stderr" == *"EXECUTE f2.sql: "* ]]
	[ -z "$(sql "$L" "SELECT to_regclass('x2')")" ]
	[ "$(sql "$L" "SELECT count(*) FROM londiste.applied_execute WHERE execute_file = 'f2.sql'")" = 0 ]
}

@test "londiste-apply --node: a session-level SET in an EXECUTE script ends with its batch" {
	fresh leaf
	need_lon3
	ok=$(sql "$L" "SELECT last_tick_id FROM pgq_node.local_state")
	# fires only outside replica mode
	sql "$L" "CREATE FUNCTION no_origin() RETURNS trigger LANGUAGE plpgsql AS
		\$\$ BEGIN RAISE EXCEPTION 'fired outside replica mode'; END \$\$;
		CREATE TRIGGER no_origin BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION no_origin()"
	{ hbatch 951 "$ok" $((ok + 1))
	  hevent 1 EXECUTE 'SET session_replication_role = origin; CREATE TABLE x9 (a int)' f9.sql '\N' '\N'
	  hend 951 1
	  hbatch 952 $((ok + 1)) $((ok + 2))
	  hevent 2 I:id 'id=77&v=x' public.t '\N' '\N'
	  hend 952 1; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d "$L" --consumer lw --node < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql "$L" "SELECT v FROM t WHERE id = 77")" = x ]
	[ -n "$(sql "$L" "SELECT to_regclass('public.x9')")" ]
}

@test "londiste-apply --node: a table added on the root (londiste 3's local_add_table) reaches the set of branch and leaf, and replicates once added there" {
	fresh root branch leaf
	need_lon3
	for db in "$R" "$B" "$L"; do
		sql "$db" "CREATE TABLE u (id int PRIMARY KEY, v text)"
	done
	[ "$(sql "$R" "SELECT ret_code FROM londiste.local_add_table('q', 'public.u')")" = 200 ]
	tick "$R" q
	cascade
	for db in "$B" "$L"; do
		[ "$(sql "$db" "SELECT local FROM londiste.table_info WHERE table_name = 'public.u'")" = f ]
		[ "$(sql "$db" "SELECT ret_code FROM londiste.local_add_table('q', 'public.u')")" = 200 ]
		# as if londiste-copy had copied the (empty) table
		sql "$db" "UPDATE londiste.subscriber_table SET state = 'ok' WHERE table_name = 'public.u'"
	done
	sql "$R" "INSERT INTO u SELECT g, 'u' || g FROM generate_series(1, 20) g; UPDATE u SET v = 'x' WHERE id = 3"
	tick "$R" q
	cascade
	for db in "$B" "$L"; do
		[ "$(dump "$R" u)" = "$(dump "$db" u)" ]
	done
	[ "$(sql "$L" "SELECT v FROM u WHERE id = 3")" = x ]
}
