#!/usr/bin/env bats
# wal-push: durable, never overwrites, whole-or-nothing, private files.
load helper

# No server needed here: a plain temporary directory.
setup_file() {
	W=$(mktemp -d /tmp/skytools-w.XXXXXX)
	echo "$W" > "$BATS_FILE_TMPDIR/wdir"
	for n in 1 2 3; do
		wal_segment 00000001000000000000000$n > "$W/seg$n"
	done
	# The same segment with other content.
	wal_segment 000000010000000000000001 > "$W/other"
}
teardown_file() {
	W=$(cat "$BATS_FILE_TMPDIR/wdir")
	umount "$W/small" 2>/dev/null || true
	rm -rf "$W"
}
setup() {
	W=$(cat "$BATS_FILE_TMPDIR/wdir")
	A="$W/arch $BATS_TEST_NUMBER"
	mkdir -p "$A"
}

SEG=000000010000000000000001

@test "wal-push: basic checks" {
	basic_checks wal-push
}

@test "wal-push: push and fetch back, plain and zstd, path with spaces" {
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 0 ]
	run --separate-stderr wal-push -A "$A" --compress zstd "$W/seg2" 000000010000000000000002
	[ "$status" -eq 0 ]
	[ -f "$A/wal/$SEG" ]
	[ -f "$A/wal/000000010000000000000002.zst" ]
	wal-fetch -A "$A" $SEG "$W/out1"
	cmp "$W/seg1" "$W/out1"
	wal-fetch -A "$A" 000000010000000000000002 "$W/out2"
	cmp "$W/seg2" "$W/out2"
	# A compressed file stays a valid zstd file.
	if command -v zstd >/dev/null; then
		zstd -q -d -c "$A/wal/000000010000000000000002.zst" | cmp - "$W/seg2"
	fi
	# No temporary files are left.
	[ "$(ls -A "$A/wal" | wc -l)" -eq 2 ]
}

@test "wal-push: the trailer holds the standard CRC-32C, the size and the name" {
	# Values from a bitwise reference implementation: short files take
	# the byte path, long ones the three-lane hardware path.
	# (History and partial files: a segment has a page header and a
	# size these contents do not have.)
	printf 123456789 > "$W/check"
	wal-push -A "$A" "$W/check" 00000002.history
	run sh -c "tail -c 80 '$A/wal/00000002.history' | od -An -tx4 -w80"
	[ "$(echo $output | cut -d' ' -f1-9)" = "184d2a5b 00000048 57594b53 00000002 00000000 e3069283 00000009 00000000 e3069283" ]
	[ "$(tail -c 44 "$A/wal/00000002.history" | head -c 40 | tr -d '\0')" = 00000002.history ]
	awk 'BEGIN { for (i = 0; i < 20000; i++) print i }' > "$W/known"
	wal-push -A "$A" "$W/known" $SEG.partial
	run sh -c "tail -c 80 '$A/wal/$SEG.partial' | od -An -tx4 -w80"
	[ "$(echo $output | cut -d' ' -f1-9)" = "184d2a5b 00000048 57594b53 00000002 00000000 7f53ff3b 0001a95a 00000000 7f53ff3b" ]
	[ "$(tail -c 44 "$A/wal/$SEG.partial" | head -c 40 | tr -d '\0')" = $SEG.partial ]
}

@test "wal-push: a stale temporary file is replaced, never reused or written through" {
	# A 0644 leftover: the archived file is still private.
	umask 022
	printf 'stale' > "$A/.$SEG.tmp"
	mkdir -p "$A/wal"
	mv "$A/.$SEG.tmp" "$A/wal/.$SEG.tmp"
	chmod 644 "$A/wal/.$SEG.tmp"
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$A/wal/$SEG")" = 600 ]
	# A hard link at the temporary name: its target is left alone.
	printf 'precious' > "$W/precious"
	ln "$W/precious" "$A/wal/.000000010000000000000002.tmp"
	run --separate-stderr wal-push -A "$A" "$W/seg2" 000000010000000000000002
	[ "$status" -eq 0 ]
	[ "$(cat "$W/precious")" = precious ]
	# A symbolic link there: the same.
	ln -s "$W/precious" "$A/wal/.000000010000000000000003.tmp"
	run --separate-stderr wal-push -A "$A" "$W/seg3" 000000010000000000000003
	[ "$status" -eq 0 ]
	[ "$(cat "$W/precious")" = precious ]
	[ "$(stat -c %a "$A/wal/000000010000000000000003")" = 600 ]
	for n in 1 2 3; do
		wal-fetch -A "$A" 00000001000000000000000$n "$W/out"
		cmp "$W/seg$n" "$W/out"
	done
	[ "$(ls -A "$A/wal" | wc -l)" -eq 3 ]
}

@test "wal-push: history, backup and partial files" {
	printf '1\t0/3000000\tno recovery target specified\n' > "$W/hist"
	for n in 00000002.history $SEG.00000028.backup $SEG.partial; do
		run --separate-stderr wal-push -A "$A" "$W/hist" "$n"
		[ "$status" -eq 0 ]
		wal-fetch -A "$A" "$n" "$W/back"
		cmp "$W/hist" "$W/back"
	done
}

# nothing_archived: the archive holds no file (an empty wal/ or none).
nothing_archived() {
	[ ! -e "$A/wal" ] || [ -z "$(ls -A "$A/wal")" ]
}

@test "wal-push: a file of the wrong size under a segment's name is refused" {
	head -c 3000000 /dev/urandom > "$W/bad"
	run --separate-stderr wal-push -A "$A" "$W/bad" $SEG
	[ "$status" -eq 2 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == "wal-push: $W/bad: not WAL segment $SEG: 3000000 bytes: not a WAL segment"*"nothing archived" ]]
	nothing_archived
	# A valid size that is not the one its header says.
	wal_segment $SEG 2097152 | head -c 1048576 > "$W/bad"
	run --separate-stderr wal-push -A "$A" -c zstd "$W/bad" $SEG
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"1048576 bytes, but its header says a segment has 2097152"* ]]
	nothing_archived
	# The same over --stdin.
	run --separate-stderr wal-push -A "$A" --stdin 3000000 $SEG < <(head -c 3000000 /dev/urandom)
	[ "$status" -eq 2 ]
	nothing_archived
}

@test "wal-push: a file without a WAL page header is refused" {
	head -c 1048576 /dev/zero > "$W/bad"
	run --separate-stderr wal-push -A "$A" "$W/bad" $SEG
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not WAL segment $SEG: no WAL long page header"* ]]
	nothing_archived
	# A segment whose first page lost its XLP_LONG_HEADER flag.
	refused_with_byte 2 '\0' "no WAL long page header"
	# A nonsense block size.
	refused_with_byte 37 '\377' "block size"
}

# refused_with_byte OFFSET BYTE MESSAGE: seg1 with BYTE (printf's
# escape) at OFFSET is refused with MESSAGE, and nothing is archived.
refused_with_byte() {
	cp "$W/seg1" "$W/bad"
	printf "$2" | dd of="$W/bad" bs=1 seek="$1" conv=notrunc status=none
	run --separate-stderr wal-push -A "$A" "$W/bad" $SEG
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$3"* ]]
	nothing_archived
}

@test "wal-push: a segment under another segment's name is refused" {
	run --separate-stderr wal-push -A "$A" "$W/seg2" $SEG
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not WAL segment $SEG: header is of WAL address 0/200000 (000000010000000000000002), not 0/100000 where"* ]]
	# The same segment on a later log, and on a later timeline: the
	# header holds both.
	run --separate-stderr wal-push -A "$A" "$W/seg1" 000000010000000100000001
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"header is of WAL address 0/100000"* ]]
	wal_segment 000000020000000000000001 > "$W/tl2"
	run --separate-stderr wal-push -A "$A" "$W/tl2" $SEG
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"header's timeline 2 does not fit the name's timeline 1"* ]]
	nothing_archived
	# The first segment of a new timeline starts as a copy of its
	# parent's: a parent's timeline in its header is what the server
	# archives.
	run --separate-stderr wal-push -A "$A" "$W/seg1" 000000020000000000000001
	[ "$status" -eq 0 ]
}

@test "wal-push: a FIFO source that is not a segment is refused after the copy, nothing left" {
	mkfifo "$W/badfifo"
	head -c 1048576 /dev/zero > "$W/badfifo" &
	feeder=$!
	run --separate-stderr wal-push -A "$A" "$W/badfifo" $SEG
	wait $feeder
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no WAL long page header"* ]]
	nothing_archived
	rm "$W/badfifo"
}

@test "wal-push: archived files and directories are private" {
	wal-push -A "$A" "$W/seg1" $SEG
	[ "$(stat -c %a "$A/wal")" = 700 ]
	[ "$(stat -c %a "$A/wal/$SEG")" = 600 ]
	if [ "$(id -u)" = 0 ]; then
		chmod 755 "$A"
		run runuser -u nobody -- cat "$A/wal/$SEG"
		[ "$status" -ne 0 ]
		run runuser -u nobody -- ls "$A/wal"
		[ "$status" -ne 0 ]
	fi
}

@test "wal-push: identical re-push succeeds, different content is refused" {
	wal-push -A "$A" "$W/seg1" $SEG
	before=$(md5sum < "$A/wal/$SEG")
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 0 ]
	# Same content with another compression is still the same file.
	run --separate-stderr wal-push -A "$A" --compress zstd "$W/seg1" $SEG
	[ "$status" -eq 0 ]
	[ ! -e "$A/wal/$SEG.zst" ]
	run --separate-stderr wal-push -A "$A" "$W/other" $SEG
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"different content"* ]]
	# A prefix of the archived content is different content too (a
	# partial file: as a segment the prefix is refused for its size).
	wal-push -A "$A" "$W/seg1" $SEG.partial
	head -c 1000 "$W/seg1" > "$W/prefix"
	run --separate-stderr wal-push -A "$A" "$W/prefix" $SEG.partial
	[ "$status" -eq 4 ]
	run --separate-stderr wal-push -A "$A" "$W/prefix" $SEG
	[ "$status" -eq 2 ]
	[ "$(md5sum < "$A/wal/$SEG")" = "$before" ]
	[ "$(ls -A "$A/wal" | wc -l)" -eq 2 ]
}

@test "wal-push: re-push onto a damaged archived copy is refused" {
	wal-push -A "$A" "$W/seg1" $SEG
	# a byte that differs from the random one there (an 'X' written
	# over an 'X' damaged nothing: one run in 256 failed)
	b=X
	[ "$(dd if="$A/wal/$SEG" bs=1 skip=1000 count=1 2>/dev/null)" != X ] || b=Y
	printf '%s' "$b" | dd of="$A/wal/$SEG" bs=1 seek=1000 conv=notrunc 2>/dev/null
	cmp -s "$W/seg1" "$A/wal/$SEG" && false
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 4 ]
	[[ "$stderr" == *damaged* ]]
}

@test "wal-push: usage errors and missing inputs" {
	run --separate-stderr wal-push -A "$A" "$W/seg1" notawalname
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push "$W/seg1" $SEG
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push -A "$A" --compress lz4 "$W/seg1" $SEG
	[ "$status" -eq 2 ]
	# A missing archive (say, an unmounted disk) is not created.
	run --separate-stderr wal-push -A "$W/nonexistent" "$W/seg1" $SEG
	[ "$status" -eq 3 ]
	[ ! -e "$W/nonexistent" ]
	run --separate-stderr wal-push -A "$A" "$W/no-such-file" $SEG
	[ "$status" -eq 3 ]
	[ ! -e "$A/wal/$SEG" ]
}

@test "wal-push: SIGKILL mid-copy leaves nothing under the final name" {
	# A slow pipe holds wal-push in the middle of the copy.
	mkfifo "$W/fifo"
	# (exec: the pid is the sleep's, so that the kill below ends it;
	# a sleep left behind held bats' output open for 30 s)
	{ head -c 1000000 "$W/seg1"; exec sleep 30; } > "$W/fifo" 3>&- &
	feeder=$!
	wal-push -A "$A" "$W/fifo" $SEG &
	pusher=$!
	wait_for test -s "$A/wal/.$SEG.tmp"
	kill -9 $pusher
	wait $pusher || true
	kill $feeder 2>/dev/null || true
	wait $feeder 2>/dev/null || true
	[ ! -e "$A/wal/$SEG" ]
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 0 ]
	wal-fetch -A "$A" $SEG "$W/out"
	cmp "$W/seg1" "$W/out"
	[ "$(ls -A "$A/wal")" = "$SEG" ]
}

@test "wal-push: SIGKILL at random points: whole file or nothing" {
	# Big enough for a kill to land in the middle of the copy; one
	# file, its page header rewritten for each name.
	wal_segment $SEG 33554432 > "$W/big"
	for i in $(seq 1 15); do
		name=$(printf '0000000100000000000000%02X' "$i")
		wal_header "$name" 33554432 | dd of="$W/big" conv=notrunc status=none
		wal-push -A "$A" --compress "$( [ $((i % 2)) = 0 ] && echo zstd || echo none)" \
			"$W/big" "$name" &
		pid=$!
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 $pid 2>/dev/null || true
		wait $pid || true
		if [ -e "$A/wal/$name" ] || [ -e "$A/wal/$name.zst" ]; then
			wal-fetch -A "$A" "$name" "$W/out"
			cmp "$W/big" "$W/out"
		fi
		run --separate-stderr wal-push -A "$A" "$W/big" "$name"
		[ "$status" -eq 0 ]
		wal-fetch -A "$A" "$name" "$W/out"
		cmp "$W/big" "$W/out"
	done
	rm -f "$W/big"
}

@test "wal-push: a full disk fails cleanly, a retry succeeds" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir -p "$W/small"
	mount -t tmpfs -o size=8m tmpfs "$W/small" || skip "cannot mount tmpfs"
	wal_segment $SEG 4194304 > "$W/four1"
	wal_segment 000000010000000000000002 4194304 > "$W/four2"
	wal-push -A "$W/small" "$W/four1" $SEG
	run --separate-stderr wal-push -A "$W/small" "$W/four2" 000000010000000000000002
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"No space left"* ]]
	[ "$(ls -A "$W/small/wal")" = "$SEG" ]
	rm "$W/small/wal/$SEG"
	run --separate-stderr wal-push -A "$W/small" "$W/four2" 000000010000000000000002
	[ "$status" -eq 0 ]
	wal-fetch -A "$W/small" 000000010000000000000002 "$W/out"
	cmp "$W/four2" "$W/out"
	umount "$W/small"
}

@test "wal-push --stdin: exactly the size given, or nothing archived" {
	run --separate-stderr wal-push -A "$A" --stdin 1048576 "$SEG" < "$W/seg1"
	[ "$status" -eq 0 ]
	wal-fetch -A "$A" "$SEG" - | cmp - "$W/seg1"
	# Short (a dropped connection) and long input: refused, no file.
	run --separate-stderr sh -c 'head -c 1000 "$1" | wal-push -A "$2" --stdin 1048576 000000010000000000000002' sh "$W/seg1" "$A"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"1000 bytes of 1048576"* ]]
	run --separate-stderr sh -c 'cat "$1" "$1" | wal-push -A "$2" --stdin 1048576 000000010000000000000003' sh "$W/seg1" "$A"
	[ "$status" -eq 3 ]
	[ "$(ls -A "$A/wal")" = "$SEG" ]
	# The same content again is success, other content refused.
	run --separate-stderr wal-push -A "$A" --stdin 1048576 "$SEG" < "$W/seg1"
	[ "$status" -eq 0 ]
	run --separate-stderr wal-push -A "$A" --stdin 1048576 "$SEG" < "$W/other"
	[ "$status" -eq 4 ]
	run --separate-stderr wal-push -A "$A" --stdin 10 a b
	[ "$status" -eq 2 ]
}

@test "wal-push: a link to nothing or a FIFO at the archived name is refused, never replaced or waited on" {
	mkdir -p "$A/wal"
	ln -s "$W/unmounted/$SEG" "$A/wal/$SEG"
	run --separate-stderr wal-push -A "$A" "$W/seg1" $SEG
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"symbolic link to nothing"* ]]
	[ -L "$A/wal/$SEG" ]
	mkfifo "$A/wal/000000010000000000000002"
	run --separate-stderr timeout 60 wal-push -A "$A" "$W/seg2" 000000010000000000000002
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"not a regular file"* ]]
	[ -p "$A/wal/000000010000000000000002" ]
}
