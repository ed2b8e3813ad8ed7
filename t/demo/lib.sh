# t/demo/lib.sh: what every demo does first, sourced by t/demo/*.sh.
#
#   demo_setup NAME BUILD   find the server binaries ($pgbin), make the
#                           demo's temporary directory ($dir, readable by
#                           the server's user), put BUILD's programs and
#                           sh/ first on PATH, and remove it all on exit
#   demo_cluster DATADIR [SETTING...]
#                           initdb and start a cluster listening on the
#                           socket in $dir only, with extra
#                           postgresql.conf lines; exports PGHOST PGPORT
#                           PGUSER
#   as_pg CMD...            run CMD as the server's user (root: postgres)
#   step MSG                a heading
#   bg CMD...               run CMD in the background as a session and
#                           process group of its own; the cleanup ends
#                           the whole group (every stage of a pipeline
#                           run as `bg sh -c '...'`) and waits for it;
#                           $bg_pid is the group's id
#   stop_group ID           end one such group now
#   demo_on_exit            defined by a demo to stop its own processes

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		# from /: the checkout (say in /root) may be closed to postgres,
		# and every path the demos pass is absolute
		(cd / && runuser -u postgres -- env PATH="$PATH" "$@")
	else
		"$@"
	fi
}

step() { printf '\n== %s\n' "$*"; }

# A background child of a shell without job control is no group leader,
# so setsid makes it one without forking: $! is the group's id.  Wait
# until it is one, so that stop_groups never has to signal a bare pid
# (which may have been reused once the child is reaped).
groups=
bg() {
	setsid "$@" &
	_g=$!
	# shellcheck disable=SC2034 # read by the demos
	bg_pid=$_g
	groups="$groups $_g"
	_n=0
	while ! kill -s 0 -- "-$_g" 2>/dev/null && [ $_n -lt 100 ]; do
		_n=$((_n + 1))
		sleep 0.01
	done
}

# TERM to a group, then wait until its last process is gone: a stage
# left behind would keep reconnecting to a server that no longer exists.
stop_group() {
	kill -s TERM -- "-$1" 2>/dev/null
	wait "$1" 2>/dev/null
	_n=0
	while kill -s 0 -- "-$1" 2>/dev/null; do
		_n=$((_n + 1))
		[ $_n -eq 100 ] && kill -s KILL -- "-$1" 2>/dev/null
		sleep 0.1
	done
}

stop_groups() {
	for _g in $groups; do
		kill -s TERM -- "-$_g" 2>/dev/null
	done
	for _g in $groups; do
		stop_group "$_g"
	done
	groups=
}

demo_cleanup() {
	command -v demo_on_exit >/dev/null 2>&1 && demo_on_exit
	stop_groups
	for pid in "$dir"/*/postmaster.pid; do
		[ -f "$pid" ] && as_pg "$pgbin/pg_ctl" -D "$(dirname "$pid")" \
			-m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$dir"
}

demo_setup() {
	demo=$1
	build=$(cd "$2" && pwd) || exit 2
	top=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
	pgbin=$(pg_config --bindir 2>/dev/null)
	if [ ! -x "$pgbin/initdb" ]; then
		for d in /usr/lib/postgresql/*/bin; do
			[ -x "$d/initdb" ] && pgbin=$d
		done
	fi
	if [ ! -x "$pgbin/initdb" ]; then
		echo "$demo demo: no PostgreSQL server binaries (apt-get install postgresql)" >&2
		exit 3
	fi
	PATH="$build/bin:$top/sh:$PATH"
	SKYTOOLS_SQLDIR="$build/sql"
	export PATH SKYTOOLS_SQLDIR
	unset PGSERVICE PGPASSWORD PGOPTIONS PGDATABASE
	dir=$(mktemp -d "${TMPDIR:-/tmp}/$demo-demo.XXXXXX") || exit 3
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	trap demo_cleanup EXIT
	trap 'exit 3' INT TERM
}

demo_cluster() {
	as_pg "$pgbin/initdb" -D "$1" -U postgres -A trust --no-sync >/dev/null ||
		{ echo "$demo demo: initdb failed" >&2; exit 3; }
	_data=$1
	shift
	{
		printf "listen_addresses = ''\nunix_socket_directories = '%s'\nport = 5432\n" "$dir"
		printf '%s\n' "$@"
	} >>"$_data/postgresql.conf"
	set -- "$_data"
	as_pg "$pgbin/pg_ctl" -D "$1" -l "$1.log" -w start >/dev/null ||
		{ echo "$demo demo: the server did not start; see $1.log" >&2; exit 3; }
	PGHOST=$dir PGPORT=5432 PGUSER=postgres
	export PGHOST PGPORT PGUSER
}
