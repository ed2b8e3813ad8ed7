# w-backup.sh: a compressed base backup and its restore, of a cluster
# of about 2 GB (pgbench -i).  In QUICK mode about 60 MB: pgbench -i at
# scale 2, the databases of the workloads before dropped first (so the
# size does not depend on which of them ran).  Ours is `walmgr
# backup` with compression = zstd (pg_basebackup's client-side zstd at
# its default level 3, SHA-256 sums of the files, a manifest checked on
# restore) against pgBackRest's full backup with zst at its default
# level 3 and one process (its defaults), and against a bare
# pg_basebackup with the same compression, which is our floor.
# Restore: `walmgr restore` against `pgbackrest restore`, each into an
# empty directory; the server is not started on it.  Rates are MiB of
# the cluster's databases per second.

backup_db_setup() {
	if [ "$QUICK" = 1 ]; then
		for _d in $(q postgres "SELECT datname FROM pg_database
		    WHERE datname NOT IN ('postgres', 'template0', 'template1')"); do
			q postgres "DROP DATABASE \"$_d\" WITH (FORCE)" >/dev/null ||
				die "cannot drop database $_d"
		done
	fi
	new_db w_backup none
	# about 15 MiB per scale unit
	_s=136
	[ "$QUICK" = 1 ] && _s=2
	pgbench -i -q -s "$_s" w_backup >"$OUT/backup-pgbench.log" 2>&1 || die "pgbench -i failed"
	q postgres CHECKPOINT >/dev/null
	BACKUP_MB=$(q postgres "SELECT sum(pg_database_size(oid)) / 1048576 FROM pg_database")
	printf 'backup\tdata\t%s MiB\n' "$BACKUP_MB" >>"$OUT/notes.tsv"
	WM_INI=$BENCH_DIR/walmgr.ini
	cat >"$WM_INI" <<-INI
	[walmgr]
	job_name = bench
	master_db = host=$BENCH_DIR port=$PGPORT dbname=postgres user=postgres
	master_data = $BENCH_PGDATA
	archive = $BENCH_DIR/wm-archive
	compression = zstd
	keep_backups = 100
	INI
	as_pg mkdir -p "$BENCH_DIR/wm-archive/base"
	[ "$(id -u)" = 0 ] && chown postgres: "$WM_INI"
	mkdir -p "$BENCH_DIR/wm-bin"
	cp "$SKYTOOLS_BUILD"/bin/wal-* "$TOP/sh/walmgr" "$TOP/sh/skytools-sh.lib" "$BENCH_DIR/wm-bin/" ||
		die "cp failed"
	chmod -R a+rX "$BENCH_DIR/wm-bin"
	pgbr_setup
}

# restore_dir NAME: an empty directory the server's user owns
restore_dir() {
	rm -rf "${BENCH_DIR:?}/$1"
	as_pg mkdir -m 700 "$BENCH_DIR/$1"
	echo "$BENCH_DIR/$1"
}

backup_run() {
	case $1 in
	ours)
		sync
		timed _s as_pg env PATH="$BENCH_DIR/wm-bin:$PATH" walmgr "$WM_INI" backup
		rec backup.pgbr ours "$(rate "$BACKUP_MB" "$_s")"
		rec backup.pgbb ours "$(rate "$BACKUP_MB" "$_s")"
		# shellcheck disable=SC2012 # labels are time stamps
		_label=$(ls "$BENCH_DIR/wm-archive/base" | tail -n 1)
		[ -n "$_label" ] || die "walmgr listbackups shows no backup"
		_d=$(restore_dir wm-restore)
		sync
		timed _s as_pg env PATH="$BENCH_DIR/wm-bin:$PATH" walmgr "$WM_INI" \
			restore "$_label" "$_d" --no-archive
		rec restore.pgbr ours "$(rate "$BACKUP_MB" "$_s")"
		rm -rf "$_d" "$BENCH_DIR/wm-archive/base/$_label"
		;;
	ref)
		sync
		timed _s as_pg pgbackrest --config="$PGBR_CONF" --stanza=bench \
			--type=full --compress-type=zst --no-archive-check backup
		rec backup.pgbr ref "$(rate "$BACKUP_MB" "$_s")"
		_d=$(restore_dir pgbr-restore)
		sync
		timed _s as_pg pgbackrest --config="$PGBR_CONF" --stanza=bench \
			--pg1-path="$_d" restore
		rec restore.pgbr ref "$(rate "$BACKUP_MB" "$_s")"
		rm -rf "$_d"
		as_pg pgbackrest --config="$PGBR_CONF" --stanza=bench expire \
			--repo1-retention-full=1 >/dev/null 2>&1 || :
		_d=$(restore_dir pgbb)
		rmdir "$_d"
		sync
		timed _s as_pg pg_basebackup -D "$_d" -F t --compress=client-zstd \
			-X stream -c fast --manifest-checksums=SHA256
		rec backup.pgbb ref "$(rate "$BACKUP_MB" "$_s")"
		rm -rf "$_d"
		;;
	esac
}

w_backup() {
	backup_db_setup
	row backup.pgbr "base backup, zstd level 3: walmgr backup vs pgbackrest backup (full, zst)" \
		MiB/s higher 'ratio>=2.0'
	row restore.pgbr "restore of that backup: walmgr restore vs pgbackrest restore" \
		MiB/s higher 'ratio>=2.0'
	row backup.pgbb "base backup, zstd level 3: walmgr backup vs bare pg_basebackup (the floor)" \
		MiB/s higher 'ratio>=0.9'
	rounds sides backup_run
	q postgres "DROP DATABASE w_backup" >/dev/null
}
