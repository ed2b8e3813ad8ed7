# t/helper.bash: loaded by every t/*.bats (`load helper`).
#
# Each test file gets its own throwaway PostgreSQL cluster in a temporary
# directory, unix socket only, started in setup_file and removed in
# teardown_file (also when tests fail).  When run as root (CI), the
# server runs as the unprivileged `postgres` user and the directory is
# handed to it.
#
# API:
#   pg_start / pg_stop        start or remove this file's cluster
#   pg_restart                fast restart, same data
#   as_pg CMD...              run CMD as the server's user
#   sql DB SQL                psql -XAtq, stops on error, prints rows
#   ret_call DB 'f(args)'     "ret_code|ret_note" of a function of the
#                             ret_code/ret_note kind (schema-qualified)
#   ret_ok DB 'f(args)'       the same call, which must return 200 (else
#                             its answer on stderr, status 1)
#   no_output CMD...          CMD succeeds and prints nothing (where
#                             [ -z "$(CMD)" ] would also pass when CMD
#                             fails)
#   new_db NAME [ours|debian|none]
#                             create a database with our sql/pgq+pgq_coop
#                             (default), Debian's PgQ extension, or nothing
#   install_ours DB           load build/sql/pgq.sql and pgq_coop.sql
#   install_debian DB         CREATE EXTENSION pgq (Debian's package)
#   have_debian_pgq           true when Debian's PgQ extension is installed
#   wait_for CMD...           retry CMD until it succeeds (120 s at most)
#   pid_to FILE CMD...        exec CMD after writing its pid to FILE (a
#                             stage of a background pipeline that the
#                             test must stop by pid)
#   marked_pids MARK [COMM]   pids of the processes started with
#                             SKYTOOLS_TEST_MARK=MARK in their environment
#                             (inherited by all they start, daemons too),
#                             only those running COMM if given; from /proc,
#                             so only what the test started is ever found
#                             (COMM: argv[0]'s base name, or the script's
#                             for sh/bash/dash running a script)
#   has_marked MARK [COMM]    true when marked_pids finds one (wait_for)
#   alive PID                 PID runs; a zombie does not (kill -0 still
#                             finds a daemon that ended until PID 1
#                             reaps it, which a container's may do
#                             seconds later)
#   not_alive PID             ! alive PID (for wait_for)
#   descendants PID           the pids of PID's children, theirs, and so on
#   argv0 PID                 PID's program: argv[0], or the script that
#                             sh/bash/dash runs
#   find_module NAME          set MODULE_SO to the built NAME.so, or
#                             export SKIP_FILE saying which package is
#                             missing and return 1 (call from setup_file)
#   skip_file                 skip this test when SKIP_FILE is set (call
#                             from setup: bats 1.8 cannot skip in
#                             setup_file)
#   wal_segment NAME [SIZE]   a plausible WAL segment NAME on stdout (see
#                             below): what wal-push accepts as one
#   wal_header NAME [SIZE]    only its 40-byte page header
#   wal_store_unchecked ARCHIVE SRC NAME [zstd]
#                             store SRC as NAME in ARCHIVE/wal whatever it
#                             holds, as wal-push did before it checked
#                             segments
#
# Exports PGHOST, PGPORT, PGUSER, PGDATABASE, TEST_DIR (the cluster's
# directory, readable by the server), TEST_PGDATA, TEST_PGBIN,
# SKYTOOLS_BUILD (the build tree the tests run), and PATH with our
# programs and wrappers first.

bats_require_minimum_version 1.7.0

# A hang is a failure with a message, also when bats is run directly
# (t/run-tests sets the same default).  bats runs the limit's watchdog as
# a background job of the test's shell: tests wait for their own jobs by
# pid, never with a bare `wait`.
: "${BATS_TEST_TIMEOUT:=600}"
export BATS_TEST_TIMEOUT

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
: "${SKYTOOLS_BUILD:=$TOP/build}"
export SKYTOOLS_BUILD
# Ours first: Debian's python3-londiste installs its own /usr/bin/londiste.
export PATH="$SKYTOOLS_BUILD/bin:$TOP/sh:$PATH"
export SKYTOOLS_SQLDIR="$SKYTOOLS_BUILD/sql"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

pg_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir)
		if [ -x "$d/initdb" ]; then echo "$d"; return; fi
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ]; then echo "$d"; return; fi
	done
	echo "no PostgreSQL server binaries (install postgresql)" >&2
	return 1
}

# Debian's psql, pg_dump and the other client programs in /usr/bin are
# one Perl script that picks a server version on each call: 40 ms a
# call, and a run makes thousands.  The tests call the programs of the
# server they run directly, from a directory (pg_client_links DIR) that
# holds only those names: what a user's PATH lacks (pg_ctl, initdb)
# stays out of the tests' PATH too.  One for the run, and one in each
# cluster's directory that the server's user can read (as_pg).
pg_client_links() {
	local d=$1 bin f
	[ -d "$d" ] && return 0
	bin=$(pg_bindir 2>/dev/null) || return 1
	mkdir "$d.$$" || return 1
	for f in $(find /usr/bin -maxdepth 1 -lname '*/pg_wrapper' 2>/dev/null); do
		[ -x "$bin/${f##*/}" ] && ln -s "$bin/${f##*/}" "$d.$$/"
	done
	chmod 755 "$d.$$"
	# several files of one run may get here at once: the first one wins
	mv -T "$d.$$" "$d" 2>/dev/null || rm -rf "$d.$$"
}
use_pg_client() {
	case :$PATH: in
	*":$1:"*) ;;
	*) PATH="$SKYTOOLS_BUILD/bin:$TOP/sh:$1:${PATH#"$SKYTOOLS_BUILD/bin:$TOP/sh:"}" ;;
	esac
}
if [ -n "${BATS_RUN_TMPDIR:-}" ] && pg_client_links "$BATS_RUN_TMPDIR/pg-client"; then
	use_pg_client "$BATS_RUN_TMPDIR/pg-client"
fi

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env PATH="$PATH" ASAN_OPTIONS="$ASAN_OPTIONS" "$@"
	else
		"$@"
	fi
}

pg_start() {
	TEST_PGBIN=$(pg_bindir) || return 1
	TEST_DIR=$(mktemp -d /tmp/skytools-t.XXXXXX)
	chmod 755 "$TEST_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR"
	pg_client_links "$TEST_DIR/pg-client" && use_pg_client "$TEST_DIR/pg-client"
	TEST_PGDATA="$TEST_DIR/data"
	export TEST_PGBIN TEST_DIR TEST_PGDATA
	echo "$TEST_DIR" > "$BATS_FILE_TMPDIR/cluster-dir"
	as_pg "$TEST_PGBIN/initdb" -D "$TEST_PGDATA" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$TEST_DIR/initdb.log" 2>&1 || {
		cat "$TEST_DIR/initdb.log" >&2; return 1; }
	cat >>"$TEST_PGDATA/postgresql.conf" <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$TEST_DIR'
	port = 5432
	fsync = off
	synchronous_commit = off
	full_page_writes = off
	max_connections = 100
	max_prepared_transactions = 4
	max_wal_senders = 10
	wal_level = replica
	log_min_messages = warning
	log_line_prefix = '%m [%p] %a '
	CONF
	export PGHOST="$TEST_DIR" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	unset PGPASSWORD PGSERVICE PGOPTIONS
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" -l "$TEST_DIR/server.log" \
		-w -t 60 start >/dev/null || { cat "$TEST_DIR/server.log" >&2; return 1; }
}

# extra_cluster NAME PORT [SETTING...]: another cluster beside this
# file's, in $TEST_DIR/NAME with its socket in $TEST_DIR at PORT, the
# SETTINGs ("name = value") added to its configuration.  pg_stop
# removes its directory with $TEST_DIR; stopping it is the caller's.
extra_cluster() {
	local data="$TEST_DIR/$1" name=$1 port=$2 setting
	shift 2
	as_pg "$TEST_PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$TEST_DIR/initdb-$name.log" 2>&1 || {
		cat "$TEST_DIR/initdb-$name.log" >&2; return 1; }
	{
		printf '%s\n' "listen_addresses = ''" \
			"unix_socket_directories = '$TEST_DIR'" "port = $port" \
			"fsync = off" "log_min_messages = warning"
		for setting; do printf '%s\n' "$setting"; done
	} >>"$data/postgresql.conf"
	as_pg "$TEST_PGBIN/pg_ctl" -D "$data" -l "$TEST_DIR/server-$name.log" -w -t 60 \
		start >/dev/null || { cat "$TEST_DIR/server-$name.log" >&2; return 1; }
}

pg_restart() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" -m fast -w -t 60 restart \
		-l "$TEST_DIR/server.log" >/dev/null
}

pg_stop() {
	local d
	d=$(cat "$BATS_FILE_TMPDIR/cluster-dir" 2>/dev/null) || return 0
	[ -n "$d" ] && [ -d "$d" ] || return 0
	for pd in "$d"/*/postmaster.pid "$d"/data/postmaster.pid; do
		[ -f "$pd" ] || continue
		as_pg "$(pg_bindir)/pg_ctl" -D "$(dirname "$pd")" -m immediate \
			-w stop >/dev/null 2>&1 || true
	done
	rm -rf "$d"
	rm -f "$BATS_FILE_TMPDIR/cluster-dir"
}

# The major version of the server the clusters run.
server_major() {
	local bin
	bin=$(pg_bindir) || return 1
	"$bin/initdb" --version | sed -n 's/.* \([0-9][0-9]*\)[.a-z].*/\1/p'
}

find_module() {
	MODULE_SO="$SKYTOOLS_BUILD/server/$1.so"
	[ -f "$MODULE_SO" ] || MODULE_SO="$TOP/build/server/$1.so"
	[ -f "$MODULE_SO" ] && return 0
	SKIP_FILE="$1.so is not built: the server headers are missing (apt-get install postgresql-server-dev-$(server_major))"
	export SKIP_FILE
	return 1
}

# pg_start_with_pgq_c: pg_start, with our pgq_c.so where the server loads
# it (a directory of this cluster ahead of $libdir).  Status 1 (and
# SKIP_FILE set) when the module is not built.
pg_start_with_pgq_c() {
	find_module pgq_c || return 1
	pg_start || return 1
	mkdir -p "$TEST_DIR/lib"
	cp "$MODULE_SO" "$TEST_DIR/lib/pgq_c.so"
	chmod -R a+rX "$TEST_DIR/lib"
	sql postgres "ALTER SYSTEM SET dynamic_library_path = '$TEST_DIR/lib:\$libdir'" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
}

pid_to() {
	sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$@"
}

argv0() {
	local first='' second=''
	# builtins only: marked_pids asks this of every marked process, and
	# a tr and a head for each made one look cost over a second at load
	{ IFS= read -r -d "" first && IFS= read -r -d "" second; } 2>/dev/null <"/proc/$1/cmdline"
	[ -n "$first" ] || return 1
	case $first in
	sh|*/sh|bash|*/bash|dash|*/dash)
		case $second in ''|-*) echo "$first" ;; *) echo "$second" ;; esac ;;
	*) echo "$first" ;;
	esac
}

marked_pids() {
	local e p a
	# grep -z: the environment is NUL-separated; one process for all
	for e in $(grep -lzxF "SKYTOOLS_TEST_MARK=$1" /proc/[0-9]*/environ 2>/dev/null); do
		p=${e%/environ}
		p=${p#/proc/}
		if [ -n "${2:-}" ]; then
			# not comm: it is cut at 15 bytes (pgq-finish-batc)
			a=$(argv0 "$p")
			[ "${a##*/}" = "$2" ] || continue
		fi
		echo "$p"
	done
	return 0
}

descendants() {
	# /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
	{ pid = $1; sub(/.*\) /, ""); ppid[pid] = $2 }
	END {
		n = 1; q[1] = root
		while (n > 0) {
			r = q[n--]
			for (p in ppid) if (ppid[p] == r) { print p; q[++n] = p }
		}
	}'
}

has_marked() { [ -n "$(marked_pids "$@")" ]; }

alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# the state follows "(comm) ", and comm may hold ") "
	case ${st##*) } in Z*|X*) return 1 ;; esac
}
not_alive() { ! alive "$1"; }

skip_file() {
	[ -z "${SKIP_FILE:-}" ] || skip "$SKIP_FILE"
}

setup_file() { pg_start; }
teardown_file() { pg_stop; }

sql() {
	local db=$1; shift
	psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "$*"
}

ret_call() {
	sql "$1" "SELECT ret_code || '|' || coalesce(ret_note, '') FROM $2"
}

no_output() {
	local out
	out=$("$@") || return 1
	[ -z "$out" ] || { printf 'unexpected output: %s\n' "$out" >&2; return 1; }
}

ret_ok() {
	local r
	r=$(ret_call "$1" "$2") || return 1
	case $r in 200\|*) ;; *) echo "$1: $2: $r" >&2; return 1 ;; esac
}

install_ours() {
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/pgq.sql" >/dev/null &&
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/pgq_coop.sql" >/dev/null
}

have_debian_pgq() {
	local share
	share=$(pg_config --sharedir 2>/dev/null) || return 1
	[ -f "$share/extension/pgq.control" ] &&
		grep -q "^default_version = '3" "$share/extension/pgq.control"
}

install_debian() {
	have_debian_pgq || { echo "Debian's postgresql-*-pgq3 is not installed" >&2; return 1; }
	sql "$1" "CREATE EXTENSION pgq" >/dev/null
}

new_db() {
	local name=$1 kind=${2:-ours}
	sql postgres "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null &&
	sql postgres "CREATE DATABASE \"$name\"" >/dev/null || return 1
	case $kind in
	ours) install_ours "$name" ;;
	debian) install_debian "$name" ;;
	none) ;;
	*) echo "new_db: unknown kind $kind" >&2; return 1 ;;
	esac
}

# The pause between tries grows from 20 ms to 200 ms: a condition met
# at once costs almost no wait, and a long one (a copy, a takeover) does
# not start a psql and a backend ten times a second for a minute, which
# on two cores running four test files slowed every other file.
wait_for() {
	local end=$((SECONDS + 120)) pause=0.02
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep "$pause"
		case $pause in
		0.02) pause=0.05 ;;
		0.05) pause=0.1 ;;
		0.1) pause=0.2 ;;
		esac
	done
}

# session FD DB: a psql session of DB that reads the statements written
# to fd FD (left open by the caller) and prints into session.FD.out.
session() {
	mkfifo "$BATS_TEST_TMPDIR/session.$1"
	psql -XAtq -d "$2" < "$BATS_TEST_TMPDIR/session.$1" > "$BATS_TEST_TMPDIR/session.$1.out" 2>&1 &
	echo $! > "$BATS_TEST_TMPDIR/session.$1.pid"
	eval "exec $1>\"\$BATS_TEST_TMPDIR/session.$1\""
}

# said FD WORD: the session printed WORD (its statements before ran).
said() {
	grep -qx "$2" "$BATS_TEST_TMPDIR/session.$1.out"
}

# end_session FD: close it and wait for its psql.
end_session() {
	eval "exec $1>&-"
	wait "$(cat "$BATS_TEST_TMPDIR/session.$1.pid")"
	rm -f "$BATS_TEST_TMPDIR/session.$1.pid"
}

# sessions_stop: the psql of every session still open (a teardown's).
sessions_stop() {
	local f
	for f in "$BATS_TEST_TMPDIR"/session.*.pid; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || :
		# by pid: a bare wait would also wait for bats' time-limit watchdog
		wait "$(cat "$f")" 2>/dev/null || :
	done
	return 0
}

# The checks every program gets first: no args, --help, --version,
# unknown option.
basic_checks() {
	local prog=$1
	run --separate-stderr "$prog"
	[ "$status" -eq 2 ] || { echo "no args: status $status" >&2; return 1; }
	[[ "$stderr" == *usage:* ]] || { echo "no args: no usage: $stderr" >&2; return 1; }
	run --separate-stderr "$prog" --help
	[ "$status" -eq 0 ] || { echo "--help: status $status" >&2; return 1; }
	[[ "$output" == *usage:* ]] || { echo "--help: no usage" >&2; return 1; }
	run --separate-stderr "$prog" --version
	[ "$status" -eq 0 ] && [[ "$output" == "$prog "* ]] || { echo "--version: $output" >&2; return 1; }
	run --separate-stderr "$prog" --no-such-option
	[ "$status" -eq 2 ] || { echo "bad option: status $status" >&2; return 1; }
	usage_is_synopsis "$prog"
}

# A C program's usage lines (the first lines of --help) read as its man
# page's SYNOPSIS, so the two cannot drift apart.
usage_is_synopsis() {
	local prog=$1 use syn
	[ -x "$SKYTOOLS_BUILD/bin/$prog" ] || return 0
	syn=$(mandoc -Tascii -O width=1000 "$TOP/man/man1/$prog.1" | sed 's/.\x08//g' |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d;s/^ *//;/^$/d' | tr -s ' ')
	use=$("$prog" --help | awk 'NR == 1 || /^       [a-z]/ { print; next } { exit }' |
		sed 's/^usage: //; s/^ *//' | tr -s ' ')
	[ -n "$syn" ] && [ "$use" = "$syn" ] ||
		{ printf 'usage:\n%s\nSYNOPSIS:\n%s\n' "$use" "$syn" >&2; return 1; }
}

# PgQ flavours the pipe programs are tested against: ours and Debian's
# original PgQ.  Override with TEST_PGQ_FLAVOURS while developing.
pgq_flavours() { echo "${TEST_PGQ_FLAVOURS:-ours debian}"; }

# Create QUEUE in DB and register CONSUMER(s) on it.
make_queue() {
	local db=$1 q=$2; shift 2
	sql "$db" "SELECT pgq.create_queue('$q')" >/dev/null || return 1
	for c in "$@"; do
		sql "$db" "SELECT pgq.register_consumer('$q', '$c')" >/dev/null || return 1
	done
}

# Make a tick on QUEUE now: force_tick() makes the queue look busy
# enough that ticker() does not wait for max_count or max_lag.
tick() { sql "$1" "SELECT pgq.force_tick('$2'); SELECT pgq.ticker('$2')" >/dev/null; }

# wal_segment NAME [SIZE] > FILE: a plausible WAL segment for NAME: its
# page header (wal_header), then random bytes up to SIZE.  SIZE is in
# bytes, a power of 2 from 1 MiB to 1 GiB; 1 MiB by default, the smallest
# size initdb allows, to keep tests quick.
wal_segment() {
	local size=${2:-1048576}

	wal_header "$1" "$size"
	head -c $((size - 40)) /dev/urandom
}
# wal_header NAME [SIZE]: the 40-byte long page header PostgreSQL writes
# at the start of segment NAME of SIZE bytes (XLP_LONG_HEADER set;
# timeline, page address and segment size agreeing with the name;
# little-endian).  WAL_SEG_SYSID sets the system identifier.
wal_header() {
	local name=$1 size=${2:-1048576}
	local tli=$((16#${name:0:8})) log=$((16#${name:8:8})) seg=$((16#${name:16:8}))

	_wal_le 2 $((0xD110)); _wal_le 2 2; _wal_le 4 "$tli"
	_wal_le 8 $((log * 4294967296 + seg * size)); _wal_le 8 0
	_wal_le 8 "${WAL_SEG_SYSID:-7300000000000000001}"
	_wal_le 4 "$size"; _wal_le 4 8192
}
# wal_store_unchecked ARCHIVE SRC NAME [zstd]: pushed as NAME.partial
# (never checked), then its trailer renamed to NAME (and its checksum
# recomputed).
wal_store_unchecked() {
	local a=$1 src=$2 name=$3 z=${4:+.zst}

	wal-push -A "$a" -c "${4:-none}" "$src" "$name.partial" || return 1
	python3 "$BATS_TEST_DIRNAME/wal-trailer.py" rename "$a/wal/$name.partial$z" "$a/wal/$name$z" "$name" || return 1
	rm "$a/wal/$name.partial$z"
}
# _wal_le BYTES VALUE: VALUE little-endian in BYTES bytes.
_wal_le() {
	local k o

	for ((k = 0; k < $1; k++)); do
		printf -v o '%03o' $((($2 >> (8 * k)) & 255))
		printf "\\$o"
	done
}

# install_drain DB: the function t.drain(queue, consumer) in DB, which
# returns the ev_data of every batch ready for the consumer, finishing
# each: one psql call per drain keeps the tests quick on a busy machine.
install_drain() {
	sql "$1" "CREATE SCHEMA t;
	CREATE FUNCTION t.drain(i_queue text, i_consumer text) RETURNS SETOF text
	LANGUAGE plpgsql AS \$\$
	DECLARE b bigint; d text;
	BEGIN
		LOOP
			b := pgq.next_batch(i_queue, i_consumer);
			EXIT WHEN b IS NULL;
			FOR d IN SELECT ev_data FROM pgq.get_batch_events(b) LOOP
				RETURN NEXT d;
			END LOOP;
			PERFORM pgq.finish_batch(b);
		END LOOP;
	END \$\$" >/dev/null
}
