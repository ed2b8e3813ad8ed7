#!/usr/bin/env bats
# Bad input: every program that reads input is fed truncated, reordered,
# oversized (a 100 MB field), non-UTF-8 and binary input.  Each answers
# with one line on stderr and its documented exit status, commits nothing
# of the bad part and writes nothing half-done.

load helper
load 200-londiste

B='batch	5	12	11	2024-01-02 03:04:05+00	2024-01-02 03:04:04+00	q	c'
ev() { printf 'event\t%s\t2024-01-02 03:04:05+00\t100\t\\N\t%s\t%s\tpublic.t\t\\N\t\\N\t\\N\n' "$@"; }

setup_file() {
	pg_start
	new_db bad
	sql bad "SELECT pgq.create_queue('q')" >/dev/null
	sql bad "SELECT pgq.register_consumer('q', 'c')" >/dev/null
	lon_db sub none
	sql sub "CREATE TABLE t (id int PRIMARY KEY, v text)"
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
	sql sub "UPDATE londiste.subscriber_table SET state = 'ok'"
}

# Events stored in queue q (ticked or not).
qcount() {
	local t
	t=$(sql bad "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = '${1:-q}'")
	sql bad "SELECT count(*) FROM $t"
}

# One line on stderr, prefixed by the program's name.
one_line() {
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ] || { echo "stderr: $stderr" >&2; return 1; }
	[[ "$stderr" == "$1: "* ]] || { echo "stderr: $stderr" >&2; return 1; }
}

big() { head -c "$1" /dev/zero | tr '\0' 'x'; }

@test "pgq-insert: truncated, too many fields, bad escape: status 2, nothing committed" {
	n0=$(qcount)
	for input in 'a\tb\nc\td' 'a\tb\nc\td\te\tf\tg\th\ti\n' 'a\tb\nc\tbad\\q\n' 'a\tb\nc\t\\\n'; do
		printf "$input" > "$BATS_TEST_TMPDIR/in"
		run --separate-stderr pgq-insert -d bad q < "$BATS_TEST_TMPDIR/in"
		[ "$status" -eq 2 ] || { echo "input $input: status $status" >&2; false; }
		one_line pgq-insert
		[[ "$stderr" == *"line 2"* ]]
		[ "$(qcount)" = "$n0" ]
	done
}

@test "pgq-insert: a NUL byte in a line is refused, not cut off" {
	n0=$(qcount)
	printf 'a\tb\nc\td\0e\n' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgq-insert -d bad q < "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"line 2: NUL byte"* ]]
	one_line pgq-insert
	[ "$(qcount)" = "$n0" ]
}

@test "pgq-insert: binary input: status 2, nothing committed" {
	n0=$(qcount)
	head -c 65536 /dev/urandom > "$BATS_TEST_TMPDIR/bin"
	run --separate-stderr pgq-insert -d bad q < "$BATS_TEST_TMPDIR/bin"
	[ "$status" -eq 2 ]
	one_line pgq-insert
	[ "$(qcount)" = "$n0" ]
}

@test "pgq-insert: non-UTF-8 data in a UTF-8 database: status 2, nothing committed" {
	n0=$(qcount)
	printf 'ok\tfine\nt\tcaf\xe9 \xff\xfe\n' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgq-insert -d bad q < "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 2 ]
	one_line pgq-insert
	[[ "$stderr" == *UTF8* ]]
	[ "$(qcount)" = "$n0" ]
}

@test "pgq-insert --single-transaction: a bad line after 50000 good ones commits nothing" {
	n0=$(qcount)
	{ seq 1 50000 | sed 's/^/t\t/'; printf 'only-a-type\n'; } > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgq-insert -d bad --single-transaction q < "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 2 ]
	one_line pgq-insert
	[[ "$stderr" == *"line 50001"* ]]
	[ "$(qcount)" = "$n0" ]
}

@test "pgq-insert: a 100 MB field goes in whole or not at all" {
	sql bad "SELECT pgq.create_queue('big')" >/dev/null
	{ printf 'big\t'; big 104857600; printf '\n'; } > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgq-insert -d bad big < "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	t=$(sql bad "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'big'")
	[ "$(sql bad "SELECT count(*), sum(length(ev_data)) FROM $t")" = "1|104857600" ]
	# the same, cut short: nothing
	head -c 50000000 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/cut"
	run --separate-stderr pgq-insert -d bad big < "$BATS_TEST_TMPDIR/cut"
	[ "$status" -eq 2 ]
	one_line pgq-insert
	[ "$(sql bad "SELECT count(*) FROM $t")" = 1 ]
}

@test "pgq-insert --stream: truncated, reordered, miscounted streams insert nothing" {
	sql bad "SELECT pgq.create_queue('dst')" >/dev/null
	{ echo "$B"; ev 1 t a; } > "$BATS_TEST_TMPDIR/trunc"
	{ echo "$B"; ev 1 t a; printf 'end\t5\t1'; } > "$BATS_TEST_TMPDIR/nonl"
	{ ev 1 t a; echo "$B"; printf 'end\t5\t1\n'; } > "$BATS_TEST_TMPDIR/order"
	{ echo "$B"; printf 'end\t5\t0\n'; ev 1 t a; } > "$BATS_TEST_TMPDIR/after"
	{ echo "$B"; ev 1 t a; printf 'end\t5\t2\n'; } > "$BATS_TEST_TMPDIR/count"
	{ echo "$B"; ev 1 t a; printf 'end\t6\t1\n'; } > "$BATS_TEST_TMPDIR/id"
	{ echo "$B"; echo "$B"; } > "$BATS_TEST_TMPDIR/twice"
	# a last line without its newline is a writer that died: 3, as EOF
	for f in trunc:3 nonl:3 order:2 count:2 id:2 twice:2; do
		run --separate-stderr pgq-insert -d bad --stream dst < "$BATS_TEST_TMPDIR/${f%:*}"
		[ "$status" -eq "${f#*:}" ] || { echo "$f: status $status: $stderr" >&2; false; }
		one_line pgq-insert
		[ -z "$output" ]
		[ "$(qcount dst)" = 0 ]
	done
	# an event after a complete batch: that batch went in and was reported
	run --separate-stderr pgq-insert -d bad --stream dst < "$BATS_TEST_TMPDIR/after"
	[ "$status" -eq 2 ]
	[ "$output" = "$(printf '%s\nend\t5\t0' "$B")" ]
}

@test "pgq-events: garbage, binary and reordered input: status 2, nothing printed" {
	for input in 'hello\n' 'event\t1\n' 'batch\tx\t1\t1\ta\tb\tq\tc\n' 'end\t5\t0\n'; do
		printf "$input" > "$BATS_TEST_TMPDIR/in"
		run --separate-stderr pgq-events -d bad < "$BATS_TEST_TMPDIR/in"
		[ "$status" -eq 2 ] || { echo "$input: $status" >&2; false; }
		one_line pgq-events
		[ -z "$output" ]
	done
	head -c 10000 /dev/urandom > "$BATS_TEST_TMPDIR/bin"
	run --separate-stderr pgq-events -d bad < "$BATS_TEST_TMPDIR/bin"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	# a batch line cut short: the writer died, a restart fixes it
	printf '%s' "$B" > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgq-events -d bad < "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 3 ]
	one_line pgq-events
	[ -z "$output" ]
	# a batch id that does not exist
	run --separate-stderr pgq-events -d bad 999999
	[ "$status" -eq 2 ]
	one_line pgq-events
	[ -z "$output" ]
}

@test "pgq-events: a 100 MB field in the input: one short line, no complete batch out" {
	{ printf 'batch\t5\t12\t11\t2024-01-02 03:04:05+00\t'; big 104857600; printf '\tq\tc\n'; } > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr sh -c 'pgq-events -d bad < "$1" > "$2"' x "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	# batch 5 is not open: from a stream that is a batch finished
	# meanwhile, which a restart passes (3)
	[ "$status" -eq 3 ]
	one_line pgq-events
	[ "${#stderr}" -lt 1000 ]
	# It may have started the batch (the record is passed on as read),
	# but with no end record no stage downstream acts on it.
	! grep -q '^end' "$BATS_TEST_TMPDIR/out"
}

@test "pgq-finish-batch: truncated or reordered streams finish nothing of the bad batch" {
	sql bad "SELECT pgq.ticker('q')" >/dev/null
	sql bad "SELECT pgq.insert_event('q', 't', 'd')" >/dev/null
	sql bad "SELECT pgq.force_tick('q')" >/dev/null
	sql bad "SELECT pgq.ticker('q')" >/dev/null
	line=$(pgq-next-batch -d bad q c)
	id=$(printf '%s' "$line" | cut -f2)
	[ -n "$id" ]
	cur() { sql bad "SELECT coalesce(current_batch::text, '-') FROM pgq.get_consumer_info('q', 'c')"; }
	{ echo "$line"; } > "$BATS_TEST_TMPDIR/trunc"
	{ printf 'end\t%s\t0\n' "$id"; echo "$line"; } > "$BATS_TEST_TMPDIR/order"
	{ echo "$line"; printf 'end\t%s\t1\n' "$id"; } > "$BATS_TEST_TMPDIR/count"
	{ echo "$line"; printf 'end\t%s\t0' "$id"; } > "$BATS_TEST_TMPDIR/nonl"
	printf 'caf\xe9\t\xff\n' > "$BATS_TEST_TMPDIR/latin1"
	# pgq-stream(5): the count is a plain decimal number
	{ echo "$line"; printf 'end\t%s\tabc\n' "$id"; } > "$BATS_TEST_TMPDIR/abc"
	{ echo "$line"; printf 'end\t%s\t-0\n' "$id"; } > "$BATS_TEST_TMPDIR/neg0"
	{ echo "$line"; printf 'end\t%s\t\n' "$id"; } > "$BATS_TEST_TMPDIR/empty"
	for f in trunc:3 order:2 count:2 nonl:3 latin1:2 abc:2 neg0:2 empty:2; do
		run --separate-stderr pgq-finish-batch -d bad < "$BATS_TEST_TMPDIR/${f%:*}"
		[ "$status" -eq "${f#*:}" ] || { echo "$f: status $status: $stderr" >&2; false; }
		one_line pgq-finish-batch
		[ "$(cur)" = "$id" ]
	done
	run --separate-stderr pgq-finish-batch -d bad 12abc
	[ "$status" -eq 2 ]
	[ "$(cur)" = "$id" ]
	# --ids: an id cut short is as much a dead writer
	run --separate-stderr sh -c 'printf %s "$1" | pgq-finish-batch -d bad --ids' x "$id"
	[ "$status" -eq 3 ]
	one_line pgq-finish-batch
	[ "$(cur)" = "$id" ]
	# the whole batch: finished
	{ echo "$line"; printf 'end\t%s\t0\n' "$id"; } | pgq-finish-batch -d bad
	[ "$(cur)" = - ]
}

# A stream of one batch for londiste-apply (its tick is unique per call).
apply_stream() {
	local tick=$1; shift
	printf 'batch\t%s\t%s\t%s\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tc\n' "$tick" "$tick" "$((tick - 1))"
	local i=0
	for data in "$@"; do
		i=$((i + 1))
		ev "$i" "I:id" "$data"
	done
	printf 'end\t%s\t%s\n' "$tick" "$i"
}

applied() { sql sub "SELECT count(*) FROM londiste.completed"; }

@test "londiste-apply: truncated, reordered streams apply nothing" {
	sql sub "DELETE FROM t"
	c0=$(applied)
	apply_stream 100 'id=1&v=a' 'id=2&v=b' | head -n 2 > "$BATS_TEST_TMPDIR/trunc"
	apply_stream 101 'id=1&v=a' | head -c -1 > "$BATS_TEST_TMPDIR/nonl"
	apply_stream 102 'id=1&v=a' | awk 'NR == 1 { b = $0; next } NR == 2 { print; print b; next } { print }' > "$BATS_TEST_TMPDIR/order"
	apply_stream 103 'id=1&v=a' | sed '$s/\t1$/\t7/' > "$BATS_TEST_TMPDIR/count"
	for f in trunc:3 nonl:3 order:2 count:2; do
		run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/${f%:*}"
		[ "$status" -eq "${f#*:}" ] || { echo "$f: status $status: $stderr" >&2; false; }
		one_line londiste-apply
		[ -z "$output" ]
		[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
		[ "$(applied)" = "$c0" ]
	done
}

@test "londiste-apply: bad row data rolls back the whole batch" {
	sql sub "DELETE FROM t"
	c0=$(applied)
	# rows that can never apply: status 2, naming the event and table
	for data in 'id=1&v=%zz' 'id=1&v=%00' '=5' 'id=1&=5' 'v=x' 'id=1&v=x&id=77' 'id=1&v=%4'; do
		apply_stream 200 'id=50&v=good' "$data" > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 2 ] || { echo "$data: status $status: $stderr" >&2; false; }
		one_line londiste-apply
		[[ "$stderr" == *"batch 200: event 2 (table public.t)"* ]]
		[ -z "$output" ]
		[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
		[ "$(applied)" = "$c0" ]
	done
	# values the server refuses: status 3 as for any server error
	for data in 'id=x&v=a' 'id=1&nosuchcol=2' "$(printf 'id=1&v=caf\xe9')" 'id=1&v=%ff%fe'; do
		apply_stream 200 'id=50&v=good' "$data" > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 3 ] || { echo "$data: status $status: $stderr" >&2; false; }
		one_line londiste-apply
		[[ "$stderr" == *200* ]]
		[ -z "$output" ]
		[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
		[ "$(applied)" = "$c0" ]
	done
}

@test "londiste-apply: an unknown event type or a malformed end is refused (2), nothing applied" {
	sql sub "DELETE FROM t"
	c0=$(applied)
	{ printf 'batch\t210\t210\t209\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tc\n'
	  ev 7 I:id 'id=1&v=a'; ev 8 X:id 'id=2&v=b'; printf 'end\t210\t2\n'; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	one_line londiste-apply
	[[ "$stderr" == *"event 8 (table public.t): unsupported event type X:id"* ]]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
	[ "$(applied)" = "$c0" ]
	# a table whose key was dropped on the subscriber
	sql sub "CREATE TABLE nk (id int PRIMARY KEY, v text)"
	sql sub "SELECT londiste.subscriber_add_table('q', 'nk', false, true)" >/dev/null
	sql sub "ALTER TABLE nk DROP CONSTRAINT nk_pkey"
	{ printf 'batch\t212\t212\t211\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tc\n'
	  ev 7 I:id 'id=1&v=a'
	  printf 'event\t9\t2024-01-02 03:04:05+00\t100\t\\N\tI:id\tid=1\tpublic.nk\t\\N\t\\N\t\\N\n'
	  printf 'end\t212\t2\n'; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	sql sub "SELECT londiste.subscriber_remove_table('q', 'nk')" >/dev/null
	sql sub "DROP TABLE nk"
	[ "$status" -eq 2 ]
	one_line londiste-apply
	[[ "$stderr" == *"event 9 (table public.nk): the table has no primary key"* ]]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
	[ "$(applied)" = "$c0" ]
	for cnt in abc -0 '' ' 0' 0x0; do
		{ printf 'batch\t211\t211\t210\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tc\n'
		  printf 'end\t211\t%s\n' "$cnt"; } > "$BATS_TEST_TMPDIR/s"
		run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
		[ "$status" -eq 2 ] || { echo "count '$cnt': status $status: $stderr" >&2; false; }
		one_line londiste-apply
		[ -z "$output" ]
		[ "$(applied)" = "$c0" ]
	done
}

@test "londiste-apply: binary input is refused, nothing applied" {
	sql sub "DELETE FROM t"
	c0=$(applied)
	{ apply_stream 300 'id=1&v=a' | head -n 2; head -c 5000 /dev/urandom; printf '\n'; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	one_line londiste-apply
	[ -z "$output" ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]
	[ "$(applied)" = "$c0" ]
}

@test "londiste-apply: a 100 MB value is applied whole" {
	{ printf 'batch\t400\t400\t399\t2024-01-02 03:04:05+00\t2024-01-02 03:04:04+00\tq\tc\n'
	  printf 'event\t1\t2024-01-02 03:04:05+00\t100\t\\N\tI:id\tid=77&v='; big 104857600
	  printf '\tpublic.t\t\\N\t\\N\t\\N\nend\t400\t1\n'; } > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql sub 'SELECT length(v) FROM t WHERE id = 77')" = 104857600 ]
	sql sub "DELETE FROM t"
}

@test "wal-push: garbage names and sources; an archived name with other content is refused" {
	A=$BATS_TEST_TMPDIR/arch
	mkdir -p "$A"
	wal_segment 000000010000000000000001 > "$BATS_TEST_TMPDIR/seg"
	for name in garbage 00000001000000000000000 000000010000000000000001x '../000000010000000000000001' "$(printf '0000000100000000\xff0000001')" ''; do
		run --separate-stderr wal-push -A "$A" "$BATS_TEST_TMPDIR/seg" "$name"
		[ "$status" -eq 2 ] || { echo "$name: $status" >&2; false; }
		one_line wal-push
	done
	run --separate-stderr wal-push -A "$A" "$BATS_TEST_TMPDIR/nonexistent" 000000010000000000000001
	[ "$status" -eq 3 ]
	one_line wal-push
	run --separate-stderr wal-push -A "$A" "$BATS_TEST_TMPDIR" 000000010000000000000001
	[ "$status" -eq 3 ]
	one_line wal-push
	# not a segment under a segment's name: bad input, nothing archived
	for src in /dev/null "$BATS_TEST_TMPDIR/seg"; do
		run --separate-stderr wal-push -A "$A" "$src" 000000010000000000000002
		[ "$status" -eq 2 ]
		one_line wal-push
	done
	[ -z "$(ls -A "$A/wal" 2>/dev/null)" ]
	wal-push -A "$A" "$BATS_TEST_TMPDIR/seg" 000000010000000000000001
	printf 'x' | dd of="$BATS_TEST_TMPDIR/seg" bs=1 seek=100 conv=notrunc 2>/dev/null
	run --separate-stderr wal-push -A "$A" "$BATS_TEST_TMPDIR/seg" 000000010000000000000001
	[ "$status" -eq 4 ]
	one_line wal-push
	# nothing but the archived files and the archive's own state
	[ -z "$(find "$A" -name '*tmp*')" ]
}

@test "wal-fetch: damaged, truncated, foreign files in the archive: status 4, nothing left behind" {
	A=$BATS_TEST_TMPDIR/arch
	mkdir -p "$A"
	wal_segment 000000010000000000000001 > "$BATS_TEST_TMPDIR/seg"
	wal-push -A "$A" "$BATS_TEST_TMPDIR/seg" 000000010000000000000001
	f=$(find "$A" -type f -name '000000010000000000000001*' | head -1)
	[ -n "$f" ]
	cp "$f" "$BATS_TEST_TMPDIR/good"
	out=$BATS_TEST_TMPDIR/restored
	damage() {
		chmod u+w "$f"
		case $1 in
		flip) cp "$BATS_TEST_TMPDIR/good" "$f"; printf 'x' | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null ;;
		trunc) head -c 1000000 "$BATS_TEST_TMPDIR/good" > "$f" ;;
		tail) head -c -1 "$BATS_TEST_TMPDIR/good" > "$f" ;;
		foreign) cp "$BATS_TEST_TMPDIR/seg" "$f" ;;
		empty) : > "$f" ;;
		binary) head -c 4096 /dev/urandom > "$f" ;;
		esac
	}
	for how in flip trunc tail foreign empty binary; do
		damage "$how"
		run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$out"
		[ "$status" -eq 4 ] || { echo "$how: $status $stderr" >&2; false; }
		one_line wal-fetch
		[ ! -e "$out" ]
		[ -z "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '*restored*')" ]
	done
	cp "$BATS_TEST_TMPDIR/good" "$f"
	wal-fetch -A "$A" 000000010000000000000001 "$out"
	cmp "$out" "$BATS_TEST_TMPDIR/seg"
}
