#!/usr/bin/env bats
# londiste(1) [londiste3]: every node name the failover verbs turn into
# a location (given on the command line or read from a node) is known
# and located in the node map, or the verb refuses it with status 2
# before it pauses, demotes or tags anything: an empty location is
# libpq's default database, another database than the node's; the
# worker waits for its provider's location, and status shows a node
# without one as such.  Also resync's note on a branch.  Every node is
# a database of this file's cluster.
#
# The tests share one chain r1 -> b1 -> b2 -> l1 with its workers and
# t1 in sync on every node (shared_tree), built by the first that needs
# it; each one puts back the map entry it broke.  The change-provider
# that moves l1 for good runs last; resurrect has nodes of its own.

load helper
load 25x-cascade

teardown() { shared_tree_teardown r1 b1 b2 l1; }

teardown_file() {
	shared_tree_drop
	pg_stop
}

chain_tree() { shared_tree chain "r1 b1 b2 l1" chain_build; }
chain_build() {
	local n
	for n in r1 b1 b2 l1; do
		new_db $n none && cascade_ini $n || return 1
	done
	londiste "$(ini r1)" create-root r1 &&
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)" &&
	londiste "$(ini b2)" create-branch b2 --provider="$(loc b1)" &&
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b2)" || return 1
	for n in r1 b1 b2 l1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
		londiste "$(ini r1)" add-table t1 || return 1
	for n in b1 b2 l1; do
		wait_for londiste "$(ini $n)" add-table t1 --create &&
			londiste "$(ini $n)" wait-sync || return 1
	done
}

# set_loc NODE NAME LOCATION: NAME's location in NODE's map, by hand.
set_loc() {
	sql "$1" "UPDATE pgq_node.node_location SET node_location = '$3' WHERE node_name = '$2'"
}

# untouched: the chain as chain_build made it: r1 the root taking
# writes, each node reading from the one before, none paused or dead.
untouched() {
	local n
	[ "$(sql r1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ] &&
	[ "$(sql r1 "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = f ] || return 1
	for n in b1:r1 b2:b1 l1:b2; do
		[ "$(sql ${n%:*} "SELECT provider_node || ' ' || worker_paused FROM pgq_node.get_node_info('q')")" = "${n#*:} false" ] ||
			{ echo "${n%:*} moved or paused" >&2; return 1; }
	done
	for n in r1 b1 b2 l1; do
		[ "$(sql $n "SELECT count(*) FROM pgq_node.get_queue_locations('q') WHERE dead")" = 0 ] ||
			{ echo "$n: a node tagged dead" >&2; return 1; }
	done
}

@test "londiste3 switchover, takeover: the new root's provider without a location is refused before the old root is demoted" {
	need_node_mode
	chain_tree
	set_loc r1 b1 ''
	# b2's provider b1, which b2 unsubscribes from once promoted
	for verb in "switchover b2" "takeover r1 --node=b2"; do
		# shellcheck disable=SC2086 # words
		run --separate-stderr londiste "$(ini r1)" $verb
		echo "$verb: $status: $stderr"
		[ "$status" -eq 2 ]
		[ "$stderr" = "londiste: node b1 has no location in the node map" ]
		untouched
	done
	run --separate-stderr londiste "$(ini r1)" switchover nobody
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: unknown node: nobody" ]
	set_loc r1 b1 "$(loc b1)"
}

@test "londiste3 change-provider: the node's own location missing in its map is refused before it is paused" {
	need_node_mode
	chain_tree
	# the location the new provider would register for l1
	set_loc l1 l1 ''
	run --separate-stderr londiste "$(ini r1)" change-provider --node=l1 --provider=b1
	echo "$status: $stderr"
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: node l1 has no location in the node map" ]
	untouched
	[ "$(sql b1 "SELECT node_location FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l1'")" = "$(loc l1)" ]
	set_loc l1 l1 "$(loc l1)"
}

@test "londiste3 tag-dead, tag-alive: a live node without a location is refused before any node is tagged, not told through the default database" {
	need_node_mode
	chain_tree
	set_loc r1 b1 ''
	# the default database is l1's: told there, l1 would read itself dead
	run --separate-stderr env PGDATABASE=l1 londiste "$(ini r1)" tag-dead l1
	echo "$status: $stderr"
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: node b1 has no location in the node map; tag it dead first (tag-dead b1)" ]
	untouched
	# status says so, and asks nobody in its place
	run --separate-stderr env PGDATABASE=l1 londiste "$(ini r1)" status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\nb1 (no location in the node map)\n    b2 (branch)\n'* ]]
	set_loc r1 b1 "$(loc b1)"
	# tag-alive tells the node itself: it needs its location
	set_loc r1 l1 ''
	run --separate-stderr londiste "$(ini r1)" tag-alive l1
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: node l1 has no location in the node map" ]
	set_loc r1 l1 "$(loc l1)"
	untouched
}

@test "londiste3 drop-node: an unknown node, or a live node without a location, is refused before anything is dropped" {
	need_node_mode
	chain_tree
	run --separate-stderr londiste "$(ini r1)" drop-node nobody
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: unknown node: nobody" ]
	set_loc r1 b1 ''
	run --separate-stderr londiste "$(ini r1)" drop-node l1
	echo "$status: $stderr"
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: node b1 has no location in the node map; tag it dead first (tag-dead b1)" ]
	set_loc r1 b1 "$(loc b1)"
	for n in r1 b1 b2 l1; do
		[ "$(sql $n "SELECT count(*) FROM pgq_node.get_queue_locations('q') WHERE node_name = 'l1'")" = 1 ]
	done
	[ "$(sql b2 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 1 ]
	untouched
}

@test "londiste3 resync on a branch: says the table will be copied again, and the worker copies it" {
	need_node_mode
	chain_tree
	sql r1 "INSERT INTO t1 VALUES (1, 'a')"
	wait_for rows_are b1 "1 1"
	# (a write of its own on a branch goes to its queue: as the replay)
	sql b1 "SET session_replication_role = replica; DELETE FROM t1"
	run --separate-stderr londiste "$(ini b1)" resync t1
	[ "$status" -eq 0 ]
	[ "$stderr" = "londiste: public.t1 will be copied again" ]
	wait_for rows_are b1 "1 1"
	londiste "$(ini b1)" wait-sync
	# the root's tables are the source
	run --separate-stderr londiste "$(ini r1)" resync t1
	[ "$status" -eq 2 ]
}

@test "londiste3 worker: a provider without a location in the node's map is waited for, not read from the default database" {
	need_node_mode
	chain_tree
	wait_for no_error b2
	set_loc b2 b1 ''
	# (the monitor sees the location go, and the worker stops)
	wait_for grep -q "the provider b1 of this node has no location in its node map; waiting for one" "$BATS_TEST_TMPDIR/b2.log"
	has_error b2
	sql r1 "INSERT INTO t1 VALUES (100, 'while')"
	# the worker does not read from b1's queue meanwhile, nor from the
	# default database's
	b1_has() { [ "$(sql b1 "SELECT count(*) FROM t1 WHERE id = 100")" = 1 ]; }
	wait_for b1_has
	[ "$(sql b2 "SELECT count(*) FROM t1 WHERE id = 100")" = 0 ]
	set_loc b2 b1 "$(loc b1)"
	wait_for caught_up l1 r1
	[ "$(sql l1 "SELECT count(*) FROM t1 WHERE id = 100")" = 1 ]
	wait_for no_error b2
}

# last on the chain: l1 reads from b1 afterwards
@test "londiste3 change-provider: the old provider is found in the node's own map, where it unsubscribes, not in the default database" {
	need_node_mode
	chain_tree
	# r1, where the command runs, does not know b2
	sql r1 "DELETE FROM pgq_node.node_location WHERE node_name = 'b2'"
	run --separate-stderr env PGDATABASE=b1 londiste "$(ini r1)" change-provider --node=l1 --provider=b1
	echo "$status: $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" != *warning* ]]
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql b2 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 1 ]
	shared_tree_drop
}

@test "londiste3 resurrect: a node without a location is skipped, not asked through the default database" {
	shared_tree_drop
	cascade_tree rz bz
	# rz alive but taken over as dead: bz keeps its gravestone
	londiste "$(ini bz)" takeover rz --dead-root
	[ "$(sql bz "SELECT count(*) FROM pgq.get_consumer_info('q', 'rz.gravestone')")" = 1 ]
	set_loc rz bz ''
	# the default database is bz's, where the gravestone is
	run --separate-stderr env PGDATABASE=bz londiste "$(ini rz)" resurrect --dump="$BATS_TEST_TMPDIR/lost"
	echo "$status: $stderr"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"node bz has no location in the node map: skipped"* ]]
	[[ "$stderr" == *"no node keeps a gravestone (rz.gravestone) of rz"* ]]
	[ "$(sql rz "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ ! -e "$BATS_TEST_TMPDIR/lost" ]
	# located again, it is resurrected
	set_loc rz bz "$(loc bz)"
	run --separate-stderr londiste "$(ini rz)" resurrect --dump="$BATS_TEST_TMPDIR/lost"
	echo "$status: $stderr"
	[ "$status" -eq 0 ]
	[ "$(sql rz "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch bz" ]
}
