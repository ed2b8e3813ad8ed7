#!/usr/bin/env bats
# Fuzz regressions: the harnesses of t/fuzz/ built with the sanitizers
# (any C compiler, t/fuzz/driver.c instead of libFuzzer) replay every seed
# and every saved crash input of t/fuzz/NAME/; the ini reader gets a short
# differential run.  `make fuzz` is the long version.

load helper

# No database here.
setup_file() {
	"$TOP/t/fuzz/build" "$BATS_FILE_TMPDIR/fuzz" driver >"$BATS_FILE_TMPDIR/build.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/build.log" >&2; return 1; }
}
teardown_file() { :; }

replay() {
	local name=$1 n
	n=$(find "t/fuzz/$name" -maxdepth 1 -type f ! -name '.*' | wc -l)
	[ "$n" -gt 0 ]
	run --separate-stderr env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		"$BATS_FILE_TMPDIR/fuzz/fuzz-$name" "t/fuzz/$name"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	# Every file was fed, none skipped.
	[ "$output" = "$n inputs" ]
}

@test "fuzz: stream reader corpus replays clean" { cd "$TOP"; replay stream; }
@test "fuzz: COPY text corpus replays clean" { cd "$TOP"; replay copytext; }
@test "fuzz: url-encoded rows corpus replays clean" { cd "$TOP"; replay urlenc; }
@test "fuzz: sqltriga fragments corpus replays clean" { cd "$TOP"; replay sqlfrag; }
@test "fuzz: WAL names corpus replays clean" { cd "$TOP"; replay walname; }
@test "fuzz: archived WAL files corpus replays clean" { cd "$TOP"; replay walfile; }

@test "fuzz: the driver fails on an input it cannot read" {
	run --separate-stderr "$BATS_FILE_TMPDIR/fuzz/fuzz-stream" /nonexistent
	[ "$status" -eq 2 ]
}

@test "fuzz: ini reader agrees with its documented format on hostile values" {
	command -v python3 >/dev/null || skip "python3 missing"
	run "$TOP/t/fuzz/ini-fuzz" -n 5 "$TOP/sh/skytools-sh.lib"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "fuzz: ini reader keeps a literal backslash-n in a value" {
	printf '[s]\npath = C:\\new\\dir\n' >"$BATS_TEST_TMPDIR/a.ini"
	run --separate-stderr sh -c '. "$1"; ini_get "$2" s path' x \
		"$TOP/sh/skytools-sh.lib" "$BATS_TEST_TMPDIR/a.ini"
	[ "$status" -eq 0 ]
	[ "$output" = 'C:\new\dir' ]
	printf '[s]\npath = a\\nb\n  c\\\n' >"$BATS_TEST_TMPDIR/b.ini"
	run --separate-stderr sh -c '. "$1"; ini_get "$2" s path' x \
		"$TOP/sh/skytools-sh.lib" "$BATS_TEST_TMPDIR/b.ini"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'a\\nb\nc\\')" ]
}

@test "ini reader: keys of [DEFAULT] are found when asked for by section DEFAULT" {
	printf '[DEFAULT]\nbase = /srv\n[s]\nown = x\n' >"$BATS_TEST_TMPDIR/d.ini"
	run --separate-stderr sh -c '. "$1"; ini_get "$2" DEFAULT base' x \
		"$TOP/sh/skytools-sh.lib" "$BATS_TEST_TMPDIR/d.ini"
	[ "$status" -eq 0 ]
	[ "$output" = /srv ]
	run --separate-stderr sh -c '. "$1"; ini_get "$2" DEFAULT own' x \
		"$TOP/sh/skytools-sh.lib" "$BATS_TEST_TMPDIR/d.ini"
	[ "$status" -eq 1 ]
	run --separate-stderr sh -c '. "$1"; ini_keys "$2" DEFAULT' x \
		"$TOP/sh/skytools-sh.lib" "$BATS_TEST_TMPDIR/d.ini"
	[ "$status" -eq 0 ]
	[ "$output" = base ]
}
