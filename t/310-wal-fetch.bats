#!/usr/bin/env bats
# wal-fetch: restores verified files only; missing is exit 1.
load helper

setup_file() {
	W=$(mktemp -d /tmp/skytools-w.XXXXXX)
	echo "$W" > "$BATS_FILE_TMPDIR/wdir"
	for n in 1 2 3 4 7; do
		wal_segment 00000001000000000000000$n > "$W/seg$n"
	done
}
teardown_file() { rm -rf "$(cat "$BATS_FILE_TMPDIR/wdir")"; }
setup() {
	W=$(cat "$BATS_FILE_TMPDIR/wdir")
	A="$W/a$BATS_TEST_NUMBER"
	mkdir -p "$A" "$W/o$BATS_TEST_NUMBER"
	O="$W/o$BATS_TEST_NUMBER"
	wal-push -A "$A" "$W/seg1" 000000010000000000000001
	wal-push -A "$A" --compress zstd "$W/seg2" 000000010000000000000002
}

flip() {	# flip one byte of FILE at OFFSET
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(( (b ^ 1) & 255 )))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

@test "wal-fetch: basic checks" {
	basic_checks wal-fetch
}

@test "wal-fetch: restores plain and compressed files, and to stdout" {
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 0 ]
	cmp "$W/seg1" "$O/x"
	wal-fetch -A "$A" 000000010000000000000002 - > "$O/y"
	cmp "$W/seg2" "$O/y"
	[ "$(ls -A "$O")" = "$(printf 'x\ny')" ]
}

@test "wal-fetch: a file not in the archive is exit 1 and creates nothing" {
	run --separate-stderr wal-fetch -A "$A" 00000002.history "$O/x"
	[ "$status" -eq 1 ]
	[ ! -e "$O/x" ]
	[ -z "$(ls -A "$O")" ]
}

@test "wal-fetch: a missing archive is an error, not the end of the archive" {
	run --separate-stderr wal-fetch -A "$W/unmounted" 000000010000000000000001 "$O/x"
	[ "$status" -eq 3 ]
	[ ! -e "$O/x" ]
}

@test "wal-fetch: usage errors" {
	run --separate-stderr wal-fetch -A "$A" bogus "$O/x"
	[ "$status" -eq 2 ]
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001
	[ "$status" -eq 2 ]
}

@test "wal-fetch: a flipped byte anywhere is refused and caught by wal-check --verify" {
	for f in 000000010000000000000001 000000010000000000000002.zst; do
		size=$(stat -c %s "$A/wal/$f")
		for off in 0 $((size / 2)) $((size - 41)) $((size - 30)) $((size - 1)); do
			cp "$A/wal/$f" "$W/keep"
			flip "$A/wal/$f" "$off"
			run --separate-stderr wal-fetch -A "$A" "${f%.zst}" "$O/x"
			[ "$status" -eq 4 ] || { echo "$f at $off: $status" >&2; false; }
			[[ "$stderr" == *damaged* ]]
			[ ! -e "$O/x" ]
			[ -z "$(ls -A "$O")" ]
			run --separate-stderr wal-check -A "$A" --verify
			[ "$status" -eq 1 ]
			[[ "$output" == *"damaged	$f"* ]]
			cp "$W/keep" "$A/wal/$f"
		done
	done
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 0 ]
}

@test "wal-fetch: a truncated or foreign file is refused" {
	truncate -s 1000000 "$A/wal/000000010000000000000001"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 4 ]
	cp "$W/seg1" "$A/wal/000000010000000000000001"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 4 ]
	[ ! -e "$O/x" ]
}

@test "wal-fetch: a destination that is not a regular file is refused, never replaced" {
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 /dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"/dev/null: exists and is not a regular file"* ]]
	[ -c /dev/null ]
	mkdir "$O/dir"
	ln -s "$W/seg1" "$O/link"
	mkfifo "$O/fifo"
	for d in dir link fifo; do
		run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/$d"
		[ "$status" -eq 2 ]
	done
	[ -d "$O/dir" ] && [ -L "$O/link" ] && [ -p "$O/fifo" ]
	# An existing regular file is replaced (PostgreSQL's RECOVERYXLOG).
	echo old > "$O/x"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 0 ]
	cmp "$W/seg1" "$O/x"
}

@test "wal-fetch --restore-command: failures other than a missing file exit above 125" {
	run --separate-stderr wal-fetch --restore-command -A "$A" 000000010000000000000009 "$O/x"
	[ "$status" -eq 1 ]
	run --separate-stderr wal-fetch --restore-command -A "$W/nonexistent" 000000010000000000000001 "$O/x"
	[ "$status" -eq 131 ]
	[[ "$stderr" == *"recovery stopped"* ]]
	flip "$A/wal/000000010000000000000001" 100
	run --separate-stderr wal-fetch -R -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 132 ]
	[ ! -e "$O/x" ]
	run --separate-stderr wal-fetch --restore-command -A "$A" bogus "$O/x"
	[ "$status" -eq 130 ]
	run --separate-stderr wal-fetch --no-such --restore-command -A "$A" 000000010000000000000002 "$O/x"
	[ "$status" -eq 130 ]
}

@test "wal-fetch: a file under another name (a link in the archive) is refused" {
	wal-push -A "$A" "$W/seg3" 000000010000000000000003
	ln -s 000000010000000000000001 "$A/wal/000000010000000000000004"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000004 "$O/x"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"holds 000000010000000000000001, not 000000010000000000000004"* ]]
	[ ! -e "$O/x" ]
	cp "$A/wal/000000010000000000000002.zst" "$A/wal/000000010000000000000005.zst"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000005 -
	[ "$status" -eq 4 ]
	[ -z "$output" ]
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"damaged	000000010000000000000004	holds 000000010000000000000001"* ]]
}

@test "wal-fetch: an archived file that is not its segment is refused, and stops recovery" {
	# What wal-push archived before it checked segments: intact by its
	# checksums, but not the segment of its name.
	head -c 3000000 /dev/urandom > "$W/junk$BATS_TEST_NUMBER"
	wal_store_unchecked "$A" "$W/junk$BATS_TEST_NUMBER" 000000010000000000000003
	wal_store_unchecked "$A" "$W/seg1" 000000010000000000000004 zstd
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000003 "$O/x"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"damaged, not restored: not WAL segment 000000010000000000000003: 3000000 bytes"* ]]
	[ -z "$(ls -A "$O")" ]
	run --separate-stderr wal-fetch -R -A "$A" 000000010000000000000004 "$O/x"
	[ "$status" -eq 132 ]
	[[ "$stderr" == *"header is of WAL address 0/100000"*"recovery stopped"* ]]
	[ -z "$(ls -A "$O")" ]
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000004 -
	[ "$status" -eq 4 ]
	[ -z "$output" ]
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"damaged	000000010000000000000003	3000000 bytes: not a WAL segment"* ]]
	[[ "$output" == *"damaged	000000010000000000000004.zst	header is of WAL address 0/100000"* ]]
	[ "$(grep -c '^damaged' <<< "$output")" -eq 2 ]
}

@test "wal-fetch: files of format 1 (no name in the trailer) are still read" {
	# Rewrite a format 2 file as format 1: the same first 36 trailer
	# bytes, frame size 32, version 1, and the CRC-32C of those 36.
	wal-push -A "$A" "$W/seg7" 000000010000000000000007
	python3 "$BATS_TEST_DIRNAME/wal-trailer.py" format1 "$A/wal/000000010000000000000007" "$A/wal/000000010000000000000007"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000007 "$O/x"
	[ "$status" -eq 0 ]
	cmp "$W/seg7" "$O/x"
	run --separate-stderr wal-push -A "$A" "$W/seg7" 000000010000000000000007
	[ "$status" -eq 0 ]
	printf 'X' | dd of="$A/wal/000000010000000000000007" bs=1 seek=10 conv=notrunc 2>/dev/null
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000007 "$O/y"
	[ "$status" -eq 4 ]
}

@test "wal-fetch: a hole in a timeline stops recovery; a missing segment after the last is the end" {
	wal-push -A "$A" "$W/seg4" 000000010000000000000004
	# 3 is missing while 4 of the same timeline is there: damage
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000003 "$O/x"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"later segment 000000010000000000000004"* ]]
	run --separate-stderr wal-fetch -R -A "$A" 000000010000000000000003 "$O/x"
	[ "$status" -eq 132 ]
	[ ! -e "$O/x" ]
	# the server log says where the way out is described
	[[ "$stderr" == *"recovery stopped (exit 132), not ended: fix the archive (wal-check(1), Repairing the archive)"* ]]
	# past the newest of the timeline, and on a timeline with nothing
	# after: the end of the archive, as before
	run --separate-stderr wal-fetch -R -A "$A" 000000010000000000000005 "$O/x"
	[ "$status" -eq 1 ]
	run --separate-stderr wal-fetch -R -A "$A" 000000020000000000000003 "$O/x"
	[ "$status" -eq 1 ]
}

@test "wal-fetch: a link to nothing or a FIFO at the name is not 'not archived', and never hangs" {
	ln -s "$W/gone/000000010000000000000007" "$A/wal/000000010000000000000007"
	run --separate-stderr wal-fetch -R -A "$A" 000000010000000000000007 "$O/x"
	[ "$status" -eq 131 ]
	[[ "$stderr" == *"symbolic link to nothing"* ]]
	mkfifo "$A/wal/000000010000000000000008"
	run --separate-stderr timeout 60 wal-fetch -A "$A" 000000010000000000000008 "$O/x"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"not a regular file"* ]]
	[ ! -e "$O/x" ]
}
