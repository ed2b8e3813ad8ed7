# w-cascade.sh: a Londiste 3 cascade, root -> branch -> leaf, ours
# against londiste 3 + pgqd (the set-ups: cascade.sh).
#
#   cas.insert, cas.delete   replay through the cascade: 200k rows
#       (QUICK: 5k) inserted, then deleted, 1,000 a transaction, on the
#       root while the branch's and the leaf's workers are stopped; then
#       both workers start and the time runs until the leaf holds the
#       result (the branch applies each batch and passes it on to its
#       own queue, the leaf reads from the branch).  Before each step
#       VACUUM ANALYZE of the table on the three nodes and a CHECKPOINT
#       (not in QUICK).
#   cas.switch, cas.switch.fast   the switchover, on the same cascade
#       (cascade.sh; `t/bench/run --only switchover` runs it alone).
#   cas.takeover   takeover of a dead root (`takeover root --dead-root`
#       on the branch) of a fresh small cascade per round, the root's
#       database closed to connections (ALLOW_CONNECTIONS false, its
#       sessions ended) and its worker stopped; timed as cas.switch.  In
#       QUICK londiste 3's is not measured (its worker sleeps 20 s after
#       losing the root, by design), and ours takes over the replay's
#       cascade in the first round, once its switchovers are done (the
#       same settings: loop_delay 0.1 s, ticks every 100 ms), and a
#       cascade made with the replay's in any further round.

# shellcheck source=t/bench/cascade.sh
. "$BENCH/cascade.sh"

# cas_tick SIDE: a tick of the root's queue now; prints its last tick.
cas_tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d "$(cas_db "$1" r "$CAS_ROOT")" \
		-c "SELECT pgq.force_tick('cq')" -c "SELECT pgq.ticker('cq')" \
		-c "SELECT max(t.tick_id) FROM pgq.tick t
		    JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'cq'" |
		tail -n 1
}


cas_done() {
	case $2 in
	insert) _c="SELECT count(*) = $CAS_N FROM bt" ;;
	delete) _c="SELECT count(*) = 0 FROM bt" ;;
	esac
	[ "$(q "$(cas_db "$1" r leaf)" "DO \$\$ DECLARE ok bool; BEGIN
		FOR i IN 1..100 LOOP
			$_c INTO ok;
			EXIT WHEN ok;
			PERFORM pg_sleep(0.05);
		END LOOP; END \$\$; $_c")" = t ] && return 0
	{ cas_alive "$1" r branch && cas_alive "$1" r leaf; } ||
		die "a $1 worker died (see $OUT/$(cas_db "$1" r branch).out, $OUT/$(cas_db "$1" r leaf).out)"
	return 1
}


cas_run() {
	_side=$1
	for op in insert delete; do
		if [ "$QUICK" = 0 ]; then
			for _n in root branch leaf; do
				q "$(cas_db "$_side" r $_n)" "VACUUM ANALYZE bt"
			done
			q postgres CHECKPOINT
		fi
		_k0=$(cas_tick "$_side")
		qf "$(cas_db "$_side" r root)" "$OUT/cas-$op.sql" || die "$_side: writes failed"
		_k1=$(cas_tick "$_side")
		case $_k0,$_k1 in *[!0-9,]*|,*|*,) die "$_side: cannot tick queue cq" ;; esac
		printf 'ticks\t%s\tcascade round %s %s: %s ticks\n' "$_side" "$ROUND" "$op" \
			$((_k1 - _k0 - 1)) >>"$OUT/notes.tsv"
		[ "$QUICK" = 1 ] || q postgres CHECKPOINT
		_t0=$(now_ns)
		cas_start "$_side" r branch
		cas_start "$_side" r leaf
		wait_for "$CAS_WAIT" "$_side cascade replay of $CAS_N ${op%e}ed rows unfinished" \
			cas_done "$_side" "$op"
		_t1=$(now_ns)
		cas_stop "$_side" r branch
		cas_stop "$_side" r leaf
		rec "cas.$op" "$_side" "$(awk -v a="$_t0" -v b="$_t1" -v n="$CAS_N" \
			'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')"
	done
}

# cas_takeover SIDE: the round's fresh cascade (made idle by cas_build;
# in QUICK's first round the replay's, idle too) running, then its root
# dead; the branch takes over.
cas_takeover() {
	cas_unmeasured "$1" cas.takeover && return 0
	_p=t$ROUND
	[ "$QUICK" = 1 ] && [ "$ROUND" = 1 ] && _p=r
	cas_tickers "$1" "$_p" 100
	"$(cas_cmd "$1")" "$(cas_ini "$1" "$_p" root)" worker -d >>"$OUT/cas-setup.log" 2>&1 ||
		die "$1: the root's worker of cascade $_p did not start"
	wait_for 60 "$1: the root's worker of cascade $_p wrote no pidfile" \
		test -f "$BENCH_DIR/$(cas_db "$1" "$_p" root).pid"
	cas_start "$1" "$_p" branch
	cas_start "$1" "$_p" leaf
	_rdb=$(cas_db "$1" "$_p" root)
	cas_root_stop "$1" "$_p"
	# the dead root: its worker and ticker gone, nobody gets in
	if [ "$1" = ours ]; then
		eval "_tp=\${CT_ours$_p}"
		# shellcheck disable=SC2086 # a list of pids
		kill ${_tp%% *} 2>/dev/null
	fi
	q postgres "ALTER DATABASE $_rdb WITH ALLOW_CONNECTIONS false" >/dev/null
	q postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$_rdb'" >/dev/null
	cas_timed_switch cas.takeover "$1" "$_p" branch 1 \
		"$(cas_cmd "$1")" "$(cas_ini "$1" "$_p" branch)" takeover root --dead-root
	cas_stop "$1" "$_p" branch
	cas_stop "$1" "$_p" leaf
	eval "_tp=\${CT_$1$_p}"
	# shellcheck disable=SC2086 # a list of pids
	kill $_tp 2>/dev/null
	eval "CT_$1$_p="
}


w_cascade() {
	CAS_N=200000
	[ "$QUICK" = 1 ] && CAS_N=5000
	CAS_WAIT=$((CAS_N / 200 + 120))
	CAS_ROOT=root
	rows_sql "$CAS_N" insert "$OUT/cas-insert.sql"
	rows_sql "$CAS_N" delete "$OUT/cas-delete.sql"
	for op in insert delete; do
		row "cas.$op" "Londiste 3 cascade root -> branch -> leaf, replay of $CAS_N ${op%e}ed rows (1,000 a txn) to the leaf vs londiste 3 + pgqd" \
			rows/s higher 'ratio>=4.0'
	done
	cas_switch_rows
	row cas.takeover "Londiste 3 cascade takeover of a dead root by its branch, command to writes, ticks every 100 ms, loop_delay 0.1 s, vs londiste 3 takeover --dead-root" \
		s lower -
	# the takeover rounds' cascades, one per round and side (QUICK's
	# first round takes over the replay's)
	_ps=
	_r=1
	[ "$QUICK" = 1 ] && _r=2
	while [ "$_r" -le "$ROUNDS" ]; do
		for s in ours ref; do
			cas_skipped $s cas.takeover || _ps="$_ps $s:t$_r"
		done
		_r=$((_r + 1))
	done
	# Made with a loop_delay of 0.1 s, measured at the default, 1 s.  In
	# QUICK the takeover's cascades are made at once with the replay's
	# (the making is mostly waiting), in a full run after it, so that
	# the replay runs beside no more databases than it needs.
	if [ "$QUICK" = 1 ]; then
		# shellcheck disable=SC2086 # a list of cascades
		cas_build 0.1 ours:r ref:r $_ps
	else
		cas_build 0.1 ours:r ref:r
	fi
	# the replay: ticks every second
	for s in ours ref; do
		cas_delay "$s" 1
		cas_tickers "$s" r 1000
	done
	rounds sides cas_run
	cas_switchover
	for s in ours ref; do
		cas_idle "$s" r
	done
	# shellcheck disable=SC2086 # a list of cascades
	[ "$QUICK" = 1 ] || cas_build 0.1 $_ps
	rounds sides cas_takeover
}
