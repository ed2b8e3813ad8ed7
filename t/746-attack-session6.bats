#!/usr/bin/env bats
# Attacks on the session's changes: londiste-copy's closed window,
# compare and repair below a branch.  Each test is a problem that was
# found, and stays fixed.

load helper
load 200-londiste
load 25x-cascade

teardown() {
	cascade_workers_stop
	sessions_stop
}

b1_state_ok() {
	[ "$(sql b1 "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$1'")" = ok ]
}
b1_running() { londiste "$(ini b1)" status 2>&1 | grep -q 'b1 (branch)'; }
b1_lacks_t2() {
	[ "$(sql b1 "SELECT count(*) FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = 0 ]
}
b1_worker_alive() { kill -0 "$(cat "$BATS_TEST_TMPDIR/b1.pid")" 2>/dev/null; }

@test "cascade: the root's remove-table just before a branch's copy reads the root: the branch's worker goes on (no status 2)" {
	need_node_mode
	branch_t2
	# the copy waits for this lock on its registration row, after
	# replay listed the table and before it reads the provider
	session 7 b1
	londiste "$(ini b1)" add-table t2
	echo "BEGIN; SELECT 1 FROM londiste.subscriber_table WHERE table_name = 'public.t2' FOR UPDATE; SELECT 'locked';" >&7
	wait_for said 7 locked
	wait_for copy_waits b1
	londiste "$(ini r1)" remove-table t2
	echo "COMMIT;" >&7
	end_session 7
	# the removal reaches b1 through the queue; the copy gave way
	wait_for b1_lacks_t2
	! grep -q 'exited with status 2' "$BATS_TEST_TMPDIR/b1.log" || {
		cat "$BATS_TEST_TMPDIR/b1.log" >&2; false; }
	b1_worker_alive
	sql r1 "INSERT INTO t1 VALUES (1, 'after')"
	t1_after() { [ "$(sql b1 "SELECT count(*) FROM t1 WHERE v = 'after'")" = 1 ]; }
	wait_for t1_after
	b1_worker_alive
}

@test "cascade: londiste-copy --if-registered of a table the root removed and dropped after the copy began is exit 3, nothing copied" {
	need_node_mode
	branch_t2
	worker_stop b1
	londiste "$(ini b1)" add-table t2
	sql b1 "SET session_replication_role = replica; INSERT INTO t2 VALUES (-1, 'own')"
	# the copy read the root, then waits in copy_begin for this lock
	session 7 b1
	echo "BEGIN; SELECT 1 FROM londiste.subscriber_table WHERE table_name = 'public.t2' FOR SHARE; SELECT 'locked';" >&7
	wait_for said 7 locked
	londiste-copy -s "$(loc r1)" -d "$(loc b1)" --consumer b1_w --if-registered public.t2 \
		> "$BATS_TEST_TMPDIR/copy.out" 2> "$BATS_TEST_TMPDIR/copy.err" &
	copy_pid=$!
	wait_for copy_waits b1
	londiste "$(ini r1)" remove-table t2
	sql r1 "DROP TABLE t2"
	echo "COMMIT;" >&7
	end_session 7
	st=0
	wait "$copy_pid" || st=$?
	[ "$st" -eq 3 ] || { cat "$BATS_TEST_TMPDIR/copy.err" >&2; false; }
	grep -q 'table public.t2 is not (or no longer) replicated by queue q on the provider' "$BATS_TEST_TMPDIR/copy.err"
	[ ! -s "$BATS_TEST_TMPDIR/copy.out" ]
	[ "$(sql b1 "SELECT string_agg(id::text || v, ',') FROM t2")" = "-1own" ]
	# the same root, by the worker: the removal comes, the copy is gone
	worker_start b1
	wait_for b1_lacks_t2
	b1_worker_alive
}



@test "compare and repair with a lock timeout longer than the server's lock_timeout takes (INT_MAX ms) go on" {
	need_node_mode
	branch_t2
	wait_for b1_state_ok t1
	sql r1 "INSERT INTO t1 SELECT g, 'a' FROM generate_series(1, 10) g"
	# 30 days: beyond lock_timeout's 24.8
	run --separate-stderr londiste-compare -s "$(loc r1)" -d "$(loc b1)" --consumer b1_w \
		--lock-timeout 2592000 t1
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	[[ "$output" == *"public.t1	"*"	equal" ]]
	run --separate-stderr londiste-repair -s "$(loc r1)" -d "$(loc b1)" --consumer b1_w \
		--lock-timeout 2592000 t1
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
}

@test "londiste-copy from a Skytools 2 provider without pgq_node: copied (the provider's state is read only where pgq_node is)" {
	lon_db prov ours
	lon_db sub none
	for db in prov sub; do sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text)"; done
	sql prov "INSERT INTO t1 SELECT g, 'p' FROM generate_series(1, 30) g"
	[ -z "$(sql prov "SELECT to_regnamespace('pgq_node')")" ]
	sql prov "SELECT pgq.create_queue('q')" >/dev/null
	sql prov "SELECT pgq.register_consumer('q', 'c')" >/dev/null
	sql prov "SELECT londiste.provider_add_table('q', 'public.t1')" >/dev/null
	sql sub "SELECT londiste.subscriber_add_table('q', 'public.t1')" >/dev/null
	run --separate-stderr londiste-copy -s "dbname=prov" -d "dbname=sub" --consumer c --if-registered public.t1
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	[ "$(sql sub "SELECT count(*) FROM t1")" = 30 ]
}

@test "status: a cur_error set by a pgq_writer (or carrying row data) prints on one line, without control characters" {
	need_node_mode
	cascade_tree r1 b1
	sql postgres "DROP ROLE IF EXISTS atk6_writer; CREATE ROLE atk6_writer LOGIN IN ROLE pgq_writer" >/dev/null
	sql postgres "DROP ROLE IF EXISTS atk6_nobody; CREATE ROLE atk6_nobody LOGIN" >/dev/null
	# no grants: refused
	run psql -XAtq -v ON_ERROR_STOP=1 -d "$(loc b1) user=atk6_nobody" \
		-c "SELECT pgq_node.set_consumer_error('q', 'b1_w', 'x')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"permission denied"* ]]
	run psql -XAtq -v ON_ERROR_STOP=1 -d "$(loc b1) user=atk6_nobody" \
		-c "SELECT londiste.restore_triggers('q', 'public.t1', NULL, 'public.t1', 'branch')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"permission denied"* ]]
	# a writer may (as in the original): what it writes is only shown
	psql -XAtq -v ON_ERROR_STOP=1 -d "$(loc b1) user=atk6_writer" \
		-c "SELECT pgq_node.set_consumer_error('q', 'b1_w', E'boom\n    Tables: 9/9 ok\n\033]0;owned\007\033[2J')" >/dev/null
	run --separate-stderr londiste "$(ini b1)" status
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -q 'Error: boom'
	# nothing forged, nothing for the terminal
	! printf '%s\n' "$output" | grep -q '^ *Tables: 9/9' || { printf '%s\n' "$output" >&2; false; }
	! printf '%s' "$output" | LC_ALL=C grep -q "$(printf '\033')" || { printf '%s\n' "$output" | od -c | head >&2; false; }
	run --separate-stderr londiste "$(ini b1)" node-status
	! printf '%s' "$output" | LC_ALL=C grep -q "$(printf '\033')" || false
	! printf '%s\n' "$output" | grep -q '^    Tables: 9/9' || false
}
