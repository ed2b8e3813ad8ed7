#!/usr/bin/env bats
# Secrets and files: a password given in a connection string never shows
# in stderr, the server log, pgq-status or ps; .pgpass, PGPASSFILE and
# PGSERVICE work (this file's cluster asks user sec for a password);
# archived WAL is readable by its owner only.

load helper

PW='S3cr3t-Pw-9f2'

setup_file() {
	pg_start
	new_db sdb
	sql sdb "CREATE ROLE sec LOGIN SUPERUSER PASSWORD '$PW'" >/dev/null
	sql sdb "SELECT pgq.create_queue('q'); SELECT pgq.register_consumer('q', 'c')" >/dev/null
	{ echo "local all sec scram-sha-256"; cat "$TEST_PGDATA/pg_hba.conf"; } > "$TEST_DIR/hba"
	cp "$TEST_DIR/hba" "$TEST_PGDATA/pg_hba.conf"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_PGDATA/pg_hba.conf"
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" reload >/dev/null
	# the postmaster reads pg_hba.conf when it gets to the signal
	wait_for password_asked
}

# A login of sec without a password is refused: the new pg_hba.conf
# is in force.
password_asked() {
	! PGPASSWORD= psql -w -XAtq -d "host=$TEST_DIR dbname=sdb user=sec" -c "SELECT 1" >/dev/null 2>&1
}

# The pid of the session of user sec that application $1 has (none: 0).
sec_session() {
	sql postgres "SELECT coalesce(max(pid), 0) FROM pg_stat_activity
		WHERE usename = 'sec' AND application_name = '$1'"
}
sec_session_other_than() { [ "$(sec_session "$1")" -ne "$2" ]; }

no_pw() {
	! printf '%s' "$1" | grep -q -- "$PW" || { echo "password shown: $1" >&2; return 1; }
}

@test "password auth is really asked for" {
	run --separate-stderr env PGPASSWORD= pgq-status -d "host=$TEST_DIR dbname=sdb user=sec"
	[ "$status" -eq 3 ]
	run --separate-stderr pgq-status -d "host=$TEST_DIR dbname=sdb user=sec password=$PW"
	[ "$status" -eq 0 ]
	no_pw "$output$stderr"
}

@test "a password in -d never shows in messages, for key=value and URI forms" {
	for conn in "host=$TEST_DIR dbname=nosuchdb user=sec password=$PW" \
	    "postgresql://sec:$PW@/nosuchdb?host=$TEST_DIR" \
	    "host=$TEST_DIR dbname=sdb user=sec password='$PW' options='-c search_path=bad\\'x'" \
	    "host=/nonexistent dbname=sdb user=sec password=$PW" \
	    "host=$TEST_DIR dbname=nosuchdb user=sec password	=	$PW" \
	    "host=$TEST_DIR dbname=nosuchdb user=sec password =$PW\\ x" \
	    "postgresql:///nosuchdb?host=$TEST_DIR&user=sec&pass%77ord=$PW" \
	    "postgresql:///nosuchdb?host=$TEST_DIR&user=sec&%70assword=$PW&x=1" \
	    "postgresql://sec:$PW@[::1" \
	    "postgresql://sec:$PW@/sdb?host=$TEST_DIR&nosuchkey=1" \
	    "postgresql://sec:a?b@$PW@/sdb?host=$TEST_DIR"; do
		for cmd in "pgq-status" "pgq-create-queue x" "pgq-register nosuchq c2" "pgq-next-batch nosuchq c" \
		    "pgq-drop-queue nosuchq" "pgq-tick" "pgq-retry 1 1" "pgq-unregister nosuchq c"; do
			# shellcheck disable=SC2086
			run --separate-stderr ${cmd%% *} -d "$conn" ${cmd#* }
			[ "$cmd" = pgq-status ] || [ "$cmd" = pgq-tick ] && run --separate-stderr $cmd -d "$conn"
			no_pw "$output$stderr"
		done
		run --separate-stderr sh -c 'printf "t\td\n" | pgq-insert -d "$1" q' x "$conn"
		no_pw "$output$stderr"
		run --separate-stderr sh -c 'printf "batch\t1\t2\t1\ta\tb\tq\tc\nend\t1\t0\n" | londiste-apply -d "$1" --consumer c' x "$conn"
		no_pw "$output$stderr"
	done
	no_pw "$(cat "$TEST_DIR/server.log")"
}

@test "a lost connection's reconnect messages do not show the password" {
	pgq-next-batch --follow -d "host=$TEST_DIR dbname=sdb user=sec password=$PW" q c \
		>/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	wait_for sec_session_other_than pgq-next-batch 0
	backend=$(sec_session pgq-next-batch)
	sql postgres "SELECT pg_terminate_backend($backend)" >/dev/null
	wait_for grep -q "reconnecting" "$BATS_TEST_TMPDIR/err"
	# and it logged in again with the password
	wait_for sec_session_other_than pgq-next-batch "$backend"
	kill "$pid" 2>/dev/null || :
	wait "$pid" || :
	cat "$BATS_TEST_TMPDIR/err" >&3
	no_pw "$(cat "$BATS_TEST_TMPDIR/err")"
	no_pw "$(cat "$TEST_DIR/server.log")"
}

# Run "$@" in the background until it has a session of user sec (by
# then it has read its arguments); set $args to what ps shows of it.
args_when_connected() {
	local app=$1 pid
	"$@" >/dev/null 2>&1 3>&- &
	pid=$!
	# (a bound of its own, 300 looks, went on to ps unconnected)
	connected_or_ended() {
		[ "$(sec_session "$app")" != 0 ] || ! alive "$pid"
	}
	wait_for connected_or_ended
	alive "$pid" || { echo "$app exited" >&2; return 1; }
	args=$(ps -o args= -p "$pid")
	kill "$pid"
	wait "$pid" || :
	echo "$args"
	no_pw "$args"
}

@test "ps does not show a password given with -d, key=value and URI forms" {
	args_when_connected pgq-next-batch --follow \
		-d "host=$TEST_DIR dbname=sdb user=sec password=$PW" q c
	[[ "$args" == *"password=*************"* ]]
	args_when_connected pgq-tick --loop -d "postgresql://sec:$PW@/sdb?host=$TEST_DIR" \
		-d "host=$TEST_DIR dbname=postgres user=sec password='$PW'"
	[[ "$args" == *"postgresql://sec:*************@/sdb"* ]]
	[[ "$args" == *"password=***************"* ]]
	# white space around "=", and a percent-encoded key in a URI
	args_when_connected pgq-next-batch --follow \
		-d "host=$TEST_DIR dbname=sdb user=sec password	= $PW" q c
	args_when_connected pgq-next-batch --follow \
		-d "postgresql:///sdb?host=$TEST_DIR&user=sec&pass%77ord=$PW" q c
	[[ "$args" == *"pass%77ord=*************"* ]]
}

@test "libpq's own error that quotes the whole URI does not show the password" {
	# The URI is cut short: libpq's message quotes it whole.
	for cmd in pgq-status pgq-tick; do
		run --separate-stderr $cmd -d "postgresql://sec:$PW@[::1"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"postgresql://sec:********@[::1"* ]] || { echo "$stderr" >&2; false; }
		no_pw "$output$stderr"
	done
}

@test ".pgpass, PGPASSFILE and PGSERVICE supply the password" {
	printf '*:*:*:sec:%s\n' "$PW" > "$BATS_TEST_TMPDIR/pgpass"
	chmod 600 "$BATS_TEST_TMPDIR/pgpass"
	run --separate-stderr env PGPASSFILE="$BATS_TEST_TMPDIR/pgpass" pgq-status -d "host=$TEST_DIR dbname=sdb user=sec"
	[ "$status" -eq 0 ]
	mkdir -p "$BATS_TEST_TMPDIR/home"
	cp "$BATS_TEST_TMPDIR/pgpass" "$BATS_TEST_TMPDIR/home/.pgpass"
	run --separate-stderr env -u PGPASSFILE HOME="$BATS_TEST_TMPDIR/home" pgq-status -d "host=$TEST_DIR dbname=sdb user=sec"
	[ "$status" -eq 0 ]
	printf '[sky]\nhost=%s\ndbname=sdb\nuser=sec\npassword=%s\n' "$TEST_DIR" "$PW" > "$BATS_TEST_TMPDIR/services"
	chmod 600 "$BATS_TEST_TMPDIR/services"
	run --separate-stderr env PGSERVICEFILE="$BATS_TEST_TMPDIR/services" PGSERVICE=sky pgq-status
	[ "$status" -eq 0 ]
	run --separate-stderr env PGSERVICEFILE="$BATS_TEST_TMPDIR/services" pgq-status -d "service=sky"
	[ "$status" -eq 0 ]
	# the pipe programs too
	run --separate-stderr env PGSERVICEFILE="$BATS_TEST_TMPDIR/services" PGSERVICE=sky pgq-next-batch q c
	echo "$stderr" >&3
	[ "$status" -le 1 ]
	no_pw "$output$stderr"
}

@test "files: the archive and its files are not readable by other users" {
	A=$BATS_TEST_TMPDIR/arch
	mkdir -m 755 "$A"
	wal_segment 000000010000000000000001 > "$BATS_TEST_TMPDIR/seg1"
	wal_segment 000000010000000000000002 > "$BATS_TEST_TMPDIR/seg2"
	(umask 000; wal-push -A "$A" "$BATS_TEST_TMPDIR/seg1" 000000010000000000000001)
	(umask 000; wal-push -A "$A" -c zstd "$BATS_TEST_TMPDIR/seg2" 000000010000000000000002)
	[ "$(stat -c %a "$A/wal")" = 700 ]
	for f in "$A"/wal/*; do
		[ "$(stat -c %a "$f")" = 600 ] || { echo "$f: $(stat -c %a "$f")" >&2; false; }
	done
	# a file fetched back is the server's own too
	(umask 000; wal-fetch -A "$A" 000000010000000000000001 "$BATS_TEST_TMPDIR/back")
	[ "$(( 0$(stat -c %a "$BATS_TEST_TMPDIR/back") & 077 ))" -eq 0 ] ||
		echo "note: wal-fetch leaves $(stat -c %a "$BATS_TEST_TMPDIR/back")" >&3
}

@test "files: temporary files are made with unpredictable names, never in a shared directory by name" {
	# wal-push writes its temporary file in the archive's own 0700
	# directory; the porcelain makes its run directory with mktemp.
	! grep -nE '/tmp/[A-Za-z_]+\$\$|\$\$\.tmp|> */tmp/' "$TOP"/sh/* || false
	grep -q 'mktemp -d' "$TOP/sh/londiste"
}

@test "ps never shows the password of a config file while pgqadm install runs psql" {
	printf '[pgqadm]\ndb = host=%s dbname=sdb user=sec password=%s\n' "$TEST_DIR" "$PW" \
		>"$BATS_TEST_TMPDIR/job.ini"
	printf '[pgqadm]\ndb = postgresql://sec:%s@/sdb?host=%s\n' "$PW" "$TEST_DIR" \
		>"$BATS_TEST_TMPDIR/uri.ini"
	for ini in job uri; do
		# A session holds pgq.version()'s row, so install's psql waits
		# (to replace it) with its arguments on show.
		mkfifo "$BATS_TEST_TMPDIR/fifo"
		psql -XAq -d sdb <"$BATS_TEST_TMPDIR/fifo" >/dev/null &
		lockpid=$!
		exec 8>"$BATS_TEST_TMPDIR/fifo"
		echo "BEGIN; ALTER FUNCTION pgq.version() COST 1; SELECT pg_advisory_lock(740);" >&8
		wait_for sh -c '[ "$(psql -XAtq -d sdb -c "SELECT count(*) FROM pg_locks
			WHERE locktype = '"'"'advisory'"'"' AND objid = 740 AND granted")" = 1 ]'
		pgqadm "$BATS_TEST_TMPDIR/$ini.ini" install 2>"$BATS_TEST_TMPDIR/err" 3>&- &
		pid=$!
		wait_for sh -c '[ "$(psql -XAtq -d sdb -c "SELECT count(*) FROM pg_stat_activity
			WHERE usename = '"'"'sec'"'"' AND wait_event_type = '"'"'Lock'"'"'")" = 1 ]' ||
			{ cat "$BATS_TEST_TMPDIR/err" >&2; sql sdb "SELECT usename, application_name, state, wait_event_type, query FROM pg_stat_activity" >&2; false; }
		ps -eo args >"$BATS_TEST_TMPDIR/ps"
		echo "ROLLBACK;" >&8
		exec 8>&-
		wait "$lockpid"
		rm -f "$BATS_TEST_TMPDIR/fifo"
		wait "$pid" || { cat "$BATS_TEST_TMPDIR/err" >&2; false; }
		grep -q 'psql .*-d .*sdb' "$BATS_TEST_TMPDIR/ps" || { cat "$BATS_TEST_TMPDIR/ps" >&2; false; }
		! grep -F -- "$PW" "$BATS_TEST_TMPDIR/ps" || false
		no_pw "$(cat "$BATS_TEST_TMPDIR/err")"
	done
}
