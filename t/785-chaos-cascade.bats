#!/usr/bin/env bats
# A Londiste 3 cascade under fire: root -> branch -> leaf, each node in a
# cluster of its own, a writer inserting (unique, increasing ids),
# updating and deleting on the root while, round after round, one of
# these strikes at a random instant: SIGKILL of one stage of the
# branch's or the leaf's pipeline (pgq-next-batch, pgq-events,
# londiste-apply, pgq-finish-batch), of a node's supervisor alone (its
# watchdog ends the rest, a new one starts at once), of the root's
# ticker, of a whole worker (everything it started, as a kill of its
# process group), or of a whole cluster (pg_ctl -m immediate, then
# started again).  The supervisors recover by themselves; the test only
# starts a worker again once it is gone (and fails if one stopped for
# good).  Halfway, table t2 joins the set and is copied to the branch
# and the leaf under the same fire.  At the end every node holds
# exactly the root's rows, and the branch's queue holds each event of
# the root's once: no batch was applied twice, none lost.
# CHAOS_ROUNDS rounds (10; `make chaos` runs 200).

load helper
load 25x-cascade

ROUNDS=${CHAOS_ROUNDS:-10}
NODES="r1 b1 l1"

# Each worker is started with a mark of its own, inherited by all it
# starts: its forks, stages, ticker and psql.
MARK="t785-$$"

teardown() {
	local n p
	touch "$BATS_TEST_TMPDIR/stop"
	[ -f "$BATS_TEST_TMPDIR/writer.pid" ] &&
		wait "$(cat "$BATS_TEST_TMPDIR/writer.pid")" 2>/dev/null
	[ -f "$BATS_TEST_TMPDIR/t2.pid" ] &&
		kill "$(cat "$BATS_TEST_TMPDIR/t2.pid")" 2>/dev/null
	for n in $NODES; do
		for p in $(marked_pids "$MARK-$n"); do kill -9 "$p" 2>/dev/null || :; done
	done
	return 0
}

# Node NODE's cluster: its data directory, port and server log.
cluster_dir() { case $1 in r1) echo "$TEST_PGDATA" ;; *) echo "$TEST_DIR/$1c" ;; esac; }
port_of() { case $1 in r1) echo 5432 ;; b1) echo 5433 ;; l1) echo 5434 ;; esac; }
cluster_log() { case $1 in r1) echo "$TEST_DIR/server.log" ;; *) echo "$TEST_DIR/server-$1c.log" ;; esac; }
nloc() { printf 'host=%s port=%s dbname=%s' "$TEST_DIR" "$(port_of "$1")" "$1"; }
nsql() {
	local n=$1
	shift
	psql -XAtq -v ON_ERROR_STOP=1 -d "$(nloc "$n")" -c "$*"
}
ini() { printf '%s/%s.ini' "$BATS_TEST_TMPDIR" "$1"; }

kill_cluster() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$(cluster_dir "$1")" -m immediate -w stop >/dev/null
	as_pg "$TEST_PGBIN/pg_ctl" -D "$(cluster_dir "$1")" -l "$(cluster_log "$1")" \
		-w -t 60 start >/dev/null
}

# programs_of NODE PROGRAM...: the pids of the node's worker's processes
# that run one of the PROGRAMs (exec'd, so argv[0] names them), read
# with the shell's built-ins: marked_pids with a name forks twice for
# each process it looks at, seconds on a busy machine.
programs_of() {
	local n=$1 p a
	shift
	for p in $(marked_pids "$MARK-$n"); do
		IFS= read -r -d '' a 2>/dev/null <"/proc/$p/cmdline" || continue
		case " $* " in *" ${a##*/} "*) echo "$p" ;; esac
	done
}

# The pipeline's stages of node NODE (a branch or leaf).
stage_pids() { programs_of "$1" pgq-next-batch pgq-events londiste-apply pgq-finish-batch; }

# worker_pid NODE: the pid of the node's supervisor while it lives.  A
# process killed a moment ago may linger as a zombie (kill -0 still
# finds it) until init reaps it: that one is gone already.
worker_pid() {
	local p st
	p=$(cat "$BATS_TEST_TMPDIR/$1.pid" 2>/dev/null) && [ -n "$p" ] || return 1
	st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ] && echo "$p"
}

# ensure_running NODE: start the node's worker again once the old one
# is gone (its supervisor: what is left of it, its watchdog ends), as
# an init system would.
ensure_running() {
	worker_pid "$1" >/dev/null && return 0
	echo "$(date +%T.%N) starting the worker of $1" >>"$BATS_TEST_TMPDIR/rounds"
	SKYTOOLS_TEST_MARK=$MARK-$1 londiste "$(ini "$1")" worker -d 2>>"$BATS_TEST_TMPDIR/start.log" ||
		echo "worker -d of $1 failed with $?" >>"$BATS_TEST_TMPDIR/start.log"
}
ensure_all() {
	local n
	for n in $NODES; do ensure_running $n; done
}

# writer: each transaction appends 20 rows to log (n from the rowno
# sequence: a row applied twice stops the worker with a duplicate key,
# which the logs show) and inserts, updates and deletes rows of t1.
# Failures (the root's cluster down) are ignored: what was not
# committed is not expected anywhere.
writer() {
	(
		i=1
		while [ ! -f "$BATS_TEST_TMPDIR/stop" ]; do
			psql -XAq -d "$(nloc r1)" -c "BEGIN;
				INSERT INTO log SELECT n, n, 'r' || n FROM (SELECT nextval('rowno') n FROM generate_series(1, 20)) s;
				INSERT INTO t1 SELECT g, 'w', currval('rowno') FROM generate_series($i, $i + 9) g;
				UPDATE t1 SET v = 'u', n = currval('rowno') WHERE id = $i - 7;
				DELETE FROM t1 WHERE id = $i - 13;
				COMMIT;" >/dev/null 2>&1 || sleep 0.1
			# steady, not all the CPU there is (t/25x-cascade.bash)
			sleep 0.02
			[ ! -f "$BATS_TEST_TMPDIR/t2.on" ] ||
				psql -XAq -d "$(nloc r1)" -c "INSERT INTO t2 VALUES ($i + 1000, 'w');
					UPDATE t2 SET v = 'u' WHERE id = $i + 993;
					DELETE FROM t2 WHERE id = $i + 987" >/dev/null 2>&1 || :
			i=$((i + 10))
		done
	) &
	echo $! >"$BATS_TEST_TMPDIR/writer.pid"
}

# add_t2: halfway through, table t2 joins the set on the root and is
# added (--create) on the branch and the leaf, each step tried again
# while a cluster is down; the copies run under fire.  The writer fills
# t2 from the moment it is in the set on the root.
add_t2() {
	local n k
	for n in r1 b1 l1; do
		k=0
		until case $n in
			r1) nsql r1 "CREATE TABLE IF NOT EXISTS t2 (id int PRIMARY KEY, v text);
				INSERT INTO t2 SELECT g, 'pre' FROM generate_series(1, 500) g ON CONFLICT DO NOTHING" \
				>/dev/null 2>&1 && londiste "$(ini r1)" add-table t2 ;;
			*) londiste "$(ini $n)" add-table t2 --create ;;
			esac >>"$BATS_TEST_TMPDIR/t2.log" 2>&1; do
			k=$((k + 1))
			[ $k -lt 600 ] || return 1
			sleep 0.2
		done
		[ $n != r1 ] || touch "$BATS_TEST_TMPDIR/t2.on"
	done
}

dump_rows() { psql -XAtq -d "$(nloc "$1")" -c "COPY (SELECT * FROM $2 ORDER BY 1) TO STDOUT"; }

# has_end NODE: the row the root wrote last has reached NODE (workers
# killed in the last round are started again meanwhile).
has_end() {
	ensure_all
	[ "$(nsql "$1" "SELECT v FROM t1 WHERE id = -5000" 2>/dev/null)" = end ]
}

synced() {
	ensure_all
	londiste "$(ini "$1")" tables 2>/dev/null | awk '$2 != "ok" { bad = 1 } END { exit bad || NR != 3 }'
}

# A node's last applied tick, and the root's newest.
node_tick_of() { nsql "$1" "SELECT last_tick_id FROM pgq_node.local_state WHERE queue_name = 'q' AND consumer_name = '$1_w'"; }
root_newest() { nsql r1 "SELECT max(tick_id) FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'q'"; }
caught_up_with() {
	local have
	ensure_all
	have=$(node_tick_of "$1" 2>/dev/null)
	[ -n "$have" ] && [ "$have" -ge "$2" ]
}

# The events of queue q on NODE with ev_id above FROM, one line each;
# with TICK only those of the ticks up to it.
queue_events() {
	local n=$1 from=$2 tick=${3:-} pfx
	pfx=$(nsql "$n" "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'") || return 1
	if [ -n "$tick" ]; then
		nsql "$n" "COPY (SELECT ev_id, ev_type, ev_data, ev_extra1 FROM $pfx e, pgq.tick t, pgq.queue q
			WHERE q.queue_name = 'q' AND t.tick_queue = q.queue_id AND t.tick_id = $tick
			AND e.ev_id > $from AND txid_visible_in_snapshot(e.ev_txid, t.tick_snapshot)
			ORDER BY 1) TO STDOUT"
	else
		nsql "$n" "COPY (SELECT ev_id, ev_type, ev_data, ev_extra1 FROM $pfx
			WHERE ev_id > $from ORDER BY 1) TO STDOUT"
	fi
}

@test "cascade under fire: $ROUNDS rounds, every node holds exactly the root's rows, each batch applied once" {
	londiste-apply --help | grep -q -- '--node' ||
		skip "londiste-apply has no --node (node mode) in this build"
	# Durable commits: a node that lost a commit in a crash would have
	# told its provider a batch was done that it no longer holds.
	sql postgres "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
	second_cluster b1c 5433
	second_cluster l1c 5434
	for n in $NODES; do
		psql -XAtq -d "host=$TEST_DIR port=$(port_of $n) dbname=postgres" -c "CREATE DATABASE $n" >/dev/null
		cascade_ini $n "db=$(nloc $n)" "public_node_location=$(nloc $n)"
	done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$(nloc r1)"
	londiste "$(ini l1)" create-leaf l1 --provider="$(nloc b1)"
	nsql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text, n bigint)"
	nsql r1 "CREATE TABLE log (id bigint PRIMARY KEY, n bigint NOT NULL, v text)"
	nsql r1 "CREATE SEQUENCE rowno"
	nsql r1 "INSERT INTO t1 SELECT g, 'pre', 0 FROM generate_series(-1000, 0) g"
	# The root ticks at least every half second: a copy from the branch
	# waits for a tick of the root to come down (londiste.force_tick),
	# which an idle root makes only every ticker_idle_period (a minute
	# by default).
	nsql r1 "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0.2')" >/dev/null
	nsql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0.5')" >/dev/null
	londiste "$(ini r1)" add-table t1 log
	ensure_all
	for n in b1 l1; do
		wait_for londiste "$(ini $n)" add-table t1 log --create
	done
	for n in b1 l1; do londiste "$(ini $n)" wait-sync; done
	# the branch's queue is compared with the root's from here on
	from_ev=$(nsql r1 "SELECT coalesce(max(ev_id), 0) FROM $(nsql r1 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'")")
	writer
	declare -A did=()
	for r in $(seq 1 "$ROUNDS"); do
		sleep "0.$((RANDOM % 10))"
		if [ "$r" -eq $(((ROUNDS + 1) / 2)) ]; then
			# (its status in a file: after 200 rounds of restarts
			# bash may no longer hold it for a wait)
			{ add_t2; echo $? >"$BATS_TEST_TMPDIR/t2.status"; } &
			echo $! >"$BATS_TEST_TMPDIR/t2.pid"
		fi
		act=$((RANDOM % 7))
		echo "$(date +%T.%N) round $r: action $act" >>"$BATS_TEST_TMPDIR/rounds"
		case $act in
		0|1)	n=$(shuf -n 1 -e b1 l1)
			p=$(stage_pids $n | shuf -n 1)
			[ -n "$p" ] && kill -9 "$p" 2>/dev/null || :
			what="kill stage" ;;
		2)	n=$(shuf -n 1 -e $NODES)
			p=$(worker_pid $n) && kill -9 "$p" 2>/dev/null || :
			what="kill supervisor" ;;
		3)	for p in $(programs_of r1 pgq-tick); do kill -9 "$p" 2>/dev/null || :; done
			what="kill ticker" ;;
		4)	n=$(shuf -n 1 -e $NODES)
			for p in $(marked_pids "$MARK-$n"); do kill -9 "$p" 2>/dev/null || :; done
			what="kill worker" ;;
		5|6)	n=$(shuf -n 1 -e $NODES)
			kill_cluster $n
			what="kill cluster" ;;
		esac
		did[$what]=$(( ${did[$what]:-0} + 1 ))
		echo "$(date +%T.%N) round $r: $what${n:+ ($n)}" >>"$BATS_TEST_TMPDIR/rounds"
		n=
		ensure_all
	done
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$(cat "$BATS_TEST_TMPDIR/writer.pid")"
	ensure_all
	wait "$(cat "$BATS_TEST_TMPDIR/t2.pid")" 2>/dev/null || :
	for k in 1 2 3; do wait_for test -s "$BATS_TEST_TMPDIR/t2.status" && break; done
	[ "$(cat "$BATS_TEST_TMPDIR/t2.status")" = 0 ] || { cat "$BATS_TEST_TMPDIR/t2.log"; false; }
	for n in b1 l1; do
		for k in 1 2 3 4 5; do wait_for synced $n && break; done
	done
	nsql r1 "INSERT INTO t1 VALUES (-5000, 'end', 0)"
	# Converged: the last row everywhere, then every node at the
	# root's newest tick (the delay between restarts may have grown to
	# a minute while a cluster was down).
	for n in b1 l1; do
		for k in 1 2 3 4 5; do wait_for has_end $n && break; done
		has_end $n
	done
	top=$(root_newest)
	for n in b1 l1; do
		for k in 1 2 3; do wait_for caught_up_with $n "$top" && break; done
		caught_up_with $n "$top"
	done
	# every node holds exactly the root's rows
	bad=0
	for t in t1 log t2; do
		dump_rows r1 $t >"$BATS_TEST_TMPDIR/r1.rows.$t"
		for n in b1 l1; do
			dump_rows $n $t >"$BATS_TEST_TMPDIR/$n.rows.$t"
			cmp -s "$BATS_TEST_TMPDIR/r1.rows.$t" "$BATS_TEST_TMPDIR/$n.rows.$t" || {
				echo "$t on $n differs from the root's:"
				diff "$BATS_TEST_TMPDIR/r1.rows.$t" "$BATS_TEST_TMPDIR/$n.rows.$t" | head -20
				bad=$((bad + 1))
			}
		done
	done
	# (comm wants the lines in sort's order, not the numbers')
	cut -f1 "$BATS_TEST_TMPDIR/r1.rows.log" | sort >"$BATS_TEST_TMPDIR/r1.n"
	lost=0 dup=0
	for n in b1 l1; do
		cut -f1 "$BATS_TEST_TMPDIR/$n.rows.log" | sort >"$BATS_TEST_TMPDIR/$n.n"
		lost=$((lost + $(comm -23 "$BATS_TEST_TMPDIR/r1.n" "$BATS_TEST_TMPDIR/$n.n" | wc -l)))
		dup=$((dup + $(grep -c 'duplicate key' "$BATS_TEST_TMPDIR/$n.log" || :)))
	done
	# the branch's queue: each event of the root's once, and no other
	# (both up to the same tick: the root's worker still adds a
	# global-watermark event now and then, and b1 may apply it between
	# the two reads; b1's queue has the root's ticks, by their ids)
	b1tick=$(node_tick_of b1)
	queue_events r1 "$from_ev" "$b1tick" | sort >"$BATS_TEST_TMPDIR/r1.ev"
	queue_events b1 "$from_ev" "$b1tick" | sort >"$BATS_TEST_TMPDIR/b1.ev"
	evdup=$(cut -f1 "$BATS_TEST_TMPDIR/b1.ev" | uniq -d | wc -l)
	evlost=$(comm -23 "$BATS_TEST_TMPDIR/r1.ev" "$BATS_TEST_TMPDIR/b1.ev" | wc -l)
	evextra=$(comm -13 "$BATS_TEST_TMPDIR/r1.ev" "$BATS_TEST_TMPDIR/b1.ev" | wc -l)
	# a worker that stopped for good (a status 2 or 4) needed the test
	# to start it again: the supervisor alone would not have recovered
	stopped=$(cat "$BATS_TEST_TMPDIR"/r1.log "$BATS_TEST_TMPDIR"/b1.log "$BATS_TEST_TMPDIR"/l1.log |
		grep -c 'worker stopped: ' || :)
	grep -h 'worker stopped: ' "$BATS_TEST_TMPDIR"/[rbl]1.log || :
	rows=$(wc -l <"$BATS_TEST_TMPDIR/r1.n")
	summary="chaos cascade: $ROUNDS rounds ($(for k in "${!did[@]}"; do printf '%s %s, ' "$k" "${did[$k]}"; done | sed 's/, $//')); log rows $rows, t1 rows $(wc -l <"$BATS_TEST_TMPDIR/r1.rows.t1"), t2 rows $(wc -l <"$BATS_TEST_TMPDIR/r1.rows.t2"), root events $(wc -l <"$BATS_TEST_TMPDIR/r1.ev"); tables differing $bad, lost $lost, duplicated $dup, branch queue: lost $evlost, extra $evextra, twice $evdup; workers stopped for good $stopped"
	echo "$summary" | tee "$BATS_TEST_TMPDIR/summary" >&3
	[ "$rows" -gt 0 ]
	[ "$bad" -eq 0 ]
	[ "$lost" -eq 0 ]
	[ "$dup" -eq 0 ]
	[ "$evlost" -eq 0 ]
	[ "$evextra" -eq 0 ]
	[ "$evdup" -eq 0 ]
	[ "$stopped" -eq 0 ]
}

# What the chaos found: add-table --create tried again after the table
# was made but before it was registered (the node's cluster went down
# in between) looked for the table with the session's empty
# search_path, missed it, and failed with "already exists" forever.
@test "cascade: add-table --create again, the table made already by an attempt that failed, registers it" {
	londiste-apply --help | grep -q -- '--node' ||
		skip "londiste-apply has no --node (node mode) in this build"
	cascade_tree r1 b1
	sql r1 "CREATE TABLE t2 (id int PRIMARY KEY, v text)"
	londiste "$BATS_TEST_TMPDIR/r1.ini" add-table t2
	SKYTOOLS_TEST_MARK=$MARK-r1 londiste "$BATS_TEST_TMPDIR/r1.ini" worker -d
	SKYTOOLS_TEST_MARK=$MARK-b1 londiste "$BATS_TEST_TMPDIR/b1.ini" worker -d
	in_set() { [ "$(sql b1 "SELECT count(*) FROM londiste.table_info WHERE table_name = 'public.t2'")" = 1 ]; }
	wait_for in_set
	# the half a first attempt left
	sql b1 "CREATE TABLE t2 (id int PRIMARY KEY, v text)"
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/b1.ini" add-table t2 --create
	[ "$status" -eq 0 ]
	[ "$(sql b1 "SELECT local FROM londiste.table_info WHERE table_name = 'public.t2'")" = t ]
	worker_stop b1
	worker_stop r1
}

# What the chaos found: a supervisor killed and started again at once
# runs a second pipeline beside what is left of the first until its
# watchdog ends it; the old one may finish the batch the new one is
# reading.  That batch, named by the stream, is gone for a moment's
# reason: status 3 (a restart reads the next one), not 2, which
# stopped the worker for good.
@test "cascade: pgq-events given a batch by the stream that was finished meanwhile exits 3" {
	new_db ev1
	make_queue ev1 q c
	sql ev1 "SELECT pgq.insert_event('q', 'x', 'y')" >/dev/null
	tick ev1 q
	pgq-next-batch -d ev1 q c >"$BATS_TEST_TMPDIR/b"
	grep -q "^batch	" "$BATS_TEST_TMPDIR/b"
	id=$(sql ev1 "SELECT current_batch FROM pgq.get_consumer_info('q', 'c')")
	sql ev1 "SELECT pgq.finish_batch($id)" >/dev/null
	run --separate-stderr pgq-events -d ev1 <"$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"batch $id: already finished"*"pgq-next-batch gives the next one"* ]]
	# named on the command line, an unknown batch stays a usage error
	run --separate-stderr pgq-events -d ev1 "$id"
	[ "$status" -eq 2 ]
}
