#!/usr/bin/env bats
# pgq-status.
load helper

flavours() {
	have_debian_pgq && echo debian
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && echo ours
	return 0
}

setup_file() {
	pg_start
	for f in $(flavours); do
		new_db "st_$f" "$f"
		sql "st_$f" "SELECT pgq.create_queue('qa')" >/dev/null
		sql "st_$f" "SELECT pgq.create_queue('qb')" >/dev/null
		sql "st_$f" "SELECT pgq.create_queue('q\"uote\\d')" >/dev/null
		sql "st_$f" "SELECT pgq.register_consumer('qa', 'c1')" >/dev/null
		sql "st_$f" "SELECT pgq.register_consumer('qa', 'c2')" >/dev/null
		sql "st_$f" "SELECT pgq.register_consumer('q\"uote\\d', 'c\"x')" >/dev/null
		sql "st_$f" "SELECT pgq.insert_event('qa', 't', 'd') FROM generate_series(1, 5)" >/dev/null
	done
}

@test "basic checks" {
	run --separate-stderr pgq-status --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	usage_is_synopsis pgq-status
	run --separate-stderr pgq-status --version
	[ "$status" -eq 0 ]
	[[ "$output" == "pgq-status "* ]]
	run --separate-stderr pgq-status --no-such-option
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr pgq-status a b c
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
}

@test "pgq-status: TSV of queues and consumers with a header (both flavours)" {
	[ -n "$(flavours)" ]
	for f in $(flavours); do
		run --separate-stderr pgq-status -d "dbname=st_$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "${lines[0]}" = $'queue\tticker_lag\tev_per_sec\tev_new\tconsumer\tlag\tlast_seen\tpending_events\tlast_tick\tcurrent_batch' ]
		# qa twice (two consumers), qb once (none), the quoted one once
		[ "${#lines[@]}" -eq 5 ]
		row=$(printf '%s\n' "${lines[@]}" | awk -F '\t' '$1 == "qa" && $5 == "c2"')
		[ -n "$row" ]
		# (Debian's PgQ counts one event less here than ours)
		[ "$(cut -f4 <<<"$row")" -ge 4 ]
		row=$(printf '%s\n' "${lines[@]}" | awk -F '\t' '$1 == "qb"')
		[ "$(cut -f5 <<<"$row")" = '\N' ]
		# every row has ten fields
		[ "$(printf '%s\n' "${lines[@]}" | awk -F '\t' 'NF != 10' | wc -l)" -eq 0 ]
	done
}

@test "pgq-status QUEUE and QUEUE CONSUMER filter" {
	for f in $(flavours); do
		run --separate-stderr pgq-status -d "dbname=st_$f" qa
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 3 ]
		run --separate-stderr pgq-status -d "dbname=st_$f" qa c1
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 2 ]
		[[ "${lines[1]}" == qa$'\t'*$'\t'c1$'\t'* ]]
	done
}

@test "pgq-status: missing queue or consumer exits 2, unreachable server 3 without password" {
	for f in $(flavours); do
		run --separate-stderr pgq-status -d "dbname=st_$f" nosuch
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"no such queue"* ]]
		run --separate-stderr pgq-status -d "dbname=st_$f" qa nobody
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"not registered"* ]]
	done
	new_db st_nopgq none
	run --separate-stderr pgq-status -d dbname=st_nopgq
	[ "$status" -eq 2 ]
	[ "$stderr" = "pgq-status: no PgQ in this database (run: pgqadm -d CONNINFO install)" ]
	run --separate-stderr pgq-status -d "host=$TEST_DIR/nonexistent password=s3cret"
	[ "$status" -eq 3 ]
	[[ "$stderr" != *s3cret* ]]
	run --separate-stderr pgq-status -d "postgresql://u:s3cret@/x?host=$TEST_DIR/nonexistent"
	[ "$status" -eq 3 ]
	[[ "$stderr" != *s3cret* ]]
}

@test "a malformed connection string is a usage error (2) in every program, password masked" {
	local p o
	for p in pgq-status pgq-tick pgq-create-queue pgq-drop-queue pgq-config pgq-register \
		pgq-unregister pgq-insert pgq-next-batch pgq-events pgq-finish-batch pgq-retry \
		londiste-apply londiste-copy londiste-compare londiste-repair; do
		for o in -d -s; do
			case $o$p in -spgq-*|-slondiste-apply) continue ;; esac
			run --separate-stderr "$p" "$o" "password=s3cret foo=bar" q c t
			[ "$status" -eq 2 ] || { echo "$p $o: $status $stderr"; false; }
			[[ "$stderr" == "$p: invalid connection string \"password=******** foo=bar\": "* ]] ||
				{ echo "$p: $stderr"; false; }
			run --separate-stderr "$p" "$o" "postgresql://u:s3cret@[::1/x" q c t
			[ "$status" -eq 2 ] || { echo "$p $o URI: $status $stderr"; false; }
			[[ "$stderr" != *s3cret* ]]
		done
	done
	# --follow would otherwise retry it for ever
	run --separate-stderr pgq-next-batch --follow -d "foo=bar" q c
	[ "$status" -eq 2 ]
	# a plain word is a database's name, not a connection string
	run --separate-stderr pgq-status -d "st_nosuchdb"
	[ "$status" -eq 3 ]
}

@test "pgq-status --prometheus: text exposition format with escaped labels" {
	for f in $(flavours); do
		run --separate-stderr pgq-status -d "dbname=st_$f" --prometheus
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[[ "$output" == *"# TYPE pgq_queue_ticker_lag_seconds gauge"* ]]
		[[ "$output" == *"# HELP pgq_consumer_lag_seconds "* ]]
		printf '%s\n' "${lines[@]}" | grep -Eq "^pgq_queue_new_events\\{database=\"st_$f\",queue=\"qa\"\\} [45]\$"
		printf '%s\n' "${lines[@]}" | grep -Fq 'queue="q\"uote\\d",consumer="c\"x"}'
		printf '%s\n' "${lines[@]}" | grep -Eq '^pgq_consumer_pending_events\{database="[^"]+",queue="qa",consumer="c1"\} [0-9]+$'
		# every sample line: name{labels} number
		[ "$(printf '%s\n' "${lines[@]}" | grep -v '^#' | grep -Ecv '^[a-z_]+\{.*\} -?[0-9.]+(e[-+]?[0-9]+)?$')" -eq 0 ]
	done
}

@test "pgq-status --prometheus output is accepted by promtool when available" {
	command -v promtool >/dev/null || skip "promtool not installed"
	pgq-status -d dbname=st_debian --prometheus | promtool check metrics
}
