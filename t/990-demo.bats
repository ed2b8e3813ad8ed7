#!/usr/bin/env bats
# make demo: each part runs, and nothing it started outlives it.
load helper

# The demos start their own clusters.
setup_file() { :; }
teardown_file() { :; }

setup() {
	# Every process a demo starts inherits this variable, daemons and the
	# server included; the test itself does not carry it.
	MARK="skytools-demo-$BATS_TEST_NUMBER-$$-$RANDOM"
}

teardown() {
	local p
	for p in $(marked_pids "$MARK"); do kill -KILL "$p" 2>/dev/null || :; done
}

# Output to files, not to `run`'s pipe: a process left behind would hold
# that pipe open and hang the test instead of failing it.
demo() {
	status=0
	env SKYTOOLS_TEST_MARK="$MARK" sh "$TOP/t/demo/$1.sh" "$SKYTOOLS_BUILD" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	output=$(cat "$BATS_TEST_TMPDIR/out")
	stderr=$(cat "$BATS_TEST_TMPDIR/err")
}

# What is left once the demo has returned, with what it is.
survivors() {
	local p
	for p in $(marked_pids "$MARK"); do
		printf '%s %s\n' "$p" "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")"
	done
}

@test "the pgq demo delivers every event and leaves no process behind" {
	demo pgq
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	[[ "$output" == *"pgq demo: done"* ]]
	left=$(survivors)
	[ -z "$left" ] || { echo "still running: $left"; false; }
}

@test "the londiste demo leaves no process behind" {
	demo londiste
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	[[ "$output" == *"both tables equal"* ]]
	left=$(survivors)
	[ -z "$left" ] || { echo "still running: $left"; false; }
}

@test "the walmgr demo leaves no process behind, whatever its outcome" {
	demo walmgr
	left=$(survivors)
	[ -z "$left" ] || { echo "still running: $left"; false; }
}

@test "a demo that fails half-way still stops its pipelines" {
	# Interrupted while the consumers' pipelines run.
	env SKYTOOLS_TEST_MARK="$MARK" sh "$TOP/t/demo/pgq.sh" "$SKYTOOLS_BUILD" \
		>"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	wait_for grep -q 'two producers' "$BATS_TEST_TMPDIR/out"
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -ne 0 ]
	left=$(survivors)
	[ -z "$left" ] || { echo "still running: $left"; false; }
}
