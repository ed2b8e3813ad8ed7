#!/usr/bin/env bats
# t/check-deps: what make check and make demo need, named with the reason.
load helper

setup_file() { :; }
teardown_file() { :; }

# A PATH with every command of this machine but the ones named.
path_without() {
	local d="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$d"
	# awk and one ln, not a shell loop: bats traces every command of a
	# test, which made thousands of them take seconds
	printf '%s\n' /usr/bin/* /usr/sbin/* /bin/* /sbin/* |
		awk -v skip=" $* " '{ n = $0; sub(/.*\//, "", n) } !index(skip, " " n " ") && !seen[n]++' |
		xargs -d '\n' ln -s -t "$d"
	echo "$d"
}

@test "check-deps: a complete machine passes, installing nothing" {
	run --separate-stderr env SKYTOOLS_NO_INSTALL=1 "$TOP/t/check-deps" check
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -z "$stderr" ]
	run --separate-stderr "$TOP/t/check-deps" demo
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "check-deps: SKYTOOLS_NO_INSTALL=1 names what is missing and why, exit 2" {
	p=$(path_without bats ps)
	run --separate-stderr env PATH="$p" SKYTOOLS_NO_INSTALL=1 "$TOP/t/check-deps" check
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bats "*"runs the tests"* ]]
	[[ "$stderr" == *"procps "* ]]
	[[ "$stderr" == *"sudo apt-get install bats procps"* ]]
	# make demo needs neither
	run --separate-stderr env PATH="$p" SKYTOOLS_NO_INSTALL=1 "$TOP/t/check-deps" demo
	[ "$status" -eq 0 ]
}

@test "check-deps: the server headers are required for make check" {
	# pg_config is how the Makefile finds them: without it they count as absent.
	p=$(path_without pg_config)
	major=$(pg_config --version | sed 's/.* \([0-9]*\).*/\1/')
	run --separate-stderr env PATH="$p" SKYTOOLS_NO_INSTALL=1 "$TOP/t/check-deps" check
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"postgresql-server-dev-$major "*"C modules"* ]]
}

@test "check-deps: usage" {
	run --separate-stderr "$TOP/t/check-deps" nonsense
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
}
