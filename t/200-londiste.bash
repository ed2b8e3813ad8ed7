# t/200-londiste.bash: helpers for the Londiste tests (t/2NN-*.bats).

# lon_db NAME FLAVOUR: a database with londiste and PgQ (ours, debian or none).
lon_db() {
	local name=$1 flavour=${2:-ours}
	case $flavour in
	ours) new_db "$name" none &&
		psql -XAq -v ON_ERROR_STOP=1 -d "$name" -f "$SKYTOOLS_SQLDIR/pgq.sql" >/dev/null ;;
	debian) new_db "$name" debian ;;
	none) new_db "$name" none ;;
	esac || return 1
	psql -XAq -v ON_ERROR_STOP=1 -d "$name" -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
}

# lon_pair PROV SUB [FLAVOUR]: provider with queue q and consumer c, subscriber.
lon_pair() {
	lon_db "$1" "${3:-ours}" && lon_db "$2" none &&
	sql "$1" "SELECT pgq.create_queue('q')" >/dev/null &&
	sql "$1" "SELECT pgq.register_consumer('q', 'c')" >/dev/null
}

# lon_tables PROV SUB TABLE...: the tables replicated by queue q, and
# in state ok on the subscriber (no copy).
lon_tables() {
	local prov=$1 sub=$2 t
	shift 2
	for t in "$@"; do
		sql "$prov" "SELECT londiste.provider_add_table('q', \$n\$$t\$n\$)" >/dev/null &&
			sql "$sub" "SELECT londiste.subscriber_add_table('q', \$n\$$t\$n\$)" >/dev/null ||
			return 1
	done
	sql "$sub" "UPDATE londiste.subscriber_table SET state = 'ok'"
}

# lon_skip PROV: consumer c past everything queued so far.
lon_skip() {
	tick "$1" && batch_stream "$1" >/dev/null && finish_batch "$1"
}

# tick DB: a tick on queue q, whatever the ticker thinks.
tick() {
	sql "$1" "SELECT londiste.force_tick('q')" >/dev/null
}

# batch_stream DB: the next batch of consumer c on q as a batch stream,
# built with plain SQL (works with either PgQ); prints nothing when no
# batch is ready.
batch_stream() {
	local db=$1 id
	id=$(sql "$db" "SELECT pgq.next_batch('q', 'c')")
	[ -n "$id" ] || return 0
	psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "SET TimeZone = 'UTC'" -c "COPY (SELECT 'batch', $id, tick_id, prev_tick_id, batch_end, batch_start, queue_name, consumer_name FROM pgq.get_batch_info($id)) TO STDOUT"
	psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "SET TimeZone = 'UTC'" -c "COPY (SELECT 'event', * FROM pgq.get_batch_events($id) ORDER BY ev_id) TO STDOUT"
	printf 'end\t%s\t%s\n' "$id" "$(sql "$db" "SELECT count(*) FROM pgq.get_batch_events($id)")"
}

finish_batch() {
	local id
	id=$(sql "$1" "SELECT current_batch FROM pgq.get_consumer_info('q', 'c')")
	[ -n "$id" ] && sql "$1" "SELECT pgq.finish_batch($id)" >/dev/null
}

# replay_once PROV SUB: tick, and apply + finish the next batch.
replay_once() {
	tick "$1" || return 1
	batch_stream "$1" > "$BATS_TEST_TMPDIR/stream" || return 1
	londiste-apply -d "$2" --consumer c < "$BATS_TEST_TMPDIR/stream" >/dev/null || return 1
	finish_batch "$1"
}

# replay_pending PROV SUB: apply + finish every batch ready, making no
# tick: for a replay that runs beside a tool making ticks of its own.
# (A loop of replay_once never catches up with those: it adds a tick
# for each batch it applies.)
replay_pending() {
	while batch_stream "$1" > "$BATS_TEST_TMPDIR/pending" && [ -s "$BATS_TEST_TMPDIR/pending" ]; do
		londiste-apply -d "$2" --consumer c < "$BATS_TEST_TMPDIR/pending" >/dev/null &&
			finish_batch "$1" || return 1
	done
}

# bg_replay: replay_pending prov -> sub in the background (bg holds its
# pid), for the tools that make ticks of their own and wait for them to
# be applied; bg_stop ends it (a teardown's too: it is a no-op without
# one).
bg_replay() {
	( while [ ! -f "$BATS_TEST_TMPDIR/stop" ]; do replay_pending prov sub 2>/dev/null; sleep 0.2; done ) &
	bg=$!
}

bg_stop() {
	touch "$BATS_TEST_TMPDIR/stop"
	[ -z "${bg:-}" ] || wait "$bg" || :
}

# dump DB TABLE: the rows in a stable order, as COPY text.
dump() {
	psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "COPY (SELECT * FROM $2 ORDER BY 1, 2) TO STDOUT"
}

# copy_waits DB [N]: the copy's session in DB waits for a lock (N
# sessions of copies wait).
copy_waits() {
	[ "$(sql "$1" "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'londiste-copy' AND wait_event_type = 'Lock'")" = "${2:-1}" ]
}
