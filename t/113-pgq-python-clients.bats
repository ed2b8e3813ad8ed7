#!/usr/bin/env bats
# Interop: the client classes of Debian's python3-pgq beyond the plain
# Consumer (t/111) against our PgQ: the producer helpers,
# RemoteConsumer, SerialConsumer, LocalConsumer, CoopConsumer (our
# pgq_coop), and CascadedConsumer / CascadedWorker on a root -> branch
# of our pgq_node.  Where Debian's PgQ (and pgq_node) is installed, the
# same script runs on it too and must give the same result.  Driver:
# t/py-clients.py.
#
# RemoteConsumer and SerialConsumer keep their position in the target
# database with pgq_ext, which Debian does not package: the targets get
# ours (sql/pgq_ext; t/114).

load helper

setup_file() {
	/usr/bin/python3 -c 'import pgq, pgq.cascade.worker' 2>/dev/null || {
		export SKIP_FILE="python3-pgq is not installed"
		return 0
	}
	pg_start
}

setup() { skip_file; }

conn() { echo "host=$PGHOST port=$PGPORT user=postgres dbname=$1"; }

# py MODE ARGS: run the driver; its last words on stderr when it fails
py() {
	local rc=0
	# its job files (tempfile) go where bats removes them
	TMPDIR=$BATS_TEST_TMPDIR /usr/bin/python3 "$BATS_TEST_DIRNAME/py-clients.py" "$@" \
		2>"$TEST_DIR/py.err" || rc=$?
	cat "$TEST_DIR/py.err" >>"$TEST_DIR/py.log"
	[ "$rc" -eq 0 ] || tail -n 3 "$TEST_DIR/py.err" >&2
	return "$rc"
}

# flavours: ours, and debian where Debian's PgQ is installed
# (TEST_PGQ_FLAVOURS overrides while developing)
flavours() {
	if [ -n "${TEST_PGQ_FLAVOURS:-}" ]; then echo "$TEST_PGQ_FLAVOURS"
	elif have_debian_pgq; then echo ours debian; else echo ours; fi
}

# A target database: t_applied, and our pgq_ext (sql/pgq_ext), where
# RemoteConsumer and SerialConsumer keep their completed batch and tick.
target_db() {
	new_db "$1" none &&
	sql "$1" "CREATE TABLE t_applied (consumer text, ev_id bigint, ev_type text, ev_data text)" &&
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/pgq_ext.sql" >/dev/null
}

# events DB QUEUE N FIRST: N events "eFIRST".."e(FIRST+N-1)", then a tick
events() {
	sql "$1" "SELECT pgq.insert_event('$2', 'ev', 'e' || i) FROM generate_series($4, $4 + $3 - 1) i" >/dev/null &&
	tick "$1" "$2"
}

# applied DB CONSUMER: "count distinct" of the consumer's rows in t_applied
applied() {
	sql "$1" "SELECT count(*) || ' ' || count(DISTINCT ev_data) FROM t_applied WHERE consumer = '$2'"
}

@test "producer helpers: insert_event and bulk_insert_events, the same events as on Debian's PgQ" {
	local f
	for f in $(flavours); do
		new_db "prod_$f" "$f"
		sql "prod_$f" "SELECT pgq.create_queue('pq'); SELECT pgq.register_consumer('pq', 'c')" >/dev/null
		py produce "$(conn "prod_$f")" pq
		tick "prod_$f" pq
		sql "prod_$f" "SELECT ev_type || '|' || replace(coalesce(ev_data, '<null>'), E'\\n', '<nl>') || '|' || coalesce(ev_extra1, '<null>')
		         || '|' || coalesce(ev_extra2, '<null>') || '|' || coalesce(ev_extra3, '<null>')
		         || '|' || coalesce(ev_extra4, '<null>') || '|' || (ev_txid IS NOT NULL)
		         || '|' || ((ev_time = '2026-01-02 03:04:05+00') = (ev_type LIKE 'bulk-%')) || '|' || (ev_retry IS NULL)
		         FROM pgq.get_batch_events(pgq.next_batch('pq', 'c')) ORDER BY ev_id" >"$TEST_DIR/prod.$f"
		# one transaction: one txid
		run sql "prod_$f" "SELECT count(DISTINCT ev_txid) || ' ' || count(DISTINCT ev_id) || ' ' || count(*)
		         FROM pgq.get_batch_events(pgq.next_batch('pq', 'c'))"
		[ "$output" = "1 9 9" ]
	done
	cat "$TEST_DIR/prod.ours"
	[ "$(wc -l <"$TEST_DIR/prod.ours")" -eq 9 ]
	grep -qx 'extras|c=%C3%A4%C3%B6|public.t|e2|e3|e4|true|true|true' "$TEST_DIR/prod.ours"
	grep -qx 'bulk-nulldata|<null>|x1|<null>|<null>|x4|true|true|true' "$TEST_DIR/prod.ours"
	grep -qx 'bulk-dict|d|<null>|<null>|<null>|<null>|true|true|true' "$TEST_DIR/prod.ours"
	[ "$(grep -c '|has	tab and<nl>newline|' "$TEST_DIR/prod.ours")" -eq 2 ]
	if have_debian_pgq; then cmp "$TEST_DIR/prod.ours" "$TEST_DIR/prod.debian"; fi
}

# remote_serial MODE FLAVOUR: MODE (remote or serial) reads a queue of
# FLAVOUR's PgQ into a target, dies once between the target's commit
# and finish_batch, and is run again.
remote_serial() {
	local m=$1 f=$2 src="${1}_$2" dst="${1}_dst_$2"
	new_db "$src" "$f" && target_db "$dst" || return 1
	sql "$src" "SELECT pgq.create_queue('rq')" >/dev/null
	# the first run registers: nothing to do yet
	py "$m" "$(conn "$src")" "$(conn "$dst")" rq c1 || return 1
	[ "$(applied "$dst" c1)" = "0 0" ] || return 1
	events "$src" rq 3 1 && events "$src" rq 4 4 && events "$src" rq 5 8 || return 1
	run py "$m" "$(conn "$src")" "$(conn "$dst")" rq c1 2
	[ "$status" -eq 9 ] || { echo "crash run: $status" >&2; return 1; }
	# the first two batches are in the target, the second unfinished
	[ "$(applied "$dst" c1)" = "7 7" ] || { applied "$dst" c1 >&2; return 1; }
	[ "$(sql "$src" "SELECT count(*) FROM pgq.subscription WHERE sub_batch IS NOT NULL")" = 1 ] || return 1
	py "$m" "$(conn "$src")" "$(conn "$dst")" rq c1 || return 1
	[ "$(applied "$dst" c1)" = "12 12" ] || { applied "$dst" c1 >&2; return 1; }
	[ "$(sql "$src" "SELECT pending_events FROM pgq.get_consumer_info('rq', 'c1')")" = 0 ] || return 1
	sql "$dst" "SELECT string_agg(ev_data, ',' ORDER BY ev_id) FROM t_applied" >"$TEST_DIR/$m.$f"
}

@test "RemoteConsumer: a batch applied in the target before a crash is skipped, not applied twice" {
	local f
	for f in $(flavours); do remote_serial remote "$f"; done
	[ "$(cat "$TEST_DIR/remote.ours")" = e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12 ]
	if have_debian_pgq; then cmp "$TEST_DIR/remote.ours" "$TEST_DIR/remote.debian"; fi
}

@test "SerialConsumer: the same across a crash; a lost position is refused and --rewind finds it again" {
	local f t
	for f in $(flavours); do
		remote_serial serial "$f"
		t=$(sql "serial_dst_$f" "SELECT pgq_ext.get_last_tick('c1')")
		[ "$t" = "$(sql "serial_$f" "SELECT last_tick FROM pgq.get_consumer_info('rq', 'c1')")" ]
		# the source forgets the position (moved back two ticks)
		sql "serial_$f" "SELECT pgq.register_consumer_at('rq', 'c1', $t - 2)" >/dev/null
		events "serial_$f" rq 2 13
		run py serial "$(conn "serial_$f")" "$(conn "serial_dst_$f")" rq c1
		[ "$status" -ne 0 ]
		grep -q "Lost position" "$TEST_DIR/py.err"
		py serial "$(conn "serial_$f")" "$(conn "serial_dst_$f")" rq c1 rewind
		[ "$(sql "serial_$f" "SELECT last_tick FROM pgq.get_consumer_info('rq', 'c1')")" = "$t" ]
		py serial "$(conn "serial_$f")" "$(conn "serial_dst_$f")" rq c1
		[ "$(applied "serial_dst_$f" c1)" = "14 14" ]
		sql "serial_dst_$f" "SELECT string_agg(ev_data, ',' ORDER BY ev_id) FROM t_applied" >"$TEST_DIR/serial.$f"
	done
	[ "$(cat "$TEST_DIR/serial.ours")" = e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12,e13,e14 ]
	if have_debian_pgq; then cmp "$TEST_DIR/serial.ours" "$TEST_DIR/serial.debian"; fi
}

@test "LocalConsumer: registers at the top, a crash after its file said done repositions the queue, a lost write rewinds it" {
	local f t2
	for f in $(flavours); do
		new_db "local_$f" "$f"
		sql "local_$f" "SELECT pgq.create_queue('lq')" >/dev/null
		events "local_$f" lq 2 0
		# not registered, no file: registers at the queue's top
		py local "$(conn "local_$f")" lq c1 "$TEST_DIR/local.$f.tick" "$TEST_DIR/local.$f"
		[ ! -s "$TEST_DIR/local.$f" ]
		[ "$(sql "local_$f" "SELECT count(*) FROM pgq.get_consumer_info('lq', 'c1')")" = 1 ]
		events "local_$f" lq 3 1 && events "local_$f" lq 4 4 && events "local_$f" lq 5 8
		run py local "$(conn "local_$f")" lq c1 "$TEST_DIR/local.$f.tick" "$TEST_DIR/local.$f" 2
		[ "$status" -eq 9 ]
		[ "$(wc -l <"$TEST_DIR/local.$f")" -eq 7 ]
		# the file is one batch ahead of the queue
		t2=$(cat "$TEST_DIR/local.$f.tick")
		[ "$t2" -gt "$(sql "local_$f" "SELECT last_tick FROM pgq.get_consumer_info('lq', 'c1')")" ]
		py local "$(conn "local_$f")" lq c1 "$TEST_DIR/local.$f.tick" "$TEST_DIR/local.$f"
		grep -q "Repositioning on queue" "$TEST_DIR/py.err"
		[ "$(cat "$TEST_DIR/local.$f.tick")" = "$(sql "local_$f" "SELECT last_tick FROM pgq.get_consumer_info('lq', 'c1')")" ]
		cut -f3 "$TEST_DIR/local.$f" | paste -sd, >"$TEST_DIR/local.$f.data"
		# a file that lost its last write rewinds the queue: the last
		# batch comes again
		echo "$t2" >"$TEST_DIR/local.$f.tick"
		py local "$(conn "local_$f")" lq c1 "$TEST_DIR/local.$f.tick" "$TEST_DIR/local.$f"
		grep -q "Rewinding queue" "$TEST_DIR/py.err"
		[ "$(tail -n 5 "$TEST_DIR/local.$f" | cut -f3 | paste -sd,)" = e8,e9,e10,e11,e12 ]
		[ "$(wc -l <"$TEST_DIR/local.$f")" -eq 17 ]
	done
	[ "$(cat "$TEST_DIR/local.ours.data")" = e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12 ]
	if have_debian_pgq; then cmp "$TEST_DIR/local.ours.data" "$TEST_DIR/local.debian.data"; fi
}

@test "CoopConsumer on our pgq_coop: subconsumers share the batches, a dead one's batch is taken over" {
	new_db coop
	sql coop "SELECT pgq.create_queue('cq')" >/dev/null
	for s in a b c; do py coop "$(conn coop)" cq cc "$s" "$TEST_DIR/coop"; done
	[ ! -s "$TEST_DIR/coop" ]
	[ "$(sql coop "SELECT count(*) FROM pgq.subscription")" = 4 ]
	events coop cq 3 1 && events coop cq 4 4 && events coop cq 5 8
	# a takes the first batch and dies with it
	run py coop "$(conn coop)" cq cc a "$TEST_DIR/coop" - die
	[ "$status" -eq 9 ]
	# b gets the other two, never a's
	py coop "$(conn coop)" cq cc b "$TEST_DIR/coop"
	[ "$(cut -f1,4 "$TEST_DIR/coop" | paste -sd,)" = "b	e4,b	e5,b	e6,b	e7,b	e8,b	e9,b	e10,b	e11,b	e12" ]
	# c, with a subconsumer_timeout, takes over a's batch
	py coop "$(conn coop)" cq cc c "$TEST_DIR/coop" "0 seconds"
	[ "$(grep -c "^c	" "$TEST_DIR/coop")" -eq 3 ]
	[ "$(sql coop "SELECT count(*) FROM pgq.subscription WHERE sub_batch IS NOT NULL")" = 0 ]
	# a subconsumer that dies and comes back gets its own batch again
	events coop cq 2 13 && events coop cq 2 15
	run py coop "$(conn coop)" cq cc b "$TEST_DIR/coop" - die
	[ "$status" -eq 9 ]
	py coop "$(conn coop)" cq cc a "$TEST_DIR/coop"
	py coop "$(conn coop)" cq cc b "$TEST_DIR/coop"
	[ "$(grep -c "^a	" "$TEST_DIR/coop")" -eq 2 ]
	[ "$(grep -c "^b	" "$TEST_DIR/coop")" -eq 11 ]
	# every event once, each batch to one subconsumer
	[ "$(cut -f4 "$TEST_DIR/coop" | sort -V | paste -sd,)" = e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12,e13,e14,e15,e16 ]
	[ "$(cut -f1,2 "$TEST_DIR/coop" | sort -u | cut -f2 | sort | uniq -d)" = "" ]
	[ "$(sql coop "SELECT pending_events FROM pgq.get_consumer_info('cq', 'cc')")" = 0 ]
}

@test "CoopConsumer on our pgq_coop: an event one subconsumer tags for retry comes back to another" {
	new_db coopr
	sql coopr "SELECT pgq.create_queue('crq')" >/dev/null
	for s in x y; do py coop "$(conn coopr)" crq cc "$s" "$TEST_DIR/coopr"; done
	sql coopr "SELECT pgq.insert_event('crq', CASE WHEN i % 3 = 0 THEN 'retry' ELSE 'ev' END, 'r' || i)
	           FROM generate_series(1, 6) i" >/dev/null
	tick coopr crq
	py coop "$(conn coopr)" crq cc x "$TEST_DIR/coopr" - retry
	[ "$(cut -f1,4,5 "$TEST_DIR/coopr" | paste -sd,)" = "x	r1	0,x	r2	0,x	r3	0,x	r4	0,x	r5	0,x	r6	0" ]
	[ "$(sql coopr "SELECT count(*) FROM pgq.retry_queue")" = 2 ]
	sql coopr "SELECT pgq.maint_retry_events()" >/dev/null
	tick coopr crq
	py coop "$(conn coopr)" crq cc y "$TEST_DIR/coopr" - retry
	[ "$(grep "^y" "$TEST_DIR/coopr" | cut -f1,4,5 | paste -sd,)" = "y	r3	1,y	r6	1" ]
	[ "$(sql coopr "SELECT count(*) FROM pgq.retry_queue")" = 0 ]
	[ "$(sql coopr "SELECT pending_events FROM pgq.get_consumer_info('crq', 'cc')")" = 0 ]
}

have_debian_pgq_node() {
	have_debian_pgq &&
		grep -q "^default_version = '3" "$(pg_config --sharedir)/extension/pgq_node.control" 2>/dev/null
}

# cascade FLAVOUR: queue cq with node root in croot_FLAVOUR and node
# branch in cbranch_FLAVOUR (reading root), set up the way the cascade
# admin does it; t_applied in the branch's database.
cascade() {
	local f=$1 gw db n
	for db in "croot_$f" "cbranch_$f"; do
		new_db "$db" "$f" || return 1
		if [ "$f" = ours ]; then
			psql -XAq -v ON_ERROR_STOP=1 -d "$db" -f "$SKYTOOLS_SQLDIR/pgq_node.sql" >/dev/null
		else
			sql "$db" "CREATE EXTENSION pgq_node" >/dev/null
		fi || return 1
		for n in root branch; do
			ret_ok "$db" "pgq_node.register_location('cq', '$n', '$(conn "c${n}_$f")', false)" || return 1
		done
	done
	sql "cbranch_$f" "CREATE TABLE t_applied (consumer text, ev_id bigint, ev_type text, ev_data text)" || return 1
	ret_ok "croot_$f" "pgq_node.create_node('cq', 'root', 'root', 'w_root', NULL, NULL, NULL)" || return 1
	gw=$(sql "croot_$f" "SELECT global_watermark FROM pgq_node.get_node_info('cq')") || return 1
	ret_ok "croot_$f" "pgq_node.register_subscriber('cq', 'branch', 'w_branch', NULL)" || return 1
	ret_ok "cbranch_$f" "pgq_node.create_node('cq', 'branch', 'branch', 'w_branch', 'root', $gw, NULL)"
}

# the non-cascade events of DB's queue: "ev_id:ev_data,..."
queue_events() {
	sql "$1" "SELECT string_agg(ev_id || ':' || ev_data, ',' ORDER BY ev_id)
	            FROM pgq.event_template WHERE ev_type NOT LIKE 'pgq.%'"
}

@test "CascadedWorker and CascadedConsumer on a root -> branch of our pgq_node: every root event once, watermarks move" {
	local f r b top
	for f in ${TEST_PGQ_FLAVOURS:-ours $(have_debian_pgq_node && echo debian)}; do
		r=croot_$f b=cbranch_$f
		cascade "$f"
		# the branch's queue takes no events of its own, bulk ones neither
		run py produce "$(conn "$b")" cq bulk
		[ "$status" -eq 1 ]
		grep -Eq "Writing to queue disabled|Insert into queue cq disallowed" "$TEST_DIR/py.err"
		# a CascadedConsumer whose target is the branch, reading the root
		py cconsumer "$(conn "$b")" cq c_apply "register=$(conn "$r")"
		[ "$(sql "$b" "SELECT provider_node || ' ' || (completed_tick IS NOT NULL) FROM pgq_node.get_consumer_state('cq', 'c_apply')")" = "root true" ]
		events "$r" cq 3 1 && events "$r" cq 4 4 && events "$r" cq 5 8
		# the root's worker publishes the global watermark, nothing else
		py worker "$(conn "$r")" cq w_root
		# the branch's worker dies after its second batch was committed
		# in the branch, before finish_batch on the root
		run py worker "$(conn "$b")" cq w_branch 2
		[ "$status" -eq 9 ]
		[ "$(queue_events "$b")" = "$(queue_events "$r" | cut -d, -f1-7)" ]
		py worker "$(conn "$b")" cq w_branch
		[ "$(queue_events "$b")" = "$(queue_events "$r")" ]
		# the branch ticks as the root did, same ids
		top=$(sql "$r" "SELECT max(tick_id) FROM pgq.tick")
		[ "$(sql "$b" "SELECT max(tick_id) FROM pgq.tick")" = "$top" ]
		[ "$(sql "$b" "SELECT worker_last_tick FROM pgq_node.get_node_info('cq')")" = "$top" ]
		# the consumer: once across its own crash too
		run py cconsumer "$(conn "$b")" cq c_apply 1
		[ "$status" -eq 9 ]
		[ "$(applied "$b" c_apply)" = "3 3" ]
		# --rewind puts the root's position where the target is,
		# dropping the batch the crash left open there
		py cconsumer "$(conn "$b")" cq c_apply rewind
		[ "$(sql "$r" "SELECT last_tick || ' ' || (current_batch IS NULL) FROM pgq.get_consumer_info('cq', 'c_apply')")" = \
		  "$(sql "$b" "SELECT completed_tick FROM pgq_node.get_consumer_state('cq', 'c_apply')") true" ]
		py cconsumer "$(conn "$b")" cq c_apply
		[ "$(applied "$b" c_apply)" = "12 12" ]
		[ "$(sql "$b" "SELECT completed_tick FROM pgq_node.get_consumer_state('cq', 'c_apply')")" = \
		  "$(sql "$r" "SELECT last_tick FROM pgq.get_consumer_info('cq', 'c_apply')")" ]
		# the watermarks move: the branch's reaches the root (the one
		# its worker read before its last batch), the root's global
		# watermark (the lowest of its consumers') follows it, and
		# comes down to the branch
		prev=$(sql "$r" "SELECT max(tick_id) FROM pgq.tick WHERE tick_id < $top")
		[ "$(sql "$r" "SELECT node_watermark FROM pgq_node.get_subscriber_info('cq') WHERE node_name = 'branch'")" = "$prev" ]
		py worker "$(conn "$r")" cq w_root
		[ "$(sql "$r" "SELECT global_watermark FROM pgq_node.get_node_info('cq')")" = "$prev" ]
		tick "$r" cq
		py worker "$(conn "$b")" cq w_branch
		[ "$(sql "$b" "SELECT global_watermark FROM pgq_node.get_node_info('cq')")" = "$prev" ]
		[ "$(sql "$r" "SELECT node_watermark FROM pgq_node.get_subscriber_info('cq') WHERE node_name = 'branch'")" = "$top" ]
		queue_events "$b" | tr ',' '\n' | cut -d: -f2 | paste -sd, >"$TEST_DIR/cascade.$f"
	done
	[ "$(cat "$TEST_DIR/cascade.ours")" = e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12 ]
	if [ -f "$TEST_DIR/cascade.debian" ]; then cmp "$TEST_DIR/cascade.ours" "$TEST_DIR/cascade.debian"; fi
}
