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
	# shellcheck disable=SC2012 # names are hex digits
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

pgbr_setup() {
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

# push SIDE COMPRESSION: archive every segment, one process each.
wal_push_all() {
	_side=$1 _c=$2
	if [ "$_side" = ours ]; then
		rm -rf "$BENCH_DIR/walarch"
		as_pg mkdir "$BENCH_DIR/walarch"
		_cmd='for f in "$1"/0*; do wal-push -A "$2" --compress "$3" "$f" "${f##*/}" || exit 3; done'
		timed _s as_pg sh -c "$_cmd" sh "$WALSRC" "$BENCH_DIR/walarch" "$_c"
	else
		find "$BENCH_DIR/pgbr-repo/archive/bench" -mindepth 2 -maxdepth 2 -type d \
			-name '0*' -exec rm -rf {} +
		_t=$_c
		[ "$_c" = zstd ] && _t=zst
		_cmd='for f in "$1"/0*; do
			pgbackrest --config="$2" --stanza=bench --compress-type="$3" \
				--compress-level=1 --no-archive-mode-check archive-push "$f" || exit 3
		done'
		timed _s as_pg sh -c "$_cmd" sh "$WALSRC" "$PGBR_CONF" "$_t"
	fi
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
		timed _s as_pg sh -c '"$1" "$2" "$3"/0*' sh copyfsync \
			"$BENCH_DIR/walfloor" "$WALSRC"
		rec wal.floor ref "$(rate $((WAL_N * 16)) "$_s")"
		;;
	esac
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
	ROUND=1
	while [ "$ROUND" -le "$ROUNDS" ]; do
		sides wal_run
		ROUND=$((ROUND + 1))
	done
}
