#!/usr/bin/env bats
# sh/skytools-sh.lib's ini reader, as walmgr uses it.
load helper

setup_file() { :; }
teardown_file() { :; }

setup() {
	. "$TOP/sh/skytools-sh.lib"
	PROG=test
	INI="$BATS_TEST_TMPDIR/t.ini"
	cat > "$INI" <<-'INI'
	[DEFAULT]
	base = /srv
	[walmgr]
	job_name = main
	Archive = %(base)s/arch/%(job_name)s
	; a comment
	# another
	pct = 100%%
	colon: yes
	multi = first
	    second
	loop = %(loop)s
	bad = %(nosuch)s
	[other]
	archive = not this one
	INI
}

@test "ini_get: values, case, references, escapes, continuation" {
	[ "$(ini_get "$INI" walmgr archive)" = /srv/arch/main ]
	[ "$(ini_get "$INI" walmgr ARCHIVE)" = /srv/arch/main ]
	[ "$(ini_get "$INI" walmgr pct)" = 100% ]
	[ "$(ini_get "$INI" walmgr colon)" = yes ]
	[ "$(ini_get "$INI" walmgr multi)" = "$(printf 'first\nsecond')" ]
	[ "$(ini_get "$INI" other archive)" = "not this one" ]
	[ "$(ini_get "$INI" other base)" = /srv ]
}

@test "ini_get: missing key 1, bad reference or file 2" {
	run ini_get "$INI" walmgr nokey
	[ "$status" -eq 1 ]
	run ini_get "$INI" walmgr bad
	[ "$status" -eq 2 ]
	run ini_get "$INI" walmgr loop
	[ "$status" -eq 2 ]
	run ini_get "$BATS_TEST_TMPDIR/none.ini" walmgr archive
	[ "$status" -eq 2 ]
}

@test "ini_get: a bad reference is one line with the program's name and the file" {
	run --separate-stderr ini_get "$INI" walmgr bad
	[ "$status" -eq 2 ]
	[ "$stderr" = "test: $INI: bad: unknown reference %(nosuch)s" ]
}

@test "ini_keys: the section's own keys" {
	[ "$(ini_keys "$INI" walmgr | tr '\n' ' ')" = "job_name archive pct colon multi loop bad " ]
}

@test "shquote: survives sh" {
	s="it's a \"test\" \$HOME \\ %p"
	[ "$(eval "printf '%s' $(shquote "$s")")" = "$s" ]
}
