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

@test "a queue with inserts disabled is refused with 2 before any input is read, also on ours" {
	for f in $(pgq_flavours); do
		db="ins_$f"
		make_queue "$db" dis
		# (Debian's set_queue_config cannot set it)
		sql "$db" "UPDATE pgq.queue SET queue_disable_insert = true WHERE queue_name = 'dis'"
		run --separate-stderr pgq-insert -d "$db" dis </dev/null
		[ "$status" -eq 2 ] || { echo "$f: $status $stderr" >&2; false; }
		run --separate-stderr pgq-insert --stream -d "$db" dis </dev/null
		[ "$status" -eq 2 ]
		[[ "$stderr" == *disabled* || "$stderr" == *disallowed* ]]
		# as the cascade's workers do, a replica session may
		[ -n "$(PGOPTIONS='-c session_replication_role=replica' sql "$db" "SELECT pgq.current_event_table('dis')")" ]
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

@test "queue_per_tx_limit: chunks end at the limit; a larger single transaction or batch is refused with 2, nothing of it inserted" {
	for f in $(pgq_flavours); do
		db="ins_$f"
		make_queue "$db" lim
		# PgQ's set_queue_config does not take this one
		sql "$db" "UPDATE pgq.queue SET queue_per_tx_limit = 3 WHERE queue_name = 'lim'"
		tbl=$(event_table "$db" lim)
		seq 1 7 | sed 's/^/n\t/' | pgq-insert -d "$db" lim
		run --separate-stderr sql "$db" "SELECT sum(n), max(n) FROM (SELECT count(*) AS n FROM $tbl GROUP BY ev_txid) t"
		[ "$output" = "7|3" ]
		seq 1 3 | sed 's/^/s\t/' | pgq-insert --single-transaction -d "$db" lim
		run --separate-stderr sh -c "seq 1 4 | sed 's/^/x\t/' | pgq-insert --single-transaction -d $db lim"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"pgq-insert: stdin line 4: queue 'lim' allows max 3 events from one transaction"* ]]
		[ "$(sql "$db" "SELECT count(*) FROM $tbl WHERE ev_type = 'x'")" = 0 ]
		# --stream: the batch within the limit is moved and re-emitted, the next refused
		{
			printf 'batch\t1\t2\t1\t2026-01-02 00:00:01+00\t2026-01-02 00:00:00+00\tq\tc\n'
			printf 'event\t%s\t2001-02-03 04:05:06+00\t9\t\\N\tok\td\t\\N\t\\N\t\\N\t\\N\n' 1 2
			printf 'end\t1\t2\n'
			printf 'batch\t2\t3\t2\t2026-01-02 00:00:02+00\t2026-01-02 00:00:01+00\tq\tc\n'
			printf 'event\t%s\t2001-02-03 04:05:06+00\t9\t\\N\tbig\td\t\\N\t\\N\t\\N\t\\N\n' 3 4 5 6
			printf 'end\t2\t4\n'
		} >"$BATS_TEST_TMPDIR/s"
		run --separate-stderr pgq-insert --stream -d "$db" lim <"$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"batch 2: queue 'lim' allows max 3 events from one transaction"* ]]
		[[ "$output" == "batch	1	"* ]]
		[ "$(sql "$db" "SELECT count(*) FILTER (WHERE ev_type = 'ok'), count(*) FILTER (WHERE ev_type = 'big') FROM $tbl")" = "2|0" ]
		# no event at all allowed
		sql "$db" "UPDATE pgq.queue SET queue_per_tx_limit = 0 WHERE queue_name = 'lim'"
		run --separate-stderr sh -c "printf 'z\t1\n' | pgq-insert -d $db lim"
		[ "$status" -eq 2 ]
		[ "$(sql "$db" "SELECT count(*) FROM $tbl WHERE ev_type = 'z'")" = 0 ]
	done
}
