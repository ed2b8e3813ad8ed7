#!/usr/bin/env bats
# pgq-insert: what its COPY leaves to the event table's defaults, and how
# it cuts a steady flood of input into transactions.

load helper

setup_file() {
	pg_start
	for f in $(pgq_flavours); do new_db "ins_$f" "$f"; done
}

# The event table of QUEUE in DB, qualified.
event_table() {
	sql "$1" "SELECT pgq.current_event_table('$2')"
}

@test "ev_time is the inserting transaction's time, with or without a default on the event table" {
	for f in $(pgq_flavours); do
		db="ins_$f"
		make_queue "$db" et
		# ours defaults ev_time to now(); Debian's PgQ has no default
		printf 'a\t1\nb\t2\tx\nc\t3\n' | pgq-insert -d "$db" et
		tbl=$(event_table "$db" et)
		run --separate-stderr sql "$db" "SELECT count(*), count(DISTINCT ev_txid), count(DISTINCT ev_time),
			bool_and(ev_time IS NOT NULL AND ev_time <= now() AND ev_time > now() - interval '1 hour')
			FROM $tbl"
		[ "$status" -eq 0 ]
		[ "$output" = "3|1|1|t" ]
		# --stream keeps the given ev_time
		printf 'batch\t1\t2\t1\t2026-01-02 00:00:01+00\t2026-01-02 00:00:00+00\tq\tc\n' >"$BATS_TEST_TMPDIR/s"
		printf 'event\t7\t2001-02-03 04:05:06.5+00\t9\t\\N\tt\td\t\\N\t\\N\t\\N\t\\N\n' >>"$BATS_TEST_TMPDIR/s"
		printf 'end\t1\t1\n' >>"$BATS_TEST_TMPDIR/s"
		run --separate-stderr pgq-insert --stream -d "$db" et <"$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 0 ]
		[ "$(sql "$db" "SELECT ev_time FROM $tbl WHERE ev_type = 't'")" = "2001-02-03 04:05:06.5+00" ]
	done
}

@test "a steady flood is committed in chunks of at most 1000000 events" {
	db=ins_ours
	make_queue "$db" flood
	awk 'BEGIN { for (i = 1; i <= 1000005; i++) printf "f\t%d\n", i }' >"$BATS_TEST_TMPDIR/flood"
	run --separate-stderr pgq-insert -d "$db" flood <"$BATS_TEST_TMPDIR/flood"
	[ "$status" -eq 0 ]
	run --separate-stderr sql "$db" "SELECT sum(n), count(*) > 1, max(n) <= 1000000
		FROM (SELECT count(*) AS n FROM $(event_table "$db" flood) GROUP BY ev_txid) t"
	[ "$status" -eq 0 ]
	[ "$output" = "1000005|t|t" ]
}
