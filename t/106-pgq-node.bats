#!/usr/bin/env bats
# sql/pgq_node: a cascaded queue over three databases of the test
# cluster (root, branch, leaf), checked against the behaviour of
# Skytools 3's pgq_node 3.5; Debian's original (postgresql-*-pgq-node)
# in a fourth database gives the reference signatures.

load helper
load 1xx-extension

setup_file() {
	pg_start
	for db in nroot nbranch nleaf; do
		new_db "$db" && node_install "$db" || return 1
	done
}

node_install() {
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/pgq_node.sql"
}

# call / ok DB 'f(args)': ret_call / ret_ok of a pgq_node function
call() { ret_call "$1" "pgq_node.$2"; }
ok() { ret_ok "$1" "pgq_node.$2"; }

have_debian_pgq_node() {
	have_debian_pgq &&
		grep -q "^default_version = '3" "$(pg_config --sharedir)/extension/pgq_node.control" 2>/dev/null
}

# cascade Q: queue Q with node "root" in nroot, "branch" in nbranch
# (reading root) and "leaf" in nleaf (reading branch), the way the
# cascade admin sets them up: locations first, then the node, then its
# subscription on the provider.
cascade() {
	local q=$1 gw db n
	for db in nroot nbranch nleaf; do
		for n in root branch leaf; do
			ok $db "register_location('$q', '$n', 'dbname=n$n', false)" || return 1
		done
	done
	ok nroot "create_node('$q', 'root', 'root', 'w_root', NULL, NULL, NULL)" || return 1
	gw=$(sql nroot "SELECT global_watermark FROM pgq_node.get_node_info('$q')") || return 1
	ok nroot "register_subscriber('$q', 'branch', 'w_branch', NULL)" || return 1
	ok nbranch "create_node('$q', 'branch', 'branch', 'w_branch', 'root', $gw, NULL)" || return 1
	ok nbranch "register_subscriber('$q', 'leaf', 'w_leaf', NULL)" || return 1
	ok nleaf "create_node('$q', 'leaf', 'leaf', 'w_leaf', 'branch', $gw, NULL)"
}

# events DB Q: the pgq_node events in queue Q (they name their queue in
# ev_extra1), one line each: type data extra1 extra2 extra3
events() {
	sql "$1" "SELECT ev_type || ' ' || ev_data || ' ' || coalesce(ev_extra1, '-') || ' '
	          || coalesce(ev_extra2, '-') || ' ' || coalesce(ev_extra3, '-')
	          FROM pgq.event_template
	         WHERE ev_type LIKE 'pgq.%' AND ev_extra1 = '$2' ORDER BY ev_id"
}

@test "the install runs again silently over itself and says what it is" {
	run node_install nroot
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(sql nroot "SELECT pgq_node.version()")" = 3.5 ]
	[ "$(sql nroot "SELECT pgq_node.upgrade_schema()")" = 0 ]
}

@test "root, branch and leaf: get_node_info and get_worker_state on each" {
	cascade q1
	run sql nroot "SELECT ret_code, ret_note, node_type, node_name, global_watermark,
	       local_watermark, provider_node, provider_location, combined_queue,
	       combined_type, worker_name, worker_paused, worker_uptodate,
	       worker_last_tick = pgq_node._queue_top('q1'), node_attrs, target_for
	  FROM pgq_node.get_node_info('q1')"
	[ "$output" = "100|Ok|root|root|1|1|root|dbname=nroot|||w_root|f|f|t||" ]
	run sql nbranch "SELECT node_type, node_name, global_watermark, local_watermark,
	       provider_node, provider_location, worker_name, worker_last_tick
	  FROM pgq_node.get_node_info('q1')"
	[ "$output" = "branch|branch|1|1|root|dbname=nroot|w_branch|1" ]
	# a leaf has no queue: its local watermark is its worker's tick
	run sql nleaf "SELECT node_type, global_watermark, local_watermark, provider_node,
	       worker_last_tick FROM pgq_node.get_node_info('q1')"
	[ "$output" = "leaf||1|branch|1" ]
	[ "$(sql nleaf "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q1'")" = 0 ]
	# the branch's copy takes no inserts and no local ticks
	run sql nbranch "SELECT queue_external_ticker, queue_disable_insert FROM pgq.queue WHERE queue_name = 'q1'"
	[ "$output" = "t|t" ]
	run sql nbranch "SELECT ret_code, node_type, completed_tick, provider_node, provider_location,
	       worker_name, global_watermark, local_watermark, local_queue_top
	  FROM pgq_node.get_worker_state('q1')"
	[ "$output" = "100|branch|1|root|dbname=nroot|w_branch|1|1|1" ]
	[ "$(sql nroot "SELECT pgq_node.is_root_node('q1'), pgq_node.is_leaf_node('q1')")" = "t|f" ]
	[ "$(sql nleaf "SELECT pgq_node.is_root_node('q1'), pgq_node.is_leaf_node('q1')")" = "f|t" ]
	run sql nroot "SELECT pgq_node.is_root_node('nosuch')"
	[ "$status" -ne 0 ]
	[ "$(call nroot "get_node_info('nosuch')")" = "404|Unknown queue: nosuch" ]
	[ "$(call nroot "get_worker_state('nosuch')")" = "404|Unknown queue: nosuch" ]
	# the provider's view of its subscribers and their PgQ consumers
	[ "$(sql nroot "SELECT * FROM pgq_node.get_subscriber_info('q1')")" = "branch|w_branch|1" ]
	run sql nroot "SELECT consumer_name FROM pgq.get_consumer_info('q1')"
	[ "$output" = "$(printf '.branch.watermark\n.global_watermark\nw_branch')" ]
}

@test "create_node refuses a second node and bad arguments (401)" {
	cascade q2
	[ "$(call nroot "create_node('q2', 'root', 'root', 'w_root', NULL, NULL, NULL)")" = "401|Node already initialized" ]
	ok nroot "register_location('q2x', 'r', 'dbname=nroot', false)"
	[ "$(call nroot "create_node('q2x', 'root', 'r', 'w', 'p', NULL, NULL)")" = "401|unexpected args for root" ]
	[ "$(call nroot "create_node('q2x', 'branch', 'r', 'w', NULL, 1, NULL)")" = "401|provider not set for branch" ]
	[ "$(call nroot "create_node('q2x', 'branch', 'r', 'w', 'r', NULL, NULL)")" = "401|global watermark not set for branch" ]
	[ "$(call nroot "create_node('q2x', 'leaf', 'r', 'w', 'r', 1, 'nosuchq')")" = "401|non-existing queue on leaf side: nosuchq" ]
	[ "$(call nroot "create_node('q2x', 'twig', 'r', 'w', NULL, NULL, NULL)")" = "401|bad node type: twig" ]
	[ "$(sql nroot "SELECT count(*) FROM pgq_node.node_info WHERE queue_name = 'q2x'")" = 0 ]
	# a leaf cannot be subscribed to
	[ "$(call nleaf "register_subscriber('q2', 'x', 'wx', NULL)")" = "401|Cannot subscribe to leaf node" ]
}

@test "the root announces location changes in its queue, other nodes do not" {
	cascade q3
	ok nroot "register_location('q3', 'extra', 'dbname=elsewhere', false)"
	ok nroot "register_location('q3', 'extra', NULL, true)"
	ok nbranch "register_location('q3', 'extra', 'dbname=elsewhere', false)"
	run sql nroot "SELECT node_location, dead FROM pgq_node.get_queue_locations('q3') WHERE node_name = 'extra'"
	[ "$output" = "dbname=elsewhere|t" ]
	[ "$(call nroot "unregister_location('q3', 'extra')")" = "200|Ok" ]
	[ "$(call nroot "unregister_location('q3', 'extra')")" = "301|Location not found: q3/extra" ]
	[ "$(call nroot "unregister_location('q3', 'root')")" = "403|Cannot drop node's own location" ]
	[ "$(call nbranch "unregister_location('q3', 'root')")" = "403|Cannot drop location of node's parent" ]
	run events nroot q3
	[ "${lines[0]}" = "pgq.location-info extra q3 dbname=elsewhere false" ]
	[ "${lines[1]}" = "pgq.location-info extra q3 - true" ]
	[ "${lines[2]}" = "pgq.unregister-location extra q3 - -" ]
	[ "${lines[3]}" = "pgq.unregister-location extra q3 - -" ]
	[ "${#lines[@]}" -eq 4 ]
	run events nbranch q3
	[ -z "$output" ]
	run sql nroot "SELECT node_name || ' ' || node_location || ' ' || dead FROM pgq_node.get_queue_locations('q3')"
	[ "$output" = "$(printf 'branch dbname=nbranch false\nleaf dbname=nleaf false\nroot dbname=nroot false')" ]
}

@test "subscriber watermarks move forward only; global watermark from root down" {
	cascade q4
	for i in 1 2 3; do
		sql nroot "SELECT pgq.insert_event('q4', 't', '$i')" >/dev/null
		tick nroot q4
	done
	top=$(sql nroot "SELECT pgq_node._queue_top('q4')")
	[ "$top" -gt 1 ]
	[ "$(call nroot "set_subscriber_watermark('q4', 'branch', 1)")" = "100|watermark already set" ]
	[ "$(call nroot "set_subscriber_watermark('q4', 'branch', $top)")" = "200|.branch.watermark set to $top" ]
	[ "$(call nroot "set_subscriber_watermark('q4', 'branch', 1)")" = "405|watermark must not be moved backwards" ]
	[[ "$(call nroot "set_subscriber_watermark('q4', 'nosuch', 1)")" == 404\|* ]]
	[ "$(sql nroot "SELECT node_watermark FROM pgq_node.get_subscriber_info('q4')")" = "$top" ]
	# the branch worker still reads from tick 1: the local watermark
	# is the lowest position of any reader
	[ "$(sql nroot "SELECT local_watermark FROM pgq_node.get_node_info('q4')")" = 1 ]
	sql nroot "SELECT pgq.register_consumer_at('q4', 'w_branch', $top)" >/dev/null
	[ "$(sql nroot "SELECT local_watermark FROM pgq_node.get_node_info('q4')")" = "$top" ]
	[ "$(call nroot "set_global_watermark('q4', NULL)")" = "200|Global watermark set to $top" ]
	[ "$(sql nroot "SELECT global_watermark FROM pgq_node.get_node_info('q4')")" = "$top" ]
	[ "$(events nroot q4)" = "pgq.global-watermark $top q4 - -" ]
	# the root's worker position follows
	[ "$(sql nroot "SELECT last_tick_id FROM pgq_node.local_state WHERE queue_name = 'q4' AND consumer_name = 'w_root'")" = "$top" ]
	# a branch moves only to a tick it holds, a leaf ignores it
	[ "$(call nbranch "set_global_watermark('q4', $top)")" = "200|Skipping global watermark update to $top" ]
	[ "$(call nbranch "set_global_watermark('q4', NULL)")" = "500|bad usage: wm=null on branch node" ]
	sql nbranch "SELECT pgq.ticker('q4', $top, now(), 1)" >/dev/null
	[ "$(call nbranch "set_global_watermark('q4', $top)")" = "200|Global watermark set to $top" ]
	[ "$(sql nbranch "SELECT global_watermark FROM pgq_node.get_node_info('q4')")" = "$top" ]
	[ "$(call nleaf "set_global_watermark('q4', $top)")" = "100|Ignoring global watermark in leaf" ]
	# pgq-tick's maintenance round calls it for every node's queue
	[ "$(sql nroot "SELECT count(*) FROM pgq.maint_operations()
	                WHERE func_name = 'pgq_node.maint_watermark' AND func_arg = 'q4'")" = 1 ]
	# maint_watermark publishes again once the watermark tick is 5
	# minutes old (made so here), and only on the root
	sql nroot "UPDATE pgq.tick SET tick_time = tick_time - interval '1 hour'
	           WHERE tick_id = $top AND tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'q4')"
	sql nbranch "UPDATE pgq.tick SET tick_time = tick_time - interval '1 hour'"
	[ "$(sql nbranch "SELECT pgq_node.maint_watermark('q4')")" = 0 ]
	[ "$(events nbranch q4)" = "" ]
	[ "$(sql nroot "SELECT pgq_node.maint_watermark('q4')")" = 0 ]
	[ "$(events nroot q4 | grep -c global-watermark)" = 2 ]
	# unsubscribing drops both PgQ consumers of the subscriber
	[ "$(call nroot "unregister_subscriber('q4', 'branch')")" = "200|Subscriber unregistered: branch" ]
	[ "$(call nroot "unregister_subscriber('q4', 'branch')")" = "304|Subscriber not found" ]
	run sql nroot "SELECT consumer_name FROM pgq.get_consumer_info('q4')"
	[ "$output" = ".global_watermark" ]
}

@test "cascaded consumer state: register, pause, uptodate, completed, error" {
	cascade q5
	[ "$(call nleaf "register_consumer('q5', 'c1', 'branch', 1)")" = "200|Consumer c1 registered on queue q5" ]
	[ "$(call nleaf "register_consumer('q5', 'c1', 'root', 1)")" = "201|Consumer already registered: q5/c1" ]
	[ "$(call nleaf "register_consumer('nosuch', 'c1', 'root', 1)")" = "404|Unknown queue: nosuch" ]
	run sql nleaf "SELECT ret_code, node_type, node_name, completed_tick, provider_node,
	       provider_location, paused, uptodate, cur_error FROM pgq_node.get_consumer_state('q5', 'c1')"
	[ "$output" = "100|leaf|leaf|1|root|dbname=nroot|f|f|" ]
	[ "$(call nleaf "set_consumer_uptodate('q5', 'c1', true)")" = "200|Consumer uptodate = 1" ]
	[ "$(call nleaf "set_consumer_paused('q5', 'c1', true)")" = "200|Consumer c1 tagged as paused" ]
	[ "$(call nleaf "set_consumer_paused('q5', 'c1', true)")" = "201|Consumer c1 already paused" ]
	[ "$(sql nleaf "SELECT paused, uptodate FROM pgq_node.get_consumer_state('q5', 'c1')")" = "t|f" ]
	[ "$(call nleaf "set_consumer_paused('q5', 'c1', false)")" = "200|Consumer c1 tagged as resumed" ]
	[ "$(call nleaf "set_consumer_error('q5', 'c1', 'it broke')")" = "100|Consumer c1 error = it broke" ]
	[ "$(sql nleaf "SELECT cur_error FROM pgq_node.get_consumer_state('q5', 'c1')")" = "it broke" ]
	[ "$(call nleaf "set_consumer_completed('q5', 'c1', 7)")" = "100|Consumer c1 completed tick = 7" ]
	[ "$(sql nleaf "SELECT last_tick_id, cur_error IS NULL FROM pgq_node.get_consumer_info('q5') WHERE consumer_name = 'c1'")" = "7|t" ]
	[ "$(call nleaf "set_consumer_error('q5', 'nosuch', 'x')")" = "101|Consumer not known, ignoring: q5/nosuch" ]
	[ "$(call nleaf "set_consumer_completed('q5', 'nosuch', 1)")" = "404|Consumer not known: q5/nosuch" ]
	[ "$(call nleaf "get_consumer_state('q5', 'nosuch')")" = "404|Unknown consumer: q5/nosuch" ]
	# change_consumer_provider needs a known location and consumer
	sql nleaf "SELECT * FROM pgq_node.set_consumer_uptodate('q5', 'c1', true)" >/dev/null
	[ "$(call nleaf "change_consumer_provider('q5', 'c1', 'nowhere')")" = "404|New node not found: nowhere" ]
	[ "$(call nleaf "change_consumer_provider('q5', 'nosuch', 'branch')")" = "404|Unknown consumer: q5/nosuch" ]
	[ "$(call nleaf "change_consumer_provider('q5', 'c1', 'branch')")" = "200|Consumer provider node set to : branch" ]
	[ "$(sql nleaf "SELECT provider_node, uptodate FROM pgq_node.get_consumer_state('q5', 'c1')")" = "branch|f" ]
	[ "$(call nleaf "unregister_consumer('q5', 'c1')")" = "200|Consumer c1 unregistered from q5" ]
	[ "$(sql nleaf "SELECT count(*) FROM pgq_node.get_consumer_info('q5')")" = 1 ]
	[ "$(call nleaf "set_node_attrs('q5', 'sync_watermark=leaf')")" = "200|Node attributes updated" ]
	[ "$(sql nleaf "SELECT node_attrs FROM pgq_node.get_node_info('q5')")" = "sync_watermark=leaf" ]
	[ "$(call nleaf "set_node_attrs('nosuch', 'x')")" = "404|Node not found" ]
}

@test "consumer and worker state: what each 404 fills in (one lookup serves both)" {
	cascade q11
	ok nleaf "register_consumer('q11', 'c1', 'branch', 1)"
	local cols="ret_code, coalesce(ret_note, '(null)'), node_type, node_name, completed_tick,
		provider_node, provider_location, paused, uptodate, cur_error"
	run sql nleaf "SELECT $cols FROM pgq_node.get_consumer_state('nosuch', 'c1')"
	[ "$output" = "404|Unknown queue: nosuch||||||||" ]
	run sql nleaf "SELECT $cols FROM pgq_node.get_consumer_state('q11', 'nosuch')"
	[ "$output" = "404|Unknown consumer: q11/nosuch|leaf|leaf||||||" ]
	run sql nleaf "SELECT $cols FROM pgq_node.get_consumer_state('q11', NULL)"
	[ "$output" = "404|(null)|leaf|leaf||||||" ]
	# a provider whose location is gone (past the foreign key, which
	# the replica role does not check)
	sql nleaf "SET session_replication_role = replica;
		UPDATE pgq_node.local_state SET provider_node = 'gone' WHERE queue_name = 'q11'"
	run sql nleaf "SELECT $cols FROM pgq_node.get_consumer_state('q11', 'c1')"
	[ "$output" = "404|Unknown provider node: q11/gone|leaf|leaf|1|gone||f|f|" ]
	run sql nleaf "SELECT $cols, worker_name, combined_queue FROM pgq_node.get_worker_state('q11')"
	[ "$output" = "404|Unknown provider node: q11/gone|leaf|leaf|$(sql nleaf "SELECT last_tick_id FROM pgq_node.local_state WHERE queue_name = 'q11' AND consumer_name = 'w_leaf'")|gone||f|f||w_leaf|" ]
	sql nleaf "DELETE FROM pgq_node.local_state WHERE queue_name = 'q11' AND consumer_name = 'w_leaf'"
	run sql nleaf "SELECT $cols FROM pgq_node.get_worker_state('q11')"
	[ "$output" = "404|Unknown consumer: q11/w_leaf|leaf|leaf||||||" ]
	run --separate-stderr sql nleaf "SELECT pgq_node.is_leaf_node('nosuch')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"queue does not exist: nosuch"* ]]
}

@test "switchover: demote_root in three steps, promote_branch, workers follow" {
	cascade q6
	sql nroot "SELECT pgq.insert_event('q6', 't', 'before')" >/dev/null
	[ "$(call nbranch "promote_branch('nosuch')")" = "404|Node not initialized for queue: nosuch" ]
	[ "$(call nroot "promote_branch('q6')")" = "301|Node not branch" ]
	[ "$(call nbranch "demote_root('q6', 1, 'branch')")" = "301|Node not root" ]
	run sql nroot "SELECT * FROM pgq_node.demote_root('q6', 2, 'branch')"
	[[ "$output" == *"steps in wrong order"* ]]
	[ "$(call nroot "demote_root('q6', 1, 'branch')")" = "200|Step 1: Writing disabled for: q6" ]
	run sql nroot "SELECT pgq.insert_event('q6', 't', 'after')"
	[ "$status" -ne 0 ]
	run sql nroot "SELECT ret_code, last_tick FROM pgq_node.demote_root('q6', 2, 'branch')"
	last=${output#200|}
	[ "$last" = "$(sql nroot "SELECT pgq_node._queue_top('q6')")" ]
	# the last tick closes the batch holding the last event
	[ "$(sql nroot "SELECT t.tick_event_seq >= (SELECT ev_id FROM pgq.event_template WHERE ev_data = 'before')
	                FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
	                WHERE q.queue_name = 'q6' AND t.tick_id = $last")" = t ]
	run sql nroot "SELECT * FROM pgq_node.demote_root('q6', 4, 'branch')"
	[[ "$output" == *"incorrect step number"* ]]
	run sql nroot "SELECT ret_code, last_tick FROM pgq_node.demote_root('q6', 3, 'branch')"
	[ "$output" = "200|$last" ]
	run sql nroot "SELECT node_type, provider_node, worker_last_tick, worker_uptodate FROM pgq_node.get_node_info('q6')"
	[ "$output" = "branch|branch|$last|f" ]
	# the branch copied up to the root's last tick, then takes over
	sql nbranch "SELECT pgq.ticker('q6', $last, now(), 1)" >/dev/null
	[ "$(call nbranch "promote_branch('q6')")" = "200|Branch node promoted to root" ]
	run sql nbranch "SELECT node_type, provider_node, provider_location, worker_uptodate FROM pgq_node.get_node_info('q6')"
	[ "$output" = "root|branch|dbname=nbranch|f" ]
	run sql nbranch "SELECT queue_external_ticker, queue_disable_insert FROM pgq.queue WHERE queue_name = 'q6'"
	[ "$output" = "f|f" ]
	# its own ticks continue after the copied ones
	sql nbranch "SELECT pgq.insert_event('q6', 't', 'new root')" >/dev/null
	tick nbranch q6
	[ "$(sql nbranch "SELECT pgq_node._queue_top('q6')")" -gt "$last" ]
	# the old root subscribes to the new one at its last tick
	ok nbranch "register_subscriber('q6', 'root', 'w_root', $last)"
	[ "$(sql nbranch "SELECT last_tick FROM pgq.get_consumer_info('q6', 'w_root')")" = "$last" ]
}

@test "merge leaf: a leaf feeding a combined branch queue, set_partition_watermark" {
	cascade q10
	ok nbranch "register_location('part', 'pn', 'dbname=nbranch', false)"
	ok nbranch "register_location('part', 'pp', 'dbname=nroot', false)"
	ok nbranch "create_node('part', 'leaf', 'pn', 'w_part', 'pp', 1, 'q10')"
	run sql nbranch "SELECT ret_code, node_type, completed_tick, provider_node, combined_queue,
	       combined_type, local_watermark FROM pgq_node.get_worker_state('part')"
	[ "$output" = "100|leaf|1|pp|q10|branch|1" ]
	[ "$(sql nbranch "SELECT combined_queue, combined_type FROM pgq_node.get_node_info('part')")" = "q10|branch" ]
	[ "$(sql nbranch "SELECT target_for FROM pgq_node.get_node_info('q10')")" = "{part}" ]
	[ "$(call nbranch "set_partition_watermark('q10', 'part', 5)")" = "200|Ok" ]
	[ "$(sql nbranch "SELECT last_tick_id FROM pgq_node.get_consumer_info('part')")" = 5 ]
	[ "$(call nbranch "set_partition_watermark('q10', 'nosuch', 5)")" = "201|Part-queue does not exist" ]
	# only a leaf may name a combined queue
	ok nbranch "register_location('part2', 'pn', 'dbname=nbranch', false)"
	run sql nbranch "SELECT * FROM pgq_node.create_node('part2', 'branch', 'pn', 'w', 'pn', 1, 'q10')"
	[ "$status" -ne 0 ]
}

@test "drop_node: a provider is refused, a subscriber forgotten, the own node removed" {
	cascade q7
	[ "$(call nleaf "drop_node('q7', 'branch')")" = "405|Cannot drop provider node: branch" ]
	[ "$(call nbranch "drop_node('q7', 'leaf')")" = "200|Node dropped: leaf" ]
	[ "$(sql nbranch "SELECT count(*) FROM pgq_node.get_subscriber_info('q7')")" = 0 ]
	[ "$(sql nbranch "SELECT count(*) FROM pgq.get_consumer_info('q7') WHERE consumer_name LIKE '%leaf%'")" = 0 ]
	[ "$(sql nbranch "SELECT count(*) FROM pgq_node.get_queue_locations('q7') WHERE node_name = 'leaf'")" = 0 ]
	[ "$(call nleaf "drop_node('q7', 'leaf')")" = "200|Node dropped: leaf" ]
	[ "$(call nleaf "get_node_info('q7')")" = "404|Unknown queue: q7" ]
	[ "$(sql nleaf "SELECT count(*) FROM pgq_node.node_location WHERE queue_name = 'q7'")" = 0 ]
	# the root tells the nodes below that the location is gone
	[ "$(call nroot "drop_node('q7', 'branch')")" = "200|Node dropped: branch" ]
	[ "$(events nroot q7 | tail -n 1)" = "pgq.unregister-location branch q7 - -" ]
	[ "$(call nroot "drop_node('q7', 'root')")" = "200|Node dropped: root" ]
	[ "$(sql nroot "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q7'")" = 0 ]
	[ "$(sql nroot "SELECT count(*) FROM pgq_node.node_location WHERE queue_name = 'q7'")" = 0 ]
	# dropping what is gone cleans up and succeeds
	[ "$(call nroot "drop_node('q7', 'root')")" = "200|Node dropped: root" ]
}

@test "grants: pgq_reader reads and subscribes, pgq_writer keeps positions, only pgq_admin changes the node" {
	cascade q8
	sql nroot "CREATE ROLE nr LOGIN IN ROLE pgq_reader; CREATE ROLE nw LOGIN IN ROLE pgq_writer;
	           CREATE ROLE nadm LOGIN IN ROLE pgq_admin; CREATE ROLE nobody LOGIN" >/dev/null
	as() { local u=$1; shift; psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d nroot -c "$*"; }
	[ "$(as nr "SELECT node_type FROM pgq_node.get_node_info('q8')")" = root ]
	[ "$(as nr "SELECT count(*) FROM pgq_node.get_queue_locations('q8')")" = 3 ]
	[ "$(as nr "SELECT ret_code FROM pgq_node.register_subscriber('q8', 'leaf', 'w_leaf2', NULL)")" = 200 ]
	run as nr "SELECT * FROM pgq_node.set_consumer_completed('q8', 'w_root', 5)"
	[ "$status" -ne 0 ]
	[ "$(as nw "SELECT ret_code FROM pgq_node.set_consumer_completed('q8', 'w_root', 1)")" = 100 ]
	run as nw "SELECT * FROM pgq_node.register_location('q8', 'evil', 'dbname=x', false)"
	[ "$status" -ne 0 ]
	run as nw "UPDATE pgq_node.node_info SET node_type = 'leaf'"
	[ "$status" -ne 0 ]
	[ "$(as nadm "SELECT ret_code FROM pgq_node.set_node_attrs('q8', 'a=1')")" = 200 ]
	[ "$(as nobody "SELECT pgq_node.version()")" = 3.5 ]
	run as nobody "SELECT * FROM pgq_node.get_node_info('q8')"
	[ "$status" -ne 0 ]
}

@test "every function and table column of the original exists here with the same signature" {
	have_debian_pgq_node || skip "Debian's postgresql-*-pgq-node is not installed"
	new_db orig none
	sql orig "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node" >/dev/null
	local fq="SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
	              || pg_get_function_result(p.oid) || ' '
	              || (SELECT coalesce(string_agg(a::text, ',' ORDER BY a::text), '') FROM unnest(p.proacl) a)
	         FROM pg_proc p WHERE p.pronamespace = 'pgq_node'::regnamespace ORDER BY 1"
	local cq="SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
	         FROM information_schema.columns WHERE table_schema = 'pgq_node' ORDER BY 1"
	sql orig "$fq" > "$BATS_TEST_TMPDIR/orig.f"
	sql nroot "$fq" > "$BATS_TEST_TMPDIR/ours.f"
	# ours may have more (helpers), never fewer or different ones
	[ "$(wc -l < "$BATS_TEST_TMPDIR/orig.f")" -ge 30 ]
	LC_ALL=C sort -o "$BATS_TEST_TMPDIR/orig.f" "$BATS_TEST_TMPDIR/orig.f"
	LC_ALL=C sort -o "$BATS_TEST_TMPDIR/ours.f" "$BATS_TEST_TMPDIR/ours.f"
	run env LC_ALL=C comm -23 "$BATS_TEST_TMPDIR/orig.f" "$BATS_TEST_TMPDIR/ours.f"
	[ -z "$output" ] || { echo "missing or different: $output" >&2; false; }
	[ "$(sql orig "$cq")" = "$(sql nroot "$cq")" ]
}

@test "python3-pgq's cascade admin reads our nodes (status, members)" {
	/usr/bin/python3 -c 'import pgq.cascade.admin' 2>/dev/null || skip "python3-pgq is not installed"
	cascade q9
	cat > "$BATS_TEST_TMPDIR/adm.py" <<-'PY'
	import sys
	from pgq.cascade.admin import CascadeAdmin
	CascadeAdmin('cascade_admin', 'db', sys.argv[1:]).start()
	PY
	cat > "$BATS_TEST_TMPDIR/adm.ini" <<-INI
	[cascade_admin]
	job_name = adm
	db = dbname=nbranch
	queue_name = q9
	logfile = $BATS_TEST_TMPDIR/adm.log
	pidfile = $BATS_TEST_TMPDIR/adm.pid
	INI
	run --separate-stderr timeout 60 /usr/bin/python3 "$BATS_TEST_TMPDIR/adm.py" "$BATS_TEST_TMPDIR/adm.ini" status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"Local node: branch"* ]]
	[[ "$output" == *"root (root)"* ]]
	[[ "$output" == *"branch (branch)"* ]]
	[[ "$output" == *"leaf (leaf)"* ]]
	[[ "$output" != *failure* ]]
	run --separate-stderr timeout 60 /usr/bin/python3 "$BATS_TEST_TMPDIR/adm.py" "$BATS_TEST_TMPDIR/adm.ini" members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"leaf "*"False "*"dbname=nleaf"* ]]
	run --separate-stderr timeout 60 /usr/bin/python3 "$BATS_TEST_TMPDIR/adm.py" "$BATS_TEST_TMPDIR/adm.ini" node-info
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"Type: branch"* ]]
	[[ "$output" == *"Provider: root"* ]]
}

@test "the install refuses a database holding the original pgq_node" {
	have_debian_pgq_node || skip "Debian's postgresql-*-pgq-node is not installed"
	new_db origtake none
	sql origtake "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node" >/dev/null
	run --separate-stderr node_install origtake
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"schema pgq_node holds another pgq_node implementation"* ]]
	# nothing of ours went in, the original is whole
	[ "$(sql origtake "SELECT to_regprocedure('pgq_node.skytools_c_version()') IS NULL")" = t ]
	[ "$(sql origtake "SELECT extversion FROM pg_extension WHERE extname = 'pgq_node'")" = 3.5 ]
	[ "$(sql origtake "SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgq_node'::regnamespace")" = 30 ]
	# and without our PgQ underneath it says so
	new_db nopgq none
	run --separate-stderr node_install nopgq
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"needs the PgQ of Skytools in C"* ]]
	[ "$(sql nopgq "SELECT to_regnamespace('pgq_node') IS NULL")" = t ]
}

@test "CREATE EXTENSION pgq_node from build-ext's files: ours, working, dumped with its state" {
	# The system share directory holds Debian's pgq and pgq_node
	# extensions: run a second server from a private copy of the
	# installation (PostgreSQL finds its share directory relative to
	# its executable) that holds ours instead.
	ext_server pgq pgq_node
	grep -q "^requires = 'pgq'" "$EXTDIR/pgq_node.control"
	esql postgres "CREATE DATABASE e"
	esql e "CREATE EXTENSION pgq_node CASCADE"
	run esql e "SELECT extname || ' ' || extversion FROM pg_extension WHERE extname LIKE 'pgq%' ORDER BY 1"
	[ "$output" = "$(printf 'pgq %s\npgq_node %s' "$VERSION" "$VERSION")" ]
	[ "$(esql e "SELECT pgq_node.skytools_c_version() IS NOT NULL, pgq_node.version()")" = "t|3.5" ]
	esql e "SELECT * FROM pgq_node.register_location('xq', 'n', 'dbname=e', false);
	        SELECT * FROM pgq_node.create_node('xq', 'root', 'n', 'w', NULL, NULL, NULL)" >/dev/null
	[ "$(esql e "SELECT node_type FROM pgq_node.get_node_info('xq')")" = root ]
	# the functions belong to the extension, the node state is dumped
	[ "$(esql e "SELECT count(*) FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
	            WHERE x.extname = 'pgq_node' AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'")" -ge 30 ]
	run pg_dump -p 5433 -d e --data-only -t pgq_node.node_info
	[ "$status" -eq 0 ]
	[[ "$output" == *"xq	root	n	w"* ]]
	run esql e "DROP EXTENSION pgq_node"
	[ "$status" -eq 0 ]
	[ "$(esql e "SELECT to_regnamespace('pgq_node') IS NULL")" = t ]
}

@test "the same calls give the same answers here as in Debian's original" {
	have_debian_pgq_node || skip "Debian's postgresql-*-pgq-node is not installed"
	new_db diffours && node_install diffours
	new_db difforig none
	sql difforig "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node" >/dev/null
	# all nodes of the scenario live in one database: the answers, not
	# the connections, are compared.  Two notes differ on purpose (the
	# original loses the queue name from them): only their codes count.
	cat > "$BATS_TEST_TMPDIR/calls.sql" <<-'SQL'
	\set VERBOSITY terse
	SELECT * FROM pgq_node.register_location('dq', 'a', 'dbname=a', false);
	SELECT * FROM pgq_node.register_location('dq', 'b', 'dbname=b', false);
	SELECT * FROM pgq_node.register_location('dq', 'c', 'dbname=c', false);
	SELECT * FROM pgq_node.create_node('dq', 'root', 'a', 'wa', NULL, NULL, NULL);
	SELECT * FROM pgq_node.create_node('dq', 'leaf', 'a', 'wa', 'b', 1, NULL);
	SELECT * FROM pgq_node.register_location('dq', 'd', 'dbname=d', false);
	SELECT * FROM pgq_node.register_location('dq', 'd', NULL, true);
	SELECT * FROM pgq_node.register_location('dq', 'e', NULL, true);
	SELECT * FROM pgq_node.get_queue_locations('dq');
	SELECT * FROM pgq_node.register_subscriber('dq', 'b', 'wb', NULL);
	SELECT * FROM pgq_node.register_subscriber('dq', 'c', 'wc', NULL);
	SELECT * FROM pgq_node.register_subscriber('nq', 'c', 'wc', NULL);
	SELECT * FROM pgq_node.get_subscriber_info('dq');
	SELECT * FROM pgq_node.set_subscriber_watermark('dq', 'b', 1);
	SELECT ret_code FROM pgq_node.set_subscriber_watermark('dq', 'zz', 1);
	SELECT * FROM pgq_node.set_global_watermark('dq', NULL);
	SELECT ret_code FROM pgq_node.set_global_watermark('nq', NULL);
	SELECT * FROM pgq_node.unregister_location('dq', 'd');
	SELECT * FROM pgq_node.unregister_location('dq', 'a');
	SELECT * FROM pgq_node.get_node_info('dq');
	SELECT * FROM pgq_node.get_worker_state('dq');
	SELECT * FROM pgq_node.get_consumer_info('dq');
	SELECT * FROM pgq_node.register_location('lq', 'a', 'dbname=a', false);
	SELECT * FROM pgq_node.register_location('lq', 'b', 'dbname=b', false);
	SELECT * FROM pgq_node.create_node('lq', 'leaf', 'b', 'wlb', 'a', 1, NULL);
	SELECT * FROM pgq_node.get_node_info('lq');
	SELECT * FROM pgq_node.get_worker_state('lq');
	SELECT * FROM pgq_node.get_consumer_state('lq', 'wlb');
	SELECT * FROM pgq_node.register_consumer('lq', 'c2', 'a', 1);
	SELECT * FROM pgq_node.register_consumer('lq', 'c2', 'b', 3);
	SELECT * FROM pgq_node.register_consumer('nq', 'c2', 'b', 3);
	SELECT * FROM pgq_node.set_consumer_paused('lq', 'c2', true);
	SELECT * FROM pgq_node.set_consumer_paused('lq', 'c2', true);
	SELECT * FROM pgq_node.set_consumer_paused('lq', 'c2', false);
	SELECT * FROM pgq_node.set_consumer_paused('lq', 'zz', false);
	SELECT * FROM pgq_node.set_consumer_uptodate('lq', 'c2', true);
	SELECT * FROM pgq_node.set_consumer_uptodate('lq', 'zz', true);
	SELECT * FROM pgq_node.set_consumer_completed('lq', 'c2', 9);
	SELECT * FROM pgq_node.set_consumer_completed('lq', 'zz', 9);
	SELECT * FROM pgq_node.set_consumer_error('lq', 'c2', 'bad');
	SELECT * FROM pgq_node.set_consumer_error('lq', 'c2', NULL);
	SELECT * FROM pgq_node.set_consumer_error('lq', 'zz', 'bad');
	SELECT * FROM pgq_node.change_consumer_provider('lq', 'c2', 'zz');
	SELECT * FROM pgq_node.change_consumer_provider('lq', 'zz', 'a');
	SELECT * FROM pgq_node.change_consumer_provider('lq', 'c2', 'a');
	SELECT * FROM pgq_node.get_consumer_info('lq');
	SELECT * FROM pgq_node.get_consumer_state('lq', 'c2');
	SELECT * FROM pgq_node.get_consumer_state('lq', 'zz');
	SELECT * FROM pgq_node.unregister_consumer('lq', 'c2');
	SELECT * FROM pgq_node.unregister_consumer('nq', 'c2');
	SELECT * FROM pgq_node.set_node_attrs('lq', 'x=1&y=2');
	SELECT * FROM pgq_node.set_node_attrs('nq', 'x=1');
	SELECT pgq_node.is_root_node('dq'), pgq_node.is_leaf_node('dq'),
	       pgq_node.is_root_node('lq'), pgq_node.is_leaf_node('lq');
	SELECT * FROM pgq_node.set_global_watermark('lq', 5);
	SELECT * FROM pgq_node.register_subscriber('lq', 'c', 'wc', NULL);
	SELECT * FROM pgq_node.drop_node('lq', 'a');
	SELECT * FROM pgq_node.drop_node('lq', 'b');
	SELECT * FROM pgq_node.get_node_info('lq');
	SELECT * FROM pgq_node.promote_branch('dq');
	SELECT * FROM pgq_node.demote_root('nq', 1, 'b');
	SELECT * FROM pgq_node.demote_root('dq', 1, 'b');
	SELECT * FROM pgq_node.demote_root('dq', 2, 'b');
	SELECT * FROM pgq_node.demote_root('dq', 3, 'b');
	SELECT * FROM pgq_node.demote_root('dq', 1, 'b');
	SELECT * FROM pgq_node.get_node_info('dq');
	SELECT * FROM pgq_node.get_worker_state('dq');
	SELECT * FROM pgq_node.set_global_watermark('dq', 2);
	SELECT * FROM pgq_node.set_global_watermark('dq', 99);
	SELECT * FROM pgq_node.set_global_watermark('dq', NULL);
	SELECT * FROM pgq_node.promote_branch('dq');
	SELECT * FROM pgq_node.get_node_info('dq');
	SELECT * FROM pgq_node.unregister_subscriber('dq', 'c');
	SELECT * FROM pgq_node.unregister_subscriber('dq', 'c');
	SELECT queue_name, consumer_name, last_tick FROM pgq.get_consumer_info();
	SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3 FROM pgq.event_template ORDER BY ev_id;
	SELECT * FROM pgq_node.drop_node('dq', 'b');
	SELECT * FROM pgq_node.drop_node('dq', 'a');
	SELECT * FROM pgq_node.drop_node('dq', 'a');
	SELECT count(*) FROM pgq_node.node_location;
	SELECT count(*) FROM pgq.queue;
	SQL
	psql -X -d difforig -f "$BATS_TEST_TMPDIR/calls.sql" > "$BATS_TEST_TMPDIR/orig.out" 2>&1
	psql -X -d diffours -f "$BATS_TEST_TMPDIR/calls.sql" > "$BATS_TEST_TMPDIR/ours.out" 2>&1
	[ "$(grep -c ret_code "$BATS_TEST_TMPDIR/orig.out")" -gt 50 ]
	run diff "$BATS_TEST_TMPDIR/orig.out" "$BATS_TEST_TMPDIR/ours.out"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}
