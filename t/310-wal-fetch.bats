#!/usr/bin/env bats
# wal-fetch: restores verified files only; missing is exit 1.
load helper

setup_file() {
	W=$(mktemp -d /tmp/skytools-w.XXXXXX)
	echo "$W" > "$BATS_FILE_TMPDIR/wdir"
	head -c 2000000 /dev/urandom > "$W/seg"
}
teardown_file() { rm -rf "$(cat "$BATS_FILE_TMPDIR/wdir")"; }
setup() {
	W=$(cat "$BATS_FILE_TMPDIR/wdir")
	A="$W/a$BATS_TEST_NUMBER"
	mkdir -p "$A" "$W/o$BATS_TEST_NUMBER"
	O="$W/o$BATS_TEST_NUMBER"
	wal-push -A "$A" "$W/seg" 000000010000000000000001
	wal-push -A "$A" --compress zstd "$W/seg" 000000010000000000000002
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
	cmp "$W/seg" "$O/x"
	wal-fetch -A "$A" 000000010000000000000002 - > "$O/y"
	cmp "$W/seg" "$O/y"
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
	cp "$W/seg" "$A/wal/000000010000000000000001"
	run --separate-stderr wal-fetch -A "$A" 000000010000000000000001 "$O/x"
	[ "$status" -eq 4 ]
	[ ! -e "$O/x" ]
}
