#!/usr/bin/env bats
# Attacks on session 9's changes.

load helper

setup_file() {
	pg_start || return 1
	new_db q
}

setup() {
	mkdir -p "$BATS_TEST_TMPDIR/arc"
}

# The segment part of a name counts the segments of one 4 GiB stretch of
# WAL: 0/1FFF names no 1 MiB segment, and its page address is that of
# 1/FFF, a segment that has a name of its own.
@test "wal-push: a name whose segment part is beyond its segment size is no segment" {
	cd "$BATS_TEST_TMPDIR"
	wal_segment 000000010000000100000FFF > seg
	run -2 wal-push -A arc seg 000000010000000000001FFF
	[[ "$output" == *"nothing archived"* ]]
	[ ! -e arc/wal/000000010000000000001FFF ]
	wal-push -A arc seg 000000010000000100000FFF
}

# A source that never ends (a device, a pipe) is not read past the
# largest segment size: it filled the archive's disk.  The feeder is
# cut off (SIGPIPE) only when wal-push stopped reading.
@test "wal-push: a source longer than any segment is refused once it is, not read to its end" {
	cd "$BATS_TEST_TMPDIR"
	run -2 sh -c '{ head -c 2148532224 /dev/zero; echo $? > st; } |
	    wal-push -A arc --compress zstd /dev/stdin 000000010000000000000002'
	[[ "$output" == *"nothing archived"* ]]
	[ "$(cat st)" != 0 ]
	[ -z "$(ls -A arc/wal)" ]
}

# --stdin's size is the sender's word: one that no segment has was
# spooled whole to TMPDIR, then refused as a retry (exit 3), so the
# sender tried again with the same size for ever.
@test "wal-push --stdin: a size no segment has is refused before anything is read" {
	cd "$BATS_TEST_TMPDIR"
	run -2 wal-push -A arc --stdin 2147483648 000000010000000000000003 < /dev/null
	[[ "$output" == *"nothing archived"* ]]
	wal_segment 000000010000000000000003 > seg
	wal-push -A arc --stdin 1048576 000000010000000000000003 < seg
}

# qadmin names the statement in its "no such ..." and syntax messages; a
# connect statement's password is not printed with it.
@test "qadmin: a connect statement's password is masked where the statement is named" {
	run --separate-stderr qadmin -d q -c "connect dbname=q password=s3cret queue=nosuch"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no such queue: nosuch"* ]]
	[[ "$stderr" != *s3cret* ]]
	run --separate-stderr qadmin -d q -c "connect dbname=q password=s3cret queue="
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"syntax error"* ]]
	[[ "$stderr" != *s3cret* ]]
}

# A tick rolled back after it took its id (a ticker cancelled, killed)
# leaves the tick sequence ahead of the last tick.  In a database whose
# transactions are REPEATABLE READ or SERIALIZABLE by default, every
# later tick took that for a snapshot older than the last tick and was
# refused: the queue never ticked again.
@test "ticker: a rolled-back tick does not stop a database whose default isolation is not READ COMMITTED" {
	new_db rr
	sql rr "ALTER DATABASE rr SET default_transaction_isolation = 'repeatable read'"
	sql rr "SELECT pgq.create_queue('rq'); SELECT pgq.register_consumer('rq', 'c')" >/dev/null
	sql rr "BEGIN; SELECT pgq.force_tick('rq'); SELECT pgq.ticker('rq'); ROLLBACK" >/dev/null
	sql rr "SELECT pgq.insert_event('rq', 't', 'e1')" >/dev/null
	run --separate-stderr pgq-tick -d rr
	[ "$status" -eq 0 ]
	tick rr rq
	[ "$(sql rr "SELECT count(*) FROM pgq.get_queue_info('rq') WHERE ticker_lag IS NOT NULL AND ev_new = 0")" = 1 ]
}
