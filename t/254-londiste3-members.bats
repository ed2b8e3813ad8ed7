#!/usr/bin/env bats
# londiste(1) with a [londiste3] config: a root, a branch and leaves
# joining the cascade, members and status, tag-dead and tag-alive,
# drop-node.
# Every node is a database of this file's cluster (t/260 spreads a
# cascade over clusters).  t/250 to t/254 are one family split in files
# that run at once: the helpers they share are in t/25x-cascade.bash.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

@test "londiste3: create-branch and create-leaf join the cascade; members and status show it" {
	cascade_tree r1 b1 l1 l2
	run --separate-stderr londiste "$(ini r1)" members
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | cut -f1,2 | tr '\t\n' ' ')" = "b1 f l1 f l2 f r1 f " ]
	# a new node learns the map of the root; the others learn of it
	# from the root's queue, through their workers
	run --separate-stderr londiste "$(ini l2)" members
	[ "$(printf '%s\n' "$output" | cut -f1,2 | tr '\t\n' ' ')" = "b1 f l1 f l2 f r1 f " ]
	[ "$(sql b1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch r1" ]
	[ "$(sql l2 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "leaf b1" ]
	# the branch keeps a copy of the queue, ticked from above only
	[ "$(sql b1 "SELECT queue_external_ticker AND queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = t ]
	[ "$(sql b1 "SELECT string_agg(node_name, ',' ORDER BY 1) FROM pgq_node.get_subscriber_info('q')")" = "l1,l2" ]
	run --separate-stderr londiste "$(ini l2)" status
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\nr1 (root)\n'* ]]
	[[ "$output" == *$'\n    b1 (branch)\n'* ]]
	[[ "$output" == *$'\n        l1 (leaf)\n'* ]]
	[[ "$output" == *$'\n        l2 (leaf)\n'* ]]
	[[ "$output" == *"Lag: "* ]]
	run --separate-stderr londiste "$(ini b1)" node-status
	[ "$status" -eq 0 ]
	[[ "$output" == "b1 (branch)"* ]]
	[[ "$output" == *"Provider: r1"* ]]
	[[ "$output" == *"Subscribers: l1, l2"* ]]
	# a leaf feeds nobody: no subscriber line
	run --separate-stderr londiste "$(ini l2)" node-status
	[ "$status" -eq 0 ]
	[[ "$output" == "l2 (leaf)"* ]]
	[[ "$output" != *Subscribers* ]]
	# a table the root has not added, or whose add-table has not come
	# down the queue yet (no workers run here): the refusal says which
	for n in r1 b1; do sql $n "CREATE TABLE t9 (id int PRIMARY KEY)"; done
	run --separate-stderr londiste "$(ini b1)" add-table t9
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"public.t9 is not in the set on the provider (add it on the root first"* ]]
	londiste "$(ini r1)" add-table t9
	run --separate-stderr londiste "$(ini b1)" add-table t9
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"does not know table public.t9 yet"*"'londiste $(ini b1) wait-root' returns once it has"* ]]
	# remove-table says what it did, as londiste 3; a refusal names the
	# table without the function's code
	run --separate-stderr londiste "$(ini r1)" remove-table t9
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"Table removed: public.t9"* ]]
	run --separate-stderr londiste "$(ini r1)" remove-table t9
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: remove-table: Table not found: public.t9" ]
	# a second node of the same name is refused, nothing changes
	new_db l3 none
	cascade_ini l3
	run --separate-stderr londiste "$(ini l3)" create-leaf l1 --provider="$(loc b1)"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"node l1 already exists"* ]]
	[ "$(sql l3 "SELECT count(*) FROM pgq_node.node_info")" = 0 ]
	# a leaf feeds nobody
	run --separate-stderr londiste "$(ini l3)" create-leaf l3 --provider="$(loc l1)"
	[ "$status" -eq 2 ]
	# without a provider
	run --separate-stderr londiste "$(ini l3)" create-leaf l3
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--provider"* ]]
	# initial_provider_location does as --provider
	cascade_ini l3 "initial_provider_location=$(loc b1)"
	londiste "$(ini l3)" create-leaf l3
	[ "$(sql r1 "SELECT count(*) FROM pgq_node.get_queue_locations('q')")" = 5 ]
}

@test "londiste3: tag-dead and tag-alive reach every live node" {
	cascade_tree r1 b1 l1 l2
	londiste "$(ini r1)" tag-dead l2
	# l1 learns of l2 from the root's queue once its worker runs
	for n in r1 b1; do
		[ "$(sql $n "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l2'")" = t ]
	done
	# the dead node itself is not told
	[ "$(sql l2 "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l2'")" = f ]
	run --separate-stderr londiste "$(ini r1)" status
	[[ "$output" == *"l2 (dead)"* ]]
	londiste "$(ini r1)" tag-alive l2
	for n in r1 b1 l2; do
		[ "$(sql $n "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l2'")" = f ]
	done
	run --separate-stderr londiste "$(ini r1)" tag-dead nobody
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown node: nobody"* ]]
}

@test "londiste3: drop-node removes a leaf everywhere; a node with subscribers is refused" {
	cascade_tree r1 b1 l1 l2
	run --separate-stderr londiste "$(ini r1)" drop-node b1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"still has subscribers"* ]]
	londiste "$(ini r1)" drop-node l2
	for n in r1 b1 l1; do
		[ "$(sql $n "SELECT count(*) FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l2'")" = 0 ]
	done
	[ "$(sql l2 "SELECT count(*) FROM pgq_node.node_info")" = 0 ]
	[ "$(sql b1 "SELECT count(*) FROM pgq.get_consumer_info('q') WHERE consumer_name IN ('l2_w', '.l2.watermark')")" = 0 ]
}

# With ticker = external (the default) and no pgqd, every lag grows and
# status says why once the root's queue has gone three idle periods
# without a tick, as the Skytools 2 form's status does.
@test "londiste3 status: a root queue without ticks is named, with where a ticker comes from" {
	cascade_tree r1 b1
	run --separate-stderr londiste "$(ini b1)" status
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"no tick"* ]] || false
	# three idle periods of 1 s (and 2 s) pass without a tick
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	wait_for sh -c "londiste '$(ini b1)' status 2>&1 >/dev/null | grep -q 'no tick on the root.s queue q'"
	run --separate-stderr londiste "$(ini b1)" status
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"is a ticker running on r1 (ticker = internal in its config, or pgqd)?"* ]]
	# a tick clears it
	sql r1 "SELECT pgq.ticker('q')" >/dev/null
	run --separate-stderr londiste "$(ini b1)" status
	[[ "$stderr" != *"no tick"* ]] || false
}
