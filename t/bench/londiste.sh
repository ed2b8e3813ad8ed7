# londiste.sh: the two Londiste set-ups that w-londiste.sh and
# w-copy.sh share, made once per run.
#
# Ours: provider lo_prov (our PgQ, with pgq_c's C trigger, and londiste
# SQL), subscriber lo_sub, queue bq, consumer "bench", sh/londiste with a
# Skytools 2 style ini, pgq-tick --loop ticking the provider all along.
# Reference: londiste 3 (Debian's python3-londiste, pgq_node and
# londiste extensions, Debian PgQ's C trigger) root l3_prov and leaf
# l3_sub on queue bq, the root's worker running all along, pgqd ticking
# both.
#
# The same ticker settings on both sides: ticker() every second
# (pgq-tick --interval 1000; pgqd ticker_period = 1), maintenance and
# retry every 30 s (pgq-tick --maint-interval 30; pgqd maint_period and
# retry_period = 30), and the queues at PgQ's defaults (ticker_max_count
# 500, ticker_max_lag 3 s) except ticker_idle_period, 1 s on both, as a
# queue with traffic ticks.  Consumers at their defaults (loop_delay 1 s
# for sh/londiste's copier and londiste 3's workers).  The replay
# (sh/londiste replay; londiste 3's leaf worker) runs only while
# measured.  The set-up itself, until table bt is ok on both sides,
# runs with ticks every 100 ms, ticker_idle_period 0.1 s and the
# replays' loop_delay 0.1 s (its steps wait for ticks and loop_delays:
# londiste 3's took 16 s at the settings above), and then the settings
# above are put in place, before anything is measured.

L3=/usr/bin/londiste

# bt for w-londiste, ct for w-copy, mt for londiste-apply's memory
lon_tables() {
	for _t in bt ct mt; do
		printf 'CREATE TABLE %s (id int PRIMARY KEY, n int NOT NULL, name text, ts timestamptz);\n' "$_t"
	done | psql -XAq -v ON_ERROR_STOP=1 -d "$1" || die "$1: cannot create tables"
}

lon_setup() {
	[ -n "${LON_READY:-}" ] && return 0
	LON_READY=1
	new_db lo_prov none
	new_db lo_sub none
	new_db l3_prov none
	new_db l3_sub none
	for db in lo_prov lo_sub l3_prov l3_sub; do
		lon_tables "$db"
	done
	for n in root leaf; do
		db=l3_prov
		[ $n = leaf ] && db=l3_sub
		cat >"$BENCH_DIR/l3-$n.ini" <<-INI
		[londiste]
		job_name = l3_$n
		db = host=$PGHOST dbname=$db
		queue_name = bq
		logfile = $OUT/l3-$n.log
		pidfile = $BENCH_DIR/l3-$n.pid
		INI
	done
	echo 'loop_delay = 0.1' >>"$BENCH_DIR/l3-leaf.ini"
	L3_ROOT=$BENCH_DIR/l3-root.ini
	L3_LEAF=$BENCH_DIR/l3-leaf.ini
	# londiste 3's steps are Python start-ups: made while ours are
	{
		$L3 "$L3_ROOT" create-root root "host=$PGHOST dbname=l3_prov" &&
		$L3 "$L3_LEAF" create-leaf leaf "host=$PGHOST dbname=l3_sub" \
			--provider="host=$PGHOST dbname=l3_prov" &&
		$L3 "$L3_ROOT" worker -d &&
		$L3 "$L3_ROOT" add-table bt &&
		$L3 "$L3_LEAF" add-table bt
	} >>"$OUT/l3-setup.log" 2>&1 &
	_l3setup=$!

	cat >"$BENCH_DIR/lo.ini" <<-INI
	[londiste]
	job_name = bench
	provider_db = host=$PGHOST dbname=lo_prov
	subscriber_db = host=$PGHOST dbname=lo_sub
	pgq_queue_name = bq
	logfile = $OUT/lo.log
	pidfile = $BENCH_DIR/lo.pid
	loop_delay = 0.1
	INI
	LO_INI=$BENCH_DIR/lo.ini
	londiste "$LO_INI" provider install >/dev/null || die "londiste provider install"
	fastpath_check lo_prov
	londiste "$LO_INI" subscriber install >/dev/null || die "londiste subscriber install"
	londiste "$LO_INI" provider add bt || die "londiste provider add"
	londiste "$LO_INI" subscriber add bt || die "londiste subscriber add"
	# An idle queue ticks once a minute, and a copy waits for a tick on
	# both systems: tick every second, as a queue with traffic does
	# (every 0.1 s during the set-up).
	q lo_prov "SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '0.1 second')" >/dev/null
	lon_tickers ours 100

	wait "$_l3setup" || die "londiste 3 set-up failed, see $OUT/l3-setup.log"
	q l3_prov "SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '0.1 second')" >/dev/null
	printf 'trigger\tl3_prov\tpgq.logutriga=%s\n' "$(q l3_prov "SELECT l.lanname
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE p.oid = 'pgq.logutriga'::regproc")" >>"$OUT/notes.tsv"
	lon_tickers ref 100

	# the empty tables reach ok through the replay, both at once
	replay_start ours
	replay_start ref
	wait_for 300 "table bt did not reach ok on our subscriber (see $OUT/lo-replay.log)" \
		lon_state ours bt ok
	wait_for 300 "table bt did not reach ok on londiste 3's leaf (see $OUT/l3-leaf.log)" \
		lon_state ref bt ok
	replay_stop ours
	replay_stop ref
	# the measured settings
	sed -i '/^loop_delay = /d' "$LO_INI" "$L3_LEAF"
	for db in lo_prov l3_prov; do
		q "$db" "SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '1 second')" >/dev/null
	done
	lon_tickers ours 1000
	lon_tickers ref 1000
}

# lon_tickers SIDE MS: the side's ticker, a tick every MS milliseconds
# (started again when running); maintenance and retry every 30 s.
lon_tickers() {
	if [ "$1" = ours ]; then
		[ -z "${LO_TICK:-}" ] || { kill "$LO_TICK" 2>/dev/null; wait "$LO_TICK" 2>/dev/null; }
		pgq-tick -d dbname=lo_prov --loop --interval "$2" --maint-interval 30 \
			2>>"$OUT/lo-tick.log" &
		LO_TICK=$!
		bg "$LO_TICK"
	else
		[ -z "${L3_TICK:-}" ] || { kill "$L3_TICK" 2>/dev/null; wait "$L3_TICK" 2>/dev/null; }
		pgqd_start l3-pgqd "$2" l3_prov l3_sub
		L3_TICK=$PGQD_PID
	fi
}

lon_teardown() {
	[ -n "${LON_READY:-}" ] || return 0
	kill "$LO_TICK" "$L3_TICK" 2>/dev/null
	$L3 "$L3_ROOT" stop >/dev/null 2>&1
	wait "$LO_TICK" "$L3_TICK" 2>/dev/null
	LON_READY=
}

# replay_start SIDE: the replay in a process group of its own, so that
# replay_stop ends the pipeline's stages and londiste 3's copy
# processes with it.
replay_start() {
	if [ "$1" = ours ]; then
		setsid londiste "$LO_INI" replay 2>>"$OUT/lo-replay.log" &
		# shellcheck disable=SC2034 # read through eval
		REPLAY_ours=$!
	else
		setsid $L3 "$L3_LEAF" worker >>"$OUT/l3-leaf.out" 2>&1 &
		# shellcheck disable=SC2034 # read through eval
		REPLAY_ref=$!
	fi
	bg "-$!"
}

# Ours: the supervisor first, which ends its stages and helpers itself
# (signalled all at once, the stages cannot report their statuses, and
# it waits 5 s for them: not measured, but every stop paid it).
replay_stop() {
	eval "_rp=\${REPLAY_$1:-}"
	[ -n "$_rp" ] || return 0
	case $1 in ours) group_stop "$_rp" "$_rp" ;; *) group_stop "$_rp" "-$_rp" ;; esac
	eval "REPLAY_$1="
}

# replay_ready SIDE: replay_start, and back once the replay has
# finished a batch (the queue ticks every second).
replay_ready() {
	_k=$(lon_last_tick "$1") || die "cannot read the $1 consumer's last tick"
	replay_start "$1"
	wait_for 60 "the $1 replay finished no batch" lon_moved "$1" "$_k"
}

# lon_last_tick SIDE: the last tick the side's replay finished.
lon_last_tick() {
	case $1 in
	ours) q lo_prov "SELECT last_tick FROM pgq.get_consumer_info('bq', 'bench')" ;;
	ref) q l3_prov "SELECT last_tick FROM pgq.get_consumer_info('bq', 'l3_leaf')" ;;
	esac
}

lon_moved() {
	_lt=$(lon_last_tick "$1")
	[ -n "$_lt" ] && [ "$_lt" -gt "$2" ]
}

# replay_alive SIDE: is the replay started by replay_start still running?
replay_alive() {
	eval "_rp=\${REPLAY_$1:-}"
	[ -n "$_rp" ] && kill -0 "$_rp" 2>/dev/null
}

# lon_state SIDE TABLE STATE: is the table in that state on the subscriber?
# The server itself looks every 10 ms for up to 5 s (one psql per 5 s,
# not one per look: under load a psql start costs more than the poll
# interval, and the time to ok would count it), then the replay is
# checked for life.
lon_state() {
	if [ "$1" = ours ]; then
		_db=lo_sub _get="SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$2'"
	else
		_db=l3_sub _get="SELECT merge_state FROM londiste.get_table_list('bq') WHERE table_name = 'public.$2'"
	fi
	_st=$(q "$_db" "DO \$\$ DECLARE st text; BEGIN
		FOR i IN 1..500 LOOP
			$_get INTO st;
			EXIT WHEN st IS NOT DISTINCT FROM '$3';
			PERFORM pg_sleep(0.01);
		END LOOP; END \$\$; $_get")
	[ "$_st" = "$3" ] && return 0
	replay_alive "$1" || die "the $1 replay died (see $OUT/lo-replay.log, $OUT/l3-leaf.log)"
	return 1
}

# lon_tick SIDE: a tick now, so that all events so far are in a batch;
# prints the queue's last tick id.
lon_tick() {
	case $1 in ours) _db=lo_prov ;; ref) _db=l3_prov ;; esac
	psql -XAtq -v ON_ERROR_STOP=1 -d "$_db" -c "SELECT pgq.force_tick('bq')" \
		-c "SELECT pgq.ticker('bq')" -c "SELECT max(t.tick_id) FROM pgq.tick t
		    JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'bq'" |
		tail -n 1
}
