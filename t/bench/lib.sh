# t/bench/lib.sh: sourced by t/bench/run and the workloads (w-*.sh).
#
#   bench_start / bench_stop   throwaway cluster in $BENCH_DIR
#   as_pg CMD...               run CMD as the server's user (when root)
#   q DB SQL                   psql -XAtq, stops on error, prints rows
#   qf DB FILE                 psql -f FILE, quiet
#   new_db NAME ours|debian|none
#   now_ns                     wall clock in nanoseconds
#   loadavg                    the 1-minute load average
#   fastpath_check DB          die unless our PgQ in DB runs in C
#   timed VAR CMD...           run CMD, store its run time in seconds in VAR
#   row KEY LABEL UNIT BETTER GOAL
#                              declare a result row (BETTER: higher|lower)
#   rec KEY ours|ref VALUE     record one measurement of a row
#   quick_skip KEY ours|ref    that side of the row is not measured in
#                              QUICK (it waits by design); the report
#                              says so instead of a ratio
#   rate N SECONDS             N / SECONDS, for rows/s and events/s
#   sides FN ARGS...           FN ours ARGS, FN ref ARGS, in the round's
#                              order (alternating, so drift hits both)
#   rounds CMD...              CMD once per round, ROUND = 1 .. ROUNDS
#   group_stop PID TARGET      SIGTERM to TARGET (PID, or -PID for its
#                              process group), 10 s for PID to end, then
#                              SIGKILL to the group
#   rows_sql N OP FILE         FILE: N rows of table bt inserted, updated
#                              or deleted (OP), 1,000 a transaction
#   wait_for SECONDS MSG CMD...
#                              poll CMD until it succeeds, die after SECONDS
#   say MSG                    progress line on stderr
#   pgbr_setup                 a pgBackRest stanza of the cluster, PGBR_CONF

say() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 3; }

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

pg_bindir() {
	if command -v pg_config >/dev/null 2>&1; then
		_d=$(pg_config --bindir)
		[ -x "$_d/initdb" ] && { echo "$_d"; return 0; }
	fi
	# shellcheck disable=SC2012 # version directories, newest first
	for _d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$_d/initdb" ] && { echo "$_d"; return 0; }
	done
	return 1
}

# Both sides get the same server: the tuning the issue fixes, durable
# commits, the rest at PostgreSQL's defaults.
bench_start() {
	PGBIN=$(pg_bindir) || die "no PostgreSQL server binaries"
	BENCH_DIR=$(mktemp -d /var/tmp/skytools-bench.XXXXXX) || die "mktemp failed"
	chmod 755 "$BENCH_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$BENCH_DIR"
	BENCH_PGDATA=$BENCH_DIR/data
	bench_fastpath_lib
	as_pg "$PGBIN/initdb" -D "$BENCH_PGDATA" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >"$BENCH_DIR/initdb.log" 2>&1 ||
		{ cat "$BENCH_DIR/initdb.log" >&2; die "initdb failed"; }
	cat >>"$BENCH_PGDATA/postgresql.conf" <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$BENCH_DIR'
	port = 5432
	shared_buffers = 256MB
	max_wal_size = 4GB
	fsync = on
	max_connections = 100
	wal_level = replica
	archive_mode = off
	log_min_messages = warning
	log_line_prefix = '%m [%p] %a '
	dynamic_library_path = '$BENCH_DIR/lib:\$libdir'
	CONF
	export PGHOST="$BENCH_DIR" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	unset PGPASSWORD PGSERVICE
	export PGOPTIONS='-c client_min_messages=warning'
	as_pg "$PGBIN/pg_ctl" -D "$BENCH_PGDATA" -l "$BENCH_DIR/server.log" \
		-w -t 60 start >/dev/null ||
		{ cat "$BENCH_DIR/server.log" >&2; die "server did not start"; }
	PGVERSION=$(q postgres "SHOW server_version")
	# PgQ's and Londiste's roles are the cluster's, and both systems
	# create them when missing: made here, as both make them, so that
	# the set-ups running side by side do not race to create them (two
	# CREATE ROLE at once: one fails on the unique name).
	q postgres "CREATE ROLE pgq_reader; CREATE ROLE pgq_writer;
		CREATE ROLE pgq_admin IN ROLE pgq_reader, pgq_writer;
		CREATE ROLE londiste_writer IN ROLE pgq_admin;
		CREATE ROLE londiste_reader IN ROLE pgq_reader" ||
		die "cannot create the PgQ and Londiste roles"
	export BENCH_DIR BENCH_PGDATA PGBIN PGVERSION
}

# Our PgQ switches insert_event and the triggers to C (server/pgq_c.c) when
# pgq_c loads; without it we would measure the PL/pgSQL fallback against
# Debian's C.  The module goes into a directory of the cluster that the
# server's user can read, on dynamic_library_path ahead of $libdir, never
# into the system's pkglibdir (Debian's pgq lives there).  Debian's pgq
# names its libraries with $libdir/, so the path does not change it.
bench_fastpath_lib() {
	_so=$SKYTOOLS_BUILD/server/pgq_c.so
	[ -f "$_so" ] || _so=$TOP/build/server/pgq_c.so
	if [ ! -f "$_so" ]; then
		_v=$("$PGBIN/postgres" --version | sed -n 's/.* \([0-9][0-9]*\)\..*/\1/p')
		die "$SKYTOOLS_BUILD/server/pgq_c.so missing: install postgresql-server-dev-${_v:-15} and run make"
	fi
	{ mkdir -p "$BENCH_DIR/lib" && cp "$_so" "$BENCH_DIR/lib/pgq_c.so" &&
		chmod -R a+rX "$BENCH_DIR/lib"; } || die "cannot copy $_so"
}

# fastpath_check DB: our PgQ in DB must run insert_event and logutriga
# in C; the language of each goes to the run's notes.
fastpath_check() {
	_l=$(q "$1" "SELECT string_agg(p.proname || '=' || l.lanname, ' ' ORDER BY p.proname)
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE p.pronamespace = 'pgq'::regnamespace
		  AND (p.oid = 'pgq.insert_event(text,text,text)'::regprocedure
		       OR p.proname = 'logutriga')") || die "$1: cannot read pg_proc"
	printf 'fastpath\t%s\t%s\n' "$1" "$_l" >>"$OUT/notes.tsv"
	[ "$_l" = "insert_event=c logutriga=c" ] ||
		die "$1: our PgQ is not using the C fast path ($_l): pgq_c.so did not load, see $BENCH_DIR/server.log"
}

# Background processes a failed run must not leave behind: pids, and
# "-pgid" for process groups started with setsid.
BG=
bg() { BG="$BG $1"; }

# pgqd_start NAME MS DB...: the original ticker daemon for the DBs (the
# first is its initial database), a tick every MS milliseconds,
# maintenance and retry every 30 s; its config in $BENCH_DIR/NAME.ini,
# its log in $OUT/NAME.log; its pid in PGQD_PID.
pgqd_start() {
	_pn=$1 _pms=$2
	shift 2
	_pl=$(printf '%s, ' "$@")
	cat >"$BENCH_DIR/$_pn.ini" <<-INI
	[pgqd]
	base_connstr = host=$PGHOST
	initial_database = $1
	database_list = ${_pl%, }
	syslog = 0
	logfile = $OUT/$_pn.log
	ticker_period = $(awk -v ms="$_pms" 'BEGIN { print ms / 1000 }')
	maint_period = 30
	retry_period = 30
	INI
	pgqd "$BENCH_DIR/$_pn.ini" 2>>"$OUT/$_pn.log" &
	PGQD_PID=$!
	bg "$PGQD_PID"
}

bench_stop() {
	for _p in $BG; do
		kill -TERM "$_p" 2>/dev/null
	done
	# londiste 3's daemons (the root's worker, copy processes) keep
	# pidfiles in the cluster directory
	for _f in "${BENCH_DIR:-/nonexistent}"/*.pid; do
		[ -f "$_f" ] && kill -TERM "$(cat "$_f")" 2>/dev/null
	done
	BG=
	[ -n "${BENCH_PGDATA:-}" ] && [ -f "$BENCH_PGDATA/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$BENCH_PGDATA" -m immediate -w stop \
			>/dev/null 2>&1
	[ -n "${BENCH_DIR:-}" ] && [ -z "${BENCH_KEEP:-}" ] && rm -rf "$BENCH_DIR"
	BENCH_DIR=
}

q() {
	_db=$1
	shift
	psql -XAtq -v ON_ERROR_STOP=1 -d "$_db" -c "$*"
}

qf() {
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$2" >/dev/null
}

new_db() {
	{ q postgres "DROP DATABASE IF EXISTS \"$1\"" >/dev/null &&
		q postgres "CREATE DATABASE \"$1\"" >/dev/null; } || die "cannot create $1"
	case $2 in
	ours)
		qf "$1" "$SKYTOOLS_BUILD/sql/pgq.sql" || die "$1: cannot install our PgQ"
		fastpath_check "$1" ;;
	debian)
		q "$1" "CREATE EXTENSION pgq" >/dev/null || die "$1: no Debian PgQ" ;;
	none) ;;
	esac
}

now_ns() { date +%s%N; }

# the 1-minute load average
loadavg() { cut -d ' ' -f 1 /proc/loadavg; }

timed() {
	_var=$1
	shift
	_t0=$(now_ns)
	"$@" || die "failed: $*"
	_t1=$(now_ns)
	eval "$_var=\$(awk -v a=$_t0 -v b=$_t1 'BEGIN { printf \"%.6f\", (b - a) / 1e9 }')"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }

row() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT/rows.tsv"
}

rec() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$OUT/raw.tsv"
	say "  $1 $2 $3"
}

quick_skip() {
	printf '%s\t%s\tnot measured in QUICK\n' "$1" "$2" >>"$OUT/unmeasured.tsv"
	say "  $1 $2 not measured in QUICK"
}

# The round number decides who goes first.
sides() {
	_fn=$1
	shift
	if [ $((ROUND % 2)) = 1 ]; then
		"$_fn" ours "$@"
		"$_fn" ref "$@"
	else
		"$_fn" ref "$@"
		"$_fn" ours "$@"
	fi
}

# ROUNDS: set by t/bench/run
# shellcheck disable=SC2153
rounds() {
	ROUND=1
	while [ "$ROUND" -le "$ROUNDS" ]; do
		"$@"
		ROUND=$((ROUND + 1))
	done
}

group_stop() {
	kill -TERM "$2" 2>/dev/null
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -KILL "-$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# The writes of the Londiste workloads, on table bt (id, n, name, ts).
rows_sql() {
	awk -v n="$1" -v op="$2" 'BEGIN {
		for (a = 1; a <= n; a += 1000) {
			b = a + 999
			if (op == "insert")
				printf "INSERT INTO bt SELECT g, g, %s || g, now() FROM generate_series(%d, %d) g;\n", "'\''row '\''", a, b
			else if (op == "update")
				printf "UPDATE bt SET n = n + 1, name = name || %s WHERE id BETWEEN %d AND %d;\n", "'\''u'\''", a, b
			else
				printf "DELETE FROM bt WHERE id BETWEEN %d AND %d;\n", a, b
		}
	}' >"$3"
}

# wait_for SECONDS MESSAGE CMD...: poll CMD every 50 ms; die with
# MESSAGE if it has not succeeded within SECONDS.
wait_for() {
	_secs=$1
	_limit=$(($(date +%s) + _secs))
	_msg=$2
	shift 2
	until "$@"; do
		[ "$(date +%s)" -lt "$_limit" ] || die "$_msg (waited $_secs s)"
		sleep 0.05
	done
}

# Peak resident memory of CMD in kB (GNU time), into VAR.
maxrss() {
	_var=$1
	shift
	/usr/bin/time -f %M -o "$OUT/time.out" "$@" || die "failed: $*"
	eval "$_var=\$(tail -n 1 \"\$OUT/time.out\")"
}

pgbr_setup() {
	# once a run: the stanza stays valid
	[ -n "${PGBR_CONF:-}" ] && return 0
	PGBR_CONF=$BENCH_DIR/pgbackrest.conf
	cat >"$PGBR_CONF" <<-CONF
	[global]
	repo1-path=$BENCH_DIR/pgbr-repo
	log-path=$BENCH_DIR/pgbr-log
	lock-path=$BENCH_DIR/pgbr-lock
	spool-path=$BENCH_DIR/pgbr-spool
	log-level-console=warn
	log-level-file=off
	archive-async=n
	start-fast=y

	[bench]
	pg1-path=$BENCH_PGDATA
	pg1-socket-path=$PGHOST
	pg1-port=$PGPORT
	CONF
	mkdir -p "$BENCH_DIR/pgbr-repo" "$BENCH_DIR/pgbr-log" "$BENCH_DIR/pgbr-lock" \
		"$BENCH_DIR/pgbr-spool"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$PGBR_CONF" "$BENCH_DIR"/pgbr-*
	as_pg pgbackrest --config="$PGBR_CONF" --stanza=bench stanza-create \
		>"$OUT/pgbr.log" 2>&1 || { cat "$OUT/pgbr.log" >&2; die "pgbackrest stanza-create failed"; }
}
