#!/usr/bin/env bats
# qadmin, the PgQ console.
load helper

setup_file() {
	pg_start
	new_db qa ours
}

teardown() {
	if [ -n "${QPID:-}" ]; then kill -KILL "$QPID" 2>/dev/null || true; fi
	return 0
}

# The rows of a query on qa.
q() { sql qa "$*"; }

@test "qadmin: basic checks" {
	run --separate-stderr qadmin --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	[[ "$output" == *"register consumer"* ]]
	run --separate-stderr qadmin --version
	[ "$status" -eq 0 ]
	[[ "$output" == "qadmin "* ]]
	usage_is_synopsis qadmin
	run --separate-stderr qadmin --no-such-option
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr qadmin -d qa extra-operand
	[ "$status" -eq 2 ]
	run --separate-stderr qadmin -d qa -c 'help' -f /dev/null
	[ "$status" -eq 2 ]
	# No arguments and stdin not a terminal: statements from stdin.
	run --separate-stderr qadmin -d qa </dev/null
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "qadmin: install pgq and pgq_coop into an empty database" {
	new_db qa_empty none
	run --separate-stderr qadmin -d qa_empty -c 'install pgq; install pgq_coop;'
	[ "$status" -eq 0 ]
	[ "$(sql qa_empty "SELECT pgq.skytools_c_version() IS NOT NULL")" = t ]
	[ "$(sql qa_empty "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgq_coop'")" = 1 ]
	# Again: an upgrade in place keeps the queue.
	sql qa_empty "SELECT pgq.create_queue('kept')" >/dev/null
	run --separate-stderr qadmin -d qa_empty -c 'install pgq'
	[ "$status" -eq 0 ]
	[ "$(sql qa_empty "SELECT count(*) FROM pgq.get_queue_info('kept')")" = 1 ]
	run --separate-stderr qadmin -d qa_empty -c 'install londiste'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'"install londiste"'* ]]
}

@test "qadmin: install is refused over the extension" {
	have_debian_pgq || skip "Debian's PgQ extension is not installed"
	new_db qa_ext debian
	run --separate-stderr qadmin -d qa_ext -c 'install pgq'
	[ "$status" -eq 4 ]
	[[ "$stderr" == *extension* ]]
}

@test "qadmin: create, show, alter and drop a queue" {
	run --separate-stderr qadmin -d qa -c 'create queue q1; create queue "q 2";
		alter queue q1 set ticker_max_lag = 0, queue_ticker_max_count = 7;
		show queue q1'
	[ "$status" -eq 0 ]
	[ "${lines[0]%%	*}" = queue_name ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == q1$'\t'* ]]
	[ "$(q "SELECT queue_ticker_max_count || ' ' || queue_ticker_max_lag FROM pgq.queue WHERE queue_name = 'q1'")" = "7 00:00:00" ]
	run --separate-stderr qadmin -d qa -c 'show queue *'
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\nq 2\t'* ]]
	run --separate-stderr qadmin -d qa -c "alter queue * set ticker_idle_period = '5 min'"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_ticker_idle_period <> '5 min'")" = 0 ]
	run --separate-stderr qadmin -d qa -c 'drop queue "q 2"; show queue "q 2"'
	[ "$status" -eq 2 ]
	[ "$stderr" = 'qadmin: no such queue: q 2, in "show queue "q 2""' ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q 2'")" = 0 ]
}

@test "qadmin against the original PgQ: queues, long setting names, consumers" {
	have_debian_pgq || skip "Debian's PgQ extension is not installed"
	new_db qa_deb debian
	run --separate-stderr qadmin -d qa_deb -c 'create queue d;
		alter queue d set queue_ticker_max_lag = 10, ticker_max_count = 3;
		register consumer dc on d; show consumer dc on d; show queue d'
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[[ "${lines[1]}" == d$'\t'dc$'\t'* ]]
	[[ "${lines[3]}" == d$'\t'* ]]
	[ "$(sql qa_deb "SELECT queue_ticker_max_lag || ' ' || queue_ticker_max_count FROM pgq.queue WHERE queue_name = 'd'")" = "00:00:10 3" ]
}

@test "qadmin: alter applies all settings or none" {
	q "SELECT pgq.create_queue('q_all')" >/dev/null
	run --separate-stderr qadmin -d qa -c "alter queue q_all set ticker_max_count = 9, ticker_max_lag = 'soon'"
	[ "$status" -eq 2 ]
	[ "$(q "SELECT queue_ticker_max_count FROM pgq.queue WHERE queue_name = 'q_all'")" = 500 ]
	run --separate-stderr qadmin -d qa -c "alter queue q_all set no_such_key = 1"
	[ "$status" -eq 2 ]
	run --separate-stderr qadmin -d qa -c "alter queue nosuch set ticker_max_count = 1"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no such queue: nosuch"* ]]
}

@test "qadmin: register, copy, show and unregister consumers" {
	q "SELECT pgq.create_queue('qc')" >/dev/null
	run --separate-stderr qadmin -d qa -c 'register consumer c1 on qc;
		connect queue=qc; register consumer c2 copy c1; register consumer c3;
		show consumer c2'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == qc$'\t'c2$'\t'* ]]
	[ "$(q "SELECT string_agg(consumer_name, ',' ORDER BY consumer_name) FROM pgq.get_consumer_info('qc')")" = c1,c2,c3 ]
	run --separate-stderr qadmin -d qa -Q qc -c 'show consumer'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	run --separate-stderr qadmin -d qa -c 'show consumer * on qc'
	[ "${#lines[@]}" -eq 4 ]
	run --separate-stderr qadmin -d qa -c 'unregister consumer c2 from qc'
	[ "$status" -eq 0 ]
	run --separate-stderr qadmin -d qa -Q qc -c 'unregister consumer c2'
	[ "$status" -eq 2 ]
	[ "$stderr" = 'qadmin: no such consumer on queue qc: c2, in "unregister consumer c2"' ]
	run --separate-stderr qadmin -d qa -c 'show consumer c2 on qc'
	[ "$status" -eq 2 ]
	# A typo in the queue's name is named, not the consumer.
	for stmt in 'show consumer c1 on qcx' 'unregister consumer c1 from qcx' \
	    'show batch c1 on qcx' 'register consumer c9 on qcx copy c1'; do
		run --separate-stderr qadmin -d qa -c "$stmt"
		[ "$status" -eq 2 ]
		[ "$stderr" = "qadmin: no such queue: qcx, in \"$stmt\"" ] || { echo "$stmt: $stderr" >&2; false; }
	done
	run --separate-stderr qadmin -d qa -c 'unregister consumer * from qc; show consumer * on qc'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	# A statement that needs a queue and has none.
	run --separate-stderr qadmin -d qa -c 'register consumer c9'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no default queue"* ]]
	run --separate-stderr qadmin -d qa -Q nosuch -c 'show consumer'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no such queue: nosuch"* ]]
	# The server's refusal names the statement too, and what follows
	# it does not run.
	run --separate-stderr qadmin -d qa -c 'register consumer c5 on qc; register consumer c6 on qcc; register consumer c7 on qc'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'qcc, in "register consumer c6 on qcc"' ]]
	[ "$(q "SELECT string_agg(consumer_name, ',' ORDER BY consumer_name) FROM pgq.get_consumer_info('qc')")" = c5 ]
}

@test "qadmin: register and unregister pgq_coop subconsumers" {
	q "SELECT pgq.create_queue('qco')" >/dev/null
	subs() { q "SELECT count(*) FROM pgq.subscription s JOIN pgq.queue q ON q.queue_id = s.sub_queue
		WHERE q.queue_name = 'qco' AND s.sub_main IS NOT NULL"; }
	run --separate-stderr qadmin -d qa -c 'register subconsumer s1 for cc on qco;
		connect queue=qco; register subconsumer s2 for cc'
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(subs)" -eq 2 ]
	run --separate-stderr qadmin -d qa -Q qco -c 'unregister subconsumer s1 for cc close batch;
		unregister subconsumer s2 for cc from qco'
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(subs)" -eq 0 ]
	run --separate-stderr qadmin -d qa -Q qco -c 'unregister subconsumer s2 for cc'
	[ "$status" -eq 2 ]
	[ "$stderr" = 'qadmin: no such subconsumer on queue qco: s2 for cc, in "unregister subconsumer s2 for cc"' ]
	run --separate-stderr qadmin -d qa -Q qco -c 'register subconsumer s3'
	[ "$status" -eq 2 ]
}

@test "qadmin: show batch and its events" {
	q "SELECT pgq.create_queue('qb')" >/dev/null
	q "SELECT pgq.register_consumer('qb', 'cb')" >/dev/null
	q "SELECT pgq.set_queue_config('qb', 'ticker_max_lag', '0')" >/dev/null
	q "SELECT pgq.insert_event('qb', 'greet', 'hello world')" >/dev/null
	q "SELECT pgq.ticker('qb')" >/dev/null
	id=$(q "SELECT pgq.next_batch('qb', 'cb')")
	[ -n "$id" ]
	run --separate-stderr qadmin -d qa -c "show batch $id; show batch_events $id"
	[ "$status" -eq 0 ]
	[ "${lines[0]%%	*}" = queue_name ]
	[[ "${lines[1]}" == qb$'\t'cb$'\t'* ]]
	[ "${lines[2]%%	*}" = ev_id ]
	[[ "${lines[3]}" == *$'\tgreet\thello world\t'* ]]
	# show batch CONSUMER: its open batch, on the default queue
	run --separate-stderr qadmin -d qa -Q qb -c 'show batch cb'
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == qb$'\t'cb$'\t'* ]]
	[ "$(q "SELECT pgq.finish_batch($id)")" = 1 ]
	run --separate-stderr qadmin -d qa -c 'show batch cb on qb'
	[ "$status" -eq 1 ]
	[ "$stderr" = 'qadmin: consumer cb has no open batch on queue qb' ]
	run --separate-stderr qadmin -d qa -c 'show batch nosuch on qb'
	[ "$status" -eq 2 ]
	run --separate-stderr qadmin -d qa -c 'show batch 999999'
	[ "$status" -eq 2 ]
	run --separate-stderr qadmin -d qa -c 'show batch x'
	[ "$status" -eq 2 ]
}

@test "qadmin: bad syntax exits 2 naming the statement, after the statements before it" {
	run --separate-stderr qadmin -d qa -c 'create queue q_syn1; frobnicate the queue; create queue q_syn2'
	[ "$status" -eq 2 ]
	[ "$stderr" = 'qadmin: syntax error in "frobnicate the queue": expected a statement (try help;) at frobnicate' ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q_syn1'")" = 1 ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q_syn2'")" = 0 ]
	for bad in 'create queue' 'create queue a b' "alter queue a set x" "alter queue a set x = 1," \
	    'register consumer c on' "show queue 'unterminated" 'show' 'connect ='; do
		run --separate-stderr qadmin -d qa -c "$bad"
		[ "$status" -eq 2 ] || { echo "$bad: $status" >&2; false; }
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
	# From stdin: the same, and nothing after it runs.
	run --separate-stderr qadmin -d qa <<-'EOF'
	show queue q_syn1;
	drop queue;
	drop queue q_syn1;
	EOF
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'"drop queue"'* ]]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q_syn1'")" = 1 ]
}

@test "qadmin: -f, comments, quit, and a statement spread over lines" {
	cat >"$BATS_TEST_TMPDIR/s.qadmin" <<-'EOF'
	-- set up; this comment has a ; in it
	create
	  queue q_file;
	register consumer "odd ; name" on q_file; quit
	create queue q_never;
	EOF
	run --separate-stderr qadmin -d qa -f "$BATS_TEST_TMPDIR/s.qadmin"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT consumer_name FROM pgq.get_consumer_info('q_file')")" = "odd ; name" ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q_never'")" = 0 ]
	run --separate-stderr qadmin -d qa -f "$BATS_TEST_TMPDIR/nosuch"
	[ "$status" -eq 2 ]
}

@test "qadmin: -h -p -U and connect" {
	host=$PGHOST
	run --separate-stderr env -u PGHOST -u PGPORT -u PGUSER qadmin -h "$host" -p 5432 -U postgres -d qa -c 'show queue q1'
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == q1$'\t'* ]]
	new_db qa_other ours
	sql qa_other "SELECT pgq.create_queue('other_q')" >/dev/null
	run --separate-stderr qadmin -d postgres -c 'connect db=qa_other queue=other_q; show consumer; connect qa; show queue other_q'
	[ "$status" -eq 2 ]
	[ "${lines[0]%%	*}" = queue_name ]
	[ "$stderr" = 'qadmin: no such queue: other_q, in "show queue other_q"' ]
	# A failed connect keeps the old connection (at the prompt) or
	# stops with 3; the password is never shown.
	run --separate-stderr qadmin -d qa -c "connect 'host=/nonexistent dbname=x password=sekrit'"
	[ "$status" -eq 3 ]
	[[ "$stderr" != *sekrit* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr qadmin -d "host=/nonexistent dbname=x password=sekrit" -c 'show queue'
	[ "$status" -eq 3 ]
	[[ "$stderr" == *'********'* ]]
	[[ "$stderr" != *sekrit* ]]
}

# Run qadmin on a terminal (script(1)) reading from a fifo, so that the
# test decides when each line arrives (fd 7: bats owns fd 3).
start_tty() {
	mkfifo "$BATS_TEST_TMPDIR/in"
	script -qefc "qadmin $*" /dev/null <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	QPID=$!
	exec 7>"$BATS_TEST_TMPDIR/in"
}
say_tty() { printf '%s\n' "$*" >&7; }
out_has() { [ "$(grep -c -- "$1" "$BATS_TEST_TMPDIR/out")" -ge "$2" ]; }

@test "qadmin: at the prompt an error does not end the session" {
	start_tty -d qa
	say_tty 'show nonsense;'
	say_tty 'show queue nosuch;'
	say_tty 'create queue q_tty;'
	say_tty 'show queue q_tty;'
	wait_for out_has "^q_tty	" 1
	say_tty '\q'
	exec 7>&-
	wait "$QPID"
	QPID=
	grep -q 'qa=> ' "$BATS_TEST_TMPDIR/out"
	grep -q 'qadmin: syntax error in "show nonsense"' "$BATS_TEST_TMPDIR/out"
	grep -q 'qadmin: no such queue: nosuch' "$BATS_TEST_TMPDIR/out"
}

@test "qadmin: a lost connection: stops with 3 from a script, reconnects at the prompt" {
	q "SELECT pgq.create_queue('q_lost')" >/dev/null
	mkfifo "$BATS_TEST_TMPDIR/f"
	qadmin -d "dbname=qa application_name=qadmin_lost" -f "$BATS_TEST_TMPDIR/f" \
		>"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e" &
	QPID=$!
	exec 4>"$BATS_TEST_TMPDIR/f"
	printf 'show queue q_lost;\n' >&4
	wait_for grep -q '^q_lost' "$BATS_TEST_TMPDIR/o"
	sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qadmin_lost'" >/dev/null
	printf 'show queue q_lost;\n' >&4
	exec 4>&-
	st=0
	wait "$QPID" || st=$?
	QPID=
	[ "$st" -eq 3 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/e")" -eq 1 ]
	grep -q '^qadmin: show queue: ' "$BATS_TEST_TMPDIR/e"

	start_tty -d "'dbname=qa application_name=qadmin_tty'"
	say_tty 'show queue q_lost;'
	wait_for out_has "^q_lost	" 1
	sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qadmin_tty'" >/dev/null
	say_tty 'show queue q_lost;'
	wait_for grep -q 'qadmin: show queue: ' "$BATS_TEST_TMPDIR/out"
	say_tty 'show queue q_lost;'
	wait_for out_has "^q_lost	" 2
	say_tty 'quit'
	exec 7>&-
	wait "$QPID"
	QPID=
}

@test "qadmin: drop queue with a consumer is refused with 4, as pgq-drop-queue does" {
	q "SELECT pgq.create_queue('q_busy')" >/dev/null
	q "SELECT pgq.register_consumer('q_busy', 'reader')" >/dev/null
	run --separate-stderr qadmin -d qa -c 'drop queue q_busy'
	[ "$status" -eq 4 ]
	[ "$stderr" = 'qadmin: drop queue: queue q_busy has 1 consumer(s); unregister them first' ]
	run --separate-stderr pgq-drop-queue -d qa q_busy
	[ "$status" -eq 4 ]
	[ "$(q "SELECT count(*) FROM pgq.queue WHERE queue_name = 'q_busy'")" = 1 ]
}

@test "qadmin: the database as an operand, as psql takes it" {
	q "SELECT pgq.create_queue('q_op')" >/dev/null
	run --separate-stderr qadmin -c 'show queue q_op' qa
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == q_op$'\t'* ]]
	run --separate-stderr qadmin -c 'show queue q_op' "dbname=qa"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == q_op$'\t'* ]]
	run --separate-stderr qadmin -d qa -c 'show queue q_op' qa
	[ "$status" -eq 2 ]
	[[ "$stderr" == usage:* ]]
}
