#!/usr/bin/env bats
# pgq_node.demote_root and londiste: a root that becomes a branch keeps
# replicating its tables, whichever tool demotes it (londiste's part,
# londiste.root_demoted, runs in step 3's transaction).

load helper
load 25x-cascade

ini() { printf '%s/%s.ini' "$BATS_TEST_TMPDIR" "$1"; }

teardown() { [ ! -f "$(ini d6)" ] || worker_stop d6; }

# root DB: a root of queue q with tables t and u in the set.
root() {
	new_db "$1" none &&
	sql "$1" "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int PRIMARY KEY)" &&
	cascade_ini "$1" &&
	londiste "$(ini "$1")" create-root "$1" &&
	[ "$(sql "$1" "SELECT ret_code FROM londiste.local_add_table('q', 'public.t')")" = 200 ] &&
	[ "$(sql "$1" "SELECT ret_code FROM londiste.local_add_table('q', 'public.u')")" = 200 ] &&
	sql "$1" "SELECT ret_code FROM pgq_node.register_location('q', 'other', 'dbname=other', false)" >/dev/null
}

demote() {
	local s
	for s in 1 2 3; do
		[ "$(sql "$1" "SELECT ret_code FROM pgq_node.demote_root('q', $s, 'other')")" = 200 ] || return 1
	done
}

@test "demote_root: plain SQL steps register the root's tables in state ok" {
	root d1
	[ "$(sql d1 "SELECT count(*) FROM londiste.subscriber_table")" = 0 ]
	# a table the root left out of the set stays out
	sql d1 "CREATE TABLE w (id int PRIMARY KEY)" >/dev/null
	sql d1 "SELECT ret_code FROM londiste.global_add_table('q', 'public.w')" >/dev/null
	demote d1
	[ "$(sql d1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = branch ]
	[ "$(sql d1 "SELECT string_agg(table_name || ':' || state, ',' ORDER BY table_name)
		FROM londiste.subscriber_table WHERE queue_name = 'q'")" = "public.t:ok,public.u:ok" ]
	[ "$(sql d1 "SELECT string_agg(table_name || ':' || coalesce(merge_state, 'null'), ',' ORDER BY table_name)
		FROM londiste.get_table_list('q') WHERE local")" = "public.t:ok,public.u:ok" ]
}

@test "demote_root: a row the branch has already is kept as it is" {
	root d2
	sql d2 "SELECT londiste.subscriber_add_table('q', 'public.u')" >/dev/null
	demote d2
	[ "$(sql d2 "SELECT string_agg(table_name || ':' || state, ',' ORDER BY table_name)
		FROM londiste.subscriber_table WHERE queue_name = 'q'")" = "public.t:ok,public.u:new" ]
}

@test "demote_root: without londiste in the database it demotes all the same" {
	root d3
	sql d3 "DROP SCHEMA londiste CASCADE" >/dev/null
	demote d3
	[ "$(sql d3 "SELECT node_type FROM pgq_node.get_node_info('q')")" = branch ]
}

@test "demote_root: nobody but pgq_node's functions may call londiste.root_demoted" {
	root d4
	sql d4 "CREATE ROLE demote_nobody LOGIN" >/dev/null 2>&1 || :
	run --separate-stderr psql -XAtq -v ON_ERROR_STOP=1 -U demote_nobody -d d4 \
		-c "SELECT londiste.root_demoted('q')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"permission denied"* ]]
}

# A switchover that stopped between step 1 and the promotion left the
# old root's ticker saying "Insert into queue q disallowed" at every
# maintenance round (each 30 s): maint_watermark's global watermark
# event, which the queue refuses from step 1 on.
@test "demote_root: between step 1 and step 3 the maintenance publishes no watermark, and fails not" {
	root d5
	wm_events() {
		sql d5 "SELECT count(*) FROM $(sql d5 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'") WHERE ev_type = 'pgq.global-watermark'"
	}
	# a watermark 10 minutes old: the maintenance publishes it (5)
	old() {
		sql d5 "UPDATE pgq.tick SET tick_time = tick_time - interval '10 minutes'
			WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'q')" >/dev/null
	}
	old
	n0=$(wm_events)
	sql d5 "SELECT pgq_node.maint_watermark('q')" >/dev/null
	[ "$(wm_events)" = $((n0 + 1)) ]
	[ "$(sql d5 "SELECT ret_code FROM pgq_node.demote_root('q', 1, 'other')")" = 200 ]
	old
	run --separate-stderr sql d5 "SELECT pgq_node.maint_watermark('q')"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$output" = 0 ]
	[ "$(wm_events)" = $((n0 + 1)) ]
	# the rest of the demotion is not held up by it
	for s in 2 3; do
		[ "$(sql d5 "SELECT ret_code FROM pgq_node.demote_root('q', $s, 'other')")" = 200 ]
	done
}

# The old root's worker says once that its queue takes no events (a
# switchover began), and once that it takes them again.
@test "demote_root: the root's worker says once that step 1 stopped its writes, and once that they go again" {
	root d6
	worker_start d6
	log=$BATS_TEST_TMPDIR/d6.log
	wait_for grep -q "worker d6_w of node d6 started" "$log"
	[ "$(sql d6 "SELECT ret_code FROM pgq_node.demote_root('q', 1, 'other')")" = 200 ]
	wait_for grep -q "this root's queue takes no events (writes fail): a switchover began" "$log"
	# as londiste(1) says to, once the promotion did not happen
	sql d6 "UPDATE pgq.queue SET queue_disable_insert = false, queue_external_ticker = false
		WHERE queue_name = 'q'" >/dev/null
	wait_for grep -q "this root's queue takes events again" "$log"
	[ "$(grep -c "takes no events" "$log")" = 1 ]
	worker_stop d6
}
