#!/usr/bin/env bats
# londiste(1) switchover, takeover and resurrect on a Londiste 3
# cascade spread over three clusters: this file's (b1, l1), the root's
# own (r1, killed in the takeover test) and a third (b2, l2).  A writer
# inserts rows with increasing ids through whichever node is the root;
# at the end every node holds exactly the rows the cascade got.

load helper
load 25x-cascade

setup_file() {
	pg_start || return 1
	fo_cluster rc 5433 && fo_cluster oc 5434
}

# fo_cluster NAME PORT: another cluster beside this file's.  Commits
# are synchronous there so that a row the writer saw committed survives
# an immediate stop.
fo_cluster() {
	extra_cluster "$1" "$2" "synchronous_commit = on" "full_page_writes = off"
}

fo_start() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/$1" -l "$TEST_DIR/server-$1.log" -w -t 60 \
		start >/dev/null || { cat "$TEST_DIR/server-$1.log" >&2; return 1; }
}

teardown() {
	local n
	touch "$BATS_TEST_TMPDIR/stop"
	[ -z "${writer_pid:-}" ] || wait "$writer_pid" || :
	for n in r1 b1 l1 b2 l2 r2 x1 b3 l3; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	# the root's cluster runs again for the next test
	[ -f "$TEST_DIR/rc/postmaster.pid" ] || fo_start rc
	return 0
}

ini() { printf '%s/%s.ini' "$BATS_TEST_TMPDIR" "$1"; }

# Where each node lives: its port.
port() {
	case $1 in
	r1|x1) echo 5433 ;;
	b2|l2) echo 5434 ;;
	*) echo 5432 ;;
	esac
}

floc() { printf 'host=%s port=%s dbname=%s' "$TEST_DIR" "$(port "$1")" "$1"; }

# fsql NODE SQL: sql on the node's cluster.
fsql() {
	local n=$1
	shift
	sql "$(floc "$n")" "$@"
}

# fo_node NODE: a fresh database for NODE on its cluster, table t in
# it, and its config.
fo_node() {
	psql -XAtq -v ON_ERROR_STOP=1 -p "$(port "$1")" -d postgres \
		-c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null || return 1
	fsql "$1" "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null || return 1
	fo_ini "$1"
}

# fo_ini NODE: this test's config of NODE.
fo_ini() {
	cascade_ini "$1"
	sed -i "s/dbname=$1\$/port=$(port "$1") dbname=$1/" "$(ini "$1")"
}

# fo_tree ROOT BRANCH:LEAF...: the cascade, table t replicated on every
# node (the root's trigger; on the others the rows arrive by replay).
fo_tree() {
	local root=$1 p n
	shift
	fo_node "$root" || return 1
	londiste "$(ini "$root")" create-root "$root" || return 1
	fsql "$root" "SELECT ret_code FROM londiste.local_add_table('q', 'public.t')" >/dev/null || return 1
	for p in "$@"; do
		n=${p#*:} p=${p%:*}
		fo_node "$n" || return 1
		if [ "$p" = "$root" ]; then
			londiste "$(ini "$n")" create-branch "$n" --provider="$(floc "$p")" || return 1
		else
			londiste "$(ini "$n")" create-leaf "$n" --provider="$(floc "$p")" || return 1
		fi
		[ "$(fsql "$n" "SELECT ret_code FROM londiste.local_add_table('q', 'public.t', array['expect_sync'])")" = 200 ] ||
			return 1
	done
}

# first_tree: r1 -> b1 -> l1 and r1 -> l2, the tree of the first two
# tests, built by the first of them that runs: the first test only
# reads it (mistakes that change nothing), and no worker ran on it
# before the second starts them.  The second takes it for itself.  A
# tree that is no longer the one built (a failed first test changed
# it) is built again.
first_tree() {
	local n
	if [ -f "$BATS_FILE_TMPDIR/first-tree" ] && first_tree_intact; then
		for n in r1 b1 l1 l2; do fo_ini $n || return 1; done
	else
		fo_tree r1 r1:b1 b1:l1 r1:l2 && touch "$BATS_FILE_TMPDIR/first-tree"
	fi
}

first_tree_intact() {
	local n want
	for n in r1:root:r1 b1:branch:r1 l1:leaf:b1 l2:branch:r1; do
		want=${n#*:}
		[ "$(fsql "${n%%:*}" "SELECT node_type || ':' || coalesce(provider_node, '')
			FROM pgq_node.get_node_info('q')" 2>/dev/null)" = "$want" ] || return 1
	done
	[ "$(fsql r1 "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = f ]
}

# The writer: one row per transaction, ids growing, through the first
# of $WRITE_TO that takes it (only the root does: elsewhere the queue
# refuses the trigger's event); a committed id goes to "written".  An
# id that no node took is not tried again.
writer() {
	local id=0 d
	while [ ! -f "$BATS_TEST_TMPDIR/stop" ]; do
		id=$((id + 1))
		for d in $WRITE_TO; do
			if psql -XAtq -v ON_ERROR_STOP=1 -p "$(port "$d")" -d "$d" \
				-c "INSERT INTO t VALUES ($id, 'v$id')" >/dev/null 2>&1; then
				echo "$id" >>"$BATS_TEST_TMPDIR/written"
				# for a person measuring the pause of writes (never asserted)
				date +"$id %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
				break
			fi
		done
		sleep 0.02
	done
}

writer_start() {
	rm -f "$BATS_TEST_TMPDIR/stop"
	: >"$BATS_TEST_TMPDIR/written"
	writer &
	writer_pid=$!
}

writer_stop() {
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$writer_pid"
	writer_pid=
}

# written_more N: the writer has committed N more rows since this was
# last asked.
written_more() {
	local have
	have=$(wc -l <"$BATS_TEST_TMPDIR/written")
	[ "$have" -ge "$((${seen:-0} + $1))" ] && seen=$have
}

ids() { fsql "$1" "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t"; }
written() { sort -n "$BATS_TEST_TMPDIR/written" | paste -sd, -; }
node_type() { fsql "$1" "SELECT node_type FROM pgq_node.get_node_info('q')"; }
provider() { fsql "$1" "SELECT provider_node FROM pgq_node.get_node_info('q')"; }
top() { fsql "$1" "SELECT last_tick_id FROM pgq.get_queue_info('q')"; }
applied() { fsql "$1" "SELECT worker_last_tick FROM pgq_node.get_node_info('q')"; }

# ticked_past ROOT TICK: the root made a tick after TICK.
ticked_past() { local t; t=$(top "$1"); [ -n "$t" ] && [ "$t" -gt "$2" ]; }

# caught NODE TICK: NODE has applied TICK.
caught() { local t; t=$(applied "$1"); [ -n "$t" ] && [ "$t" -ge "$2" ]; }

# all_caught ROOT NODE...: the nodes have applied a tick the root made
# after every row written so far.  (force_tick answers the tick before
# the one it asks for, which may predate the last rows: waiting for that
# one let a node be compared before it had them.)
all_caught() {
	local root=$1 was want n
	was=$(fsql "$root" "SELECT pgq.force_tick('q')")
	wait_for ticked_past "$root" "$was" || return 1
	want=$(top "$root")
	shift
	for n; do
		wait_for caught "$n" "$want" || return 1
	done
}

need_node_mode() {
	londiste-apply --help | grep -q -- '--node' ||
		skip "londiste-apply has no --node (node mode) in this build"
}

@test "londiste3 failover: usage mistakes exit 2 and change nothing" {
	first_tree
	run --separate-stderr londiste "$(ini b1)" takeover
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"old node is not given"* ]]
	run --separate-stderr londiste "$(ini b1)" takeover nobody
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown node: nobody"* ]]
	run --separate-stderr londiste "$(ini b1)" takeover r1 --bogus
	[ "$status" -eq 2 ]
	run --separate-stderr londiste "$(ini b1)" switchover --bogus
	[ "$status" -eq 2 ]
	# a leaf keeps no queue: it cannot become the root
	run --separate-stderr londiste "$(ini b1)" switchover --target=l1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"only a branch"* ]]
	[ "$(node_type r1)" = root ]
	[ "$(fsql r1 "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = f ]
	run --separate-stderr londiste "$(ini b1)" switchover r1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"is the root already"* ]]
	# resurrect needs a gravestone
	run --separate-stderr londiste "$(ini r1)" resurrect --dump="$BATS_TEST_TMPDIR/d"
	echo "$stderr"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"no node keeps a gravestone"* ]]
	[ "$(node_type r1)" = root ]
	run --separate-stderr londiste "$(ini l1)" resurrect
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"is a leaf"* ]]
}

@test "londiste3 failover: switchover to the branch and back under a steady writer: nothing lost, nothing twice" {
	need_node_mode
	first_tree
	rm "$BATS_FILE_TMPDIR/first-tree"
	for n in r1 b1 l1 l2; do worker_start $n; done
	WRITE_TO="r1 b1"
	writer_start
	wait_for written_more 20
	date +"command start %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	run --separate-stderr londiste "$(ini l1)" switchover --target=b1 --all
	date +"command end %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(node_type b1)" = root ]
	[ "$(node_type r1)" = branch ]
	[ "$(provider r1)" = b1 ]
	# --all: the old root's other subscriber moved too
	[ "$(provider l2)" = b1 ]
	[ "$(provider l1)" = b1 ]
	# writes go on, on the new root only
	wait_for written_more 20
	[ "$(fsql r1 "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = t ]
	date +"command start %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	run --separate-stderr londiste "$(ini r1)" switchover r1 --all
	date +"command end %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(node_type r1)" = root ]
	[ "$(node_type b1)" = branch ]
	[ "$(provider b1)" = r1 ]
	[ "$(provider l1)" = r1 ]
	[ "$(provider l2)" = r1 ]
	wait_for written_more 20
	writer_stop
	all_caught r1 b1 l1 l2
	w=$(written)
	[ -n "$w" ]
	for n in r1 b1 l1 l2; do
		[ "$(ids $n)" = "$w" ] || { echo "node $n differs: $(ids $n) written $w" >&2; false; }
	done
	# the status shows the new tree
	run --separate-stderr londiste "$(ini l2)" status
	[[ "$output" == *$'\nr1 (root)\n'* ]]
}

@test "londiste3 failover: takeover of a killed root; the nodes follow, writes resume; resurrect reports what the dead root kept" {
	need_node_mode
	fo_tree r1 r1:b1 b1:l1 r1:b2 b2:l2
	for n in r1 b1 l1 b2 l2; do worker_start $n; done
	WRITE_TO="r1 b1"
	writer_start
	wait_for written_more 30
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/rc" -m immediate -w stop >/dev/null
	date +"command start %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	run --separate-stderr londiste "$(ini b1)" takeover r1 --dead-root
	date +"command end %s.%N" >>"$BATS_TEST_TMPDIR/written.at"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == "takeover	b1	from	r1	last_tick	"* ]]
	[ "$(node_type b1)" = root ]
	[ "$(provider b2)" = b1 ]
	[ "$(provider l1)" = b1 ]
	[ "$(provider l2)" = b2 ]
	for n in b1 l1 b2 l2; do
		[ "$(fsql $n "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'r1'")" = t ]
	done
	# the gravestone marks where r1's history ends for the cascade
	grave=$(fsql b1 "SELECT last_tick FROM pgq.get_consumer_info('q', 'r1.gravestone')")
	[ -n "$grave" ]
	# writes resume on the new root
	wait_for written_more 20
	writer_stop
	all_caught b1 l1 b2 l2
	b=$(ids b1)
	for n in l1 b2 l2; do
		[ "$(ids $n)" = "$b" ] || { echo "node $n differs" >&2; false; }
	done
	# r1 comes back: the events the cascade never got are written
	# out and leave its queue
	fo_start rc
	# a link planted where the dump's temporary file goes is refused,
	# and nothing is written through it
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/lost.tmp"
	run --separate-stderr londiste "$(ini r1)" resurrect --dump="$BATS_TEST_TMPDIR/lost"
	[ "$status" -eq 2 ]
	[ ! -e "$BATS_TEST_TMPDIR/elsewhere" ]
	rm "$BATS_TEST_TMPDIR/lost.tmp"
	run --separate-stderr londiste "$(ini r1)" resurrect --dump="$BATS_TEST_TMPDIR/lost"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ -f "$BATS_TEST_TMPDIR/lost" ]
	[ "$(node_type r1)" = branch ]
	[ "$(provider r1)" = b1 ]
	[ "$(fsql b1 "SELECT count(*) FROM pgq.get_consumer_info('q', 'r1.gravestone')")" = 0 ]
	lost=$(awk -F '\t' '$1 == "event" && $6 ~ /^I:/ { split($7, kv, "&"); sub(/^id=/, "", kv[1]); print kv[1] }' \
		"$BATS_TEST_TMPDIR/lost" | sort -n | paste -sd, -)
	echo "lost: $lost" >&2
	# nothing the cascade has is reported lost; every committed row is
	# in the cascade or reported
	comm -12 <(tr , '\n' <<<"$b" | sort) <(tr , '\n' <<<"$lost" | sort) | grep -q . && false
	comm -23 <(sort "$BATS_TEST_TMPDIR/written") \
		<( (tr , '\n' <<<"$b"; tr , '\n' <<<"$lost") | sort) | grep -q . && false
	# r1 follows the new root: it gets the rest, once
	londiste "$(ini b1)" tag-alive r1
	londiste "$(ini r1)" resume
	all_caught b1 r1
	want=$( (tr , '\n' <<<"$b"; tr , '\n' <<<"$lost") | grep . | sort -n | paste -sd, -)
	[ "$(ids r1)" = "$want" ]
	# a second resurrect finds no gravestone
	run --separate-stderr londiste "$(ini r1)" resurrect --dump="$BATS_TEST_TMPDIR/lost2"
	[ "$status" -eq 4 ]
}

@test "londiste3 failover: takeover of a dead branch: its subscribers move, nothing lost, nothing twice" {
	need_node_mode
	fo_tree r2 r2:x1 x1:l3 r2:b3
	for n in r2 x1 l3 b3; do worker_start $n; done
	WRITE_TO=r2
	writer_start
	wait_for written_more 20
	# x1 lives in the cluster that dies
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/rc" -m immediate -w stop >/dev/null
	run --separate-stderr londiste "$(ini b3)" takeover x1 --dead-branch
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(provider l3)" = b3 ]
	[ "$(node_type r2)" = root ]
	[ "$(fsql r2 "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'x1'")" = t ]
	wait_for written_more 20
	writer_stop
	all_caught r2 b3 l3
	w=$(written)
	for n in r2 b3 l3; do
		[ "$(ids $n)" = "$w" ] || { echo "node $n differs: $(ids $n) written $w" >&2; false; }
	done
}
