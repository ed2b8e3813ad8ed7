# w-copy.sh: initial copy of a 1M-row table (four columns).
#   copy.raw    londiste-copy alone (table registered, replay stopped)
#               against the floor: psql COPY TO STDOUT | psql COPY FROM
#               STDIN between the same databases
#   copy.total  time from `londiste subscriber add` to state ok while
#               the replay runs, against londiste-copy alone: the
#               overhead of the replay's hand-over (goal: at most 1.2x)
#   copy.l3     add to ok, ours against londiste 3's add-table on the
#               leaf with its worker running (rows/s)
# The table gets its replication trigger on each provider before the
# rounds; each round starts from an empty subscriber table, and a
# CHECKPOINT (not in QUICK mode).  Add to ok is timed from a replay
# that has started and finished a batch.  QUICK leaves londiste 3's add
# to ok out: its steps wait for ticks and loop_delays (about 12 s for
# 50k rows as for 1M), so the ratio would say nothing; its add-table
# and copy still run in the set-up (londiste.sh).

# shellcheck source=t/bench/londiste.sh
. "$BENCH/londiste.sh"

copy_run() {
	case $1 in
	ours)
		# the floor
		q lo_sub "TRUNCATE ct"
		[ "$QUICK" = 1 ] || q lo_sub CHECKPOINT
		timed _s sh -c 'psql -XAq -v ON_ERROR_STOP=1 -d lo_prov -c "COPY ct TO STDOUT" |
			psql -XAq -v ON_ERROR_STOP=1 -d lo_sub -c "COPY ct FROM STDIN"'
		rec copy.raw ref "$(rate "$COPY_N" "$_s")"
		# londiste-copy alone
		q lo_sub "TRUNCATE ct"
		[ "$QUICK" = 1 ] || q lo_sub CHECKPOINT
		londiste "$LO_INI" subscriber add ct || die "subscriber add ct"
		timed _s londiste-copy -s "host=$PGHOST dbname=lo_prov" -d dbname=lo_sub \
			--consumer bench ct >/dev/null
		rec copy.raw ours "$(rate "$COPY_N" "$_s")"
		rec copy.total ref "$_s"
		londiste "$LO_INI" subscriber remove ct || die "subscriber remove ct"
		# add to ok with the replay running
		q lo_sub "TRUNCATE ct"
		[ "$QUICK" = 1 ] || q lo_sub CHECKPOINT
		replay_ready ours
		_t0=$(now_ns)
		londiste "$LO_INI" subscriber add ct || die "subscriber add ct"
		wait_for 600 "copy of ct: not ok on our subscriber (see $OUT/lo-replay.log)" \
			lon_state ours ct ok
		_t1=$(now_ns)
		replay_stop ours
		_s=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
		rec copy.total ours "$_s"
		rec copy.l3 ours "$(rate "$COPY_N" "$_s")"
		[ "$(q lo_sub "SELECT count(*) FROM ct")" = "$COPY_N" ] || die "copy: wrong row count"
		londiste "$LO_INI" subscriber remove ct || die "subscriber remove ct"
		;;
	ref)
		if [ "$QUICK" = 1 ]; then
			[ "$ROUND" = 1 ] && quick_skip copy.l3 ref
			return 0
		fi
		q l3_sub "TRUNCATE ct"
		[ "$QUICK" = 1 ] || q l3_sub CHECKPOINT
		replay_ready ref
		_t0=$(now_ns)
		$L3 "$L3_LEAF" add-table ct >>"$OUT/l3-setup.log" 2>&1 || die "londiste 3 add-table ct"
		wait_for 600 "copy of ct: not ok on londiste 3's leaf (see $OUT/l3-leaf.log)" \
			lon_state ref ct ok
		_t1=$(now_ns)
		replay_stop ref
		[ "$(q l3_sub "SELECT count(*) FROM ct")" = "$COPY_N" ] || die "londiste 3 copy: wrong row count"
		rec copy.l3 ref "$(awk -v a="$_t0" -v b="$_t1" -v n="$COPY_N" \
			'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')"
		$L3 "$L3_LEAF" remove-table ct >>"$OUT/l3-setup.log" 2>&1 || die "londiste 3 remove-table ct"
		;;
	esac
}

w_copy() {
	COPY_N=1000000
	[ "$QUICK" = 1 ] && COPY_N=50000
	row copy.raw "initial copy of $COPY_N rows: londiste-copy vs psql | psql COPY pipe" \
		rows/s higher 'ratio>=0.9'
	row copy.total "initial copy of $COPY_N rows: add to ok with replay running vs londiste-copy alone" \
		s lower 'ratio<=1.2'
	row copy.l3 "initial copy of $COPY_N rows, add to ok: londiste vs londiste 3 add-table" \
		rows/s higher ''
	lon_setup
	for db in lo_prov l3_prov; do
		q "$db" "TRUNCATE ct"
		q "$db" "INSERT INTO ct SELECT g, g, 'row ' || g, now() FROM generate_series(1, $COPY_N) g"
		q "$db" "VACUUM ANALYZE ct"
	done
	londiste "$LO_INI" provider add ct || die "provider add ct"
	if [ "$QUICK" = 0 ]; then
		$L3 "$L3_ROOT" add-table ct >>"$OUT/l3-setup.log" 2>&1 || die "londiste 3 root add-table ct"
	fi
	rounds sides copy_run
}
