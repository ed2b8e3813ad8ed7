# w-wal.sh: archiving 64 WAL segments of 16 MiB, one process per
# segment as archive_command runs it.  wal-push against pgBackRest's
# archive-push (archive-async off, its default), uncompressed and with
# zstd at level 1 on both sides (wal-push's default level; pgBackRest's
# default for zst is 3).  The floor is copyfsync.c: copy, fsync, rename,
# fsync of the directory, all segments in one process.  The segments
# are real WAL of this cluster (pgbench -i), so compression sees real
# data, and pgBackRest's header check passes.  Everything runs as the
# server's user, from a directory it owns, on the same filesystem.

wal_segments() {
	_n=$1
	new_db w_gen none
	q postgres CHECKPOINT
	_start=$(q postgres "SELECT pg_walfile_name(pg_current_wal_lsn())")
	# about 12 MiB of WAL per scale unit
	pgbench -i -q -s $((_n * 2)) w_gen >"$OUT/wal-pgbench.log" 2>&1 || die "pgbench -i failed"
	q postgres "SELECT pg_switch_wal()" >/dev/null
	_cur=$(q postgres "SELECT pg_walfile_name(pg_current_wal_lsn())")
	WALSRC=$BENCH_DIR/walsrc
	mkdir -p "$WALSRC"
	# complete segments of this run, oldest first, not yet recycled
	# (no checkpoint since CHECKPOINT above has removed any)
	# shellcheck disable=SC2012,SC2010 # names are hex digits
	ls "$BENCH_PGDATA/pg_wal" | grep -E '^[0-9A-F]{24}$' |
		awk -v a="$_start" -v b="$_cur" '($0 "") > (a "") && ($0 "") < (b "")' |
		tail -n "$_n" >"$OUT/wal.list"
	[ "$(wc -l <"$OUT/wal.list")" = "$_n" ] ||
		die "not $_n WAL segments between $_start and $_cur"
	while read -r _f; do
		cp "$BENCH_PGDATA/pg_wal/$_f" "$WALSRC/$_f" || die "cp $_f"
	done <"$OUT/wal.list"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$WALSRC"
	q postgres "DROP DATABASE w_gen"
}

# push SIDE COMPRESSION: archive every segment, one process each.
wal_push_all() {
	_side=$1 _c=$2
	if [ "$_side" = ours ]; then
		rm -rf "$BENCH_DIR/walarch"
		as_pg mkdir "$BENCH_DIR/walarch"
		# shellcheck disable=SC2016 # expanded by that shell
		_cmd='for f in "$1"/0*; do wal-push -A "$2" --compress "$3" "$f" "${f##*/}" || exit 3; done'
		timed _s as_pg sh -c "$_cmd" sh "$WALSRC" "$BENCH_DIR/walarch" "$_c"
	else
		find "$BENCH_DIR/pgbr-repo/archive/bench" -mindepth 2 -maxdepth 2 -type d \
			-name '0*' -exec rm -rf {} +
		_t=$_c
		[ "$_c" = zstd ] && _t=zst
		# shellcheck disable=SC2016 # expanded by that shell
		_cmd='for f in "$1"/0*; do
			pgbackrest --config="$2" --stanza=bench --compress-type="$3" \
				--compress-level=1 --no-archive-mode-check archive-push "$f" || exit 3
		done'
		timed _s as_pg sh -c "$_cmd" sh "$WALSRC" "$PGBR_CONF" "$_t"
	fi
	# shellcheck disable=SC2154 # _s: set by timed
	rate $((WAL_N * 16)) "$_s"
}

wal_run() {
	case $1 in
	ours)
		sync
		_none=$(wal_push_all ours none)
		rec wal.none ours "$_none"
		rec wal.floor ours "$_none"
		sync
		rec wal.zstd ours "$(wal_push_all ours zstd)"
		;;
	ref)
		sync
		rec wal.none ref "$(wal_push_all ref none)"
		sync
		rec wal.zstd ref "$(wal_push_all ref zstd)"
		rm -rf "$BENCH_DIR/walfloor"
		as_pg mkdir "$BENCH_DIR/walfloor"
		sync
		# shellcheck disable=SC2016 # expanded by that shell
		timed _s as_pg sh -c '"$1" "$2" "$3"/0*' sh copyfsync \
			"$BENCH_DIR/walfloor" "$WALSRC"
		rec wal.floor ref "$(rate $((WAL_N * 16)) "$_s")"
		;;
	esac
}

# The archive module: segments pile up as .ready while the server has
# archive_mode on and nothing to archive with (PostgreSQL keeps them),
# then skytools_wal is switched on and the archiver takes every one of
# them.  Its floor is the same copy+fsync as above.
bench_restart() {
	as_pg "$PGBIN/pg_ctl" -D "$BENCH_PGDATA" -l "$BENCH_DIR/server.log" \
		-m fast -w -t 120 restart >/dev/null || die "server did not restart"
}

module_on() {
	_so=$SKYTOOLS_BUILD/server/skytools_wal.so
	[ -f "$_so" ] || _so=$TOP/build/server/skytools_wal.so
	[ -f "$_so" ] || die "skytools_wal.so missing: install the server headers and run make"
	{ cp "$_so" "$BENCH_DIR/lib/skytools_wal.so" &&
		chmod a+r "$BENCH_DIR/lib/skytools_wal.so"; } || die "cannot copy $_so"
	q postgres "ALTER SYSTEM SET archive_mode = on" >/dev/null
	q postgres "ALTER SYSTEM SET archive_library = ''" >/dev/null
	q postgres "ALTER SYSTEM SET archive_command = ''" >/dev/null
	bench_restart
}

module_off() {
	q postgres "ALTER SYSTEM RESET archive_library" >/dev/null
	q postgres "ALTER SYSTEM RESET archive_command" >/dev/null
	q postgres "ALTER SYSTEM RESET archive_mode" >/dev/null
	psql -XAtq -d postgres -c "LOAD 'skytools_wal'" \
		-c "ALTER SYSTEM RESET skytools_wal.archive" >/dev/null
	bench_restart
}

# module_run: one measurement of the module over the segments that wait.
module_run() {
	rm -rf "$BENCH_DIR/modarch"
	as_pg mkdir "$BENCH_DIR/modarch"
	new_db w_gen none
	pgbench -i -q -s $((WAL_N * 2)) w_gen >"$OUT/wal-pgbench.log" 2>&1 || die "pgbench -i failed"
	q postgres "SELECT pg_switch_wal()" >/dev/null
	q postgres "DROP DATABASE w_gen" >/dev/null
	_ready=$(find "$BENCH_PGDATA/pg_wal/archive_status" -name '*.ready' | wc -l)
	[ "$_ready" -gt 0 ] || die "no WAL segment waits for the archiver"
	_base=$(q postgres "SELECT archived_count FROM pg_stat_archiver")
	sync
	# the module's settings exist once it is loaded in the session
	psql -XAtq -v ON_ERROR_STOP=1 -d postgres -c "LOAD 'skytools_wal'" \
		-c "ALTER SYSTEM SET skytools_wal.archive = '$BENCH_DIR/modarch'" \
		-c "ALTER SYSTEM SET archive_library = 'skytools_wal'" \
		-c "SELECT pg_reload_conf()" >/dev/null || die "cannot switch the archive module on"
	wait_for 300 "the archive module did not archive $_ready segments" \
		ready_gone "$_base" "$_ready"
	q postgres "SELECT failed_count FROM pg_stat_archiver" >>"$OUT/wal-module-failed.log"
	# From the end of the first file to the end of the last, by the
	# files' own times: the archiver's restart for the new library
	# (seconds, and PostgreSQL's, not the module's) stays out.
	_span=$(find "$BENCH_DIR/modarch" -type f -name '0*' -printf '%T@\n' | sort -n |
		awk 'NR == 1 { a = $1 } { b = $1; n++ } END { if (n > 1 && b > a) printf "%.6f %d", b - a, n - 1 }')
	[ -n "$_span" ] || die "the archive module archived too few segments to time"
	# back to "nothing to archive with" for the next round
	q postgres "ALTER SYSTEM SET archive_library = ''" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	rec wal.module ours "$(rate $((${_span#* } * 16)) "${_span% *}")"
}

ready_gone() {
	[ "$(q postgres "SELECT archived_count FROM pg_stat_archiver")" -ge $(($1 + $2)) ]
}

w_wal() {
	WAL_N=64
	[ "$QUICK" = 1 ] && WAL_N=4
	# the server's user may not reach the checkout
	mkdir -p "$BENCH_DIR/bin"
	cp "$OUT/copyfsync" "$SKYTOOLS_BUILD/bin/wal-push" "$BENCH_DIR/bin/" || die "cp failed"
	PATH="$BENCH_DIR/bin:$PATH"
	wal_segments "$WAL_N"
	pgbr_setup
	row wal.none "wal-push $WAL_N x 16 MiB, uncompressed, vs pgbackrest archive-push" \
		MiB/s higher 'ratio>=2.5'
	row wal.zstd "wal-push $WAL_N x 16 MiB, zstd level 1, vs pgbackrest archive-push zst level 1" \
		MiB/s higher 'ratio>=2.0'
	row wal.floor "wal-push $WAL_N x 16 MiB, uncompressed, vs in-process copy+fsync floor (C)" \
		MiB/s higher 'ratio>=0.9'
	row wal.module "archive module (archive_library), uncompressed, vs in-process copy+fsync floor (C)" \
		MiB/s higher 'ratio>=0.95'
	rounds sides wal_run
	# The floor's rounds above are the module's reference too.
	awk -F '\t' '$1 == "wal.floor" && $2 == "ref" { print "wal.module\tref\t" $3 }' \
		"$OUT/raw.tsv" >"$OUT/wal-module-ref.tsv"
	cat "$OUT/wal-module-ref.tsv" >>"$OUT/raw.tsv"
	module_on
	rounds module_run
	module_off
}
