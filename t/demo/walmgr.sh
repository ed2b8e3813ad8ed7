#!/bin/sh
# walmgr demo: archiving on, a base backup, writes, and a point-in-time
# restore that shows the data as of the chosen moment.  Starts its own
# throwaway cluster in a temporary directory and removes it at the end.
# Usage: t/demo/walmgr.sh BUILD-DIR   (e.g. build)
set -u
[ $# -eq 1 ] || { echo "usage: walmgr.sh build-dir" >&2; exit 2; }
# shellcheck source=t/demo/lib.sh
. "$(dirname "$0")/lib.sh"
demo_setup walmgr "$1"
q() { as_pg psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$dir" -p "${2:-5432}" -d postgres -c "$1"; }

# The server runs our programs as its own user, who may not be able to
# read the checkout: give it copies.
mkdir -p "$dir/bin"
cp "$build"/bin/wal-* "$top/sh/walmgr" "$top/sh/skytools-sh.lib" "$dir/bin/" || exit 3
chmod 755 "$dir/bin" "$dir"/bin/*
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
PATH="$dir/bin:$PATH"

step "a throwaway cluster in $dir"
demo_cluster "$dir/data" "wal_level = replica"

cat >"$dir/walmgr.ini" <<INI
[walmgr]
master_db = host=$dir port=5432 dbname=postgres
master_data = $dir/data
archive = $dir/archive
compression = zstd
keep_backups = 1
INI
[ "$(id -u)" = 0 ] && chown postgres: "$dir/walmgr.ini"
walmgr() { as_pg walmgr "$dir/walmgr.ini" "$@"; }

step "walmgr setup: archive_command = wal-push"
walmgr setup || exit 3
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null || exit 3
q "SHOW archive_command"

step "walmgr backup"
q "CREATE TABLE orders (id int, note text)"
walmgr backup || exit 3

step "writes: orders 1-3, remember the time, then orders 4-6"
q "INSERT INTO orders SELECT g, 'kept' FROM generate_series(1, 3) g"
target=$(q "SELECT clock_timestamp()")
echo "chosen moment: $target"
sleep 1
q "INSERT INTO orders SELECT g, 'after the moment' FROM generate_series(4, 6) g"
seg=$(q "SELECT pg_walfile_name(pg_switch_wal())")
i=0
until [ "$(q "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver")" = t ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "archiving did not catch up; see $dir/server.log" >&2; exit 3; }
	sleep 0.1
done
q "SELECT id, note FROM orders ORDER BY id"

step "the archive (wal-list) and its check (wal-check --verify)"
as_pg wal-list -A "$dir/archive"
as_pg wal-check -A "$dir/archive" --verify || exit 3

step "walmgr restore --target-time '$target'"
walmgr restore "$dir/pitr" --target-time "$target" || exit 3
as_pg "$pgbin/pg_ctl" -D "$dir/pitr" -l "$dir/pitr.log" -o "-p 5433" -w start >/dev/null || exit 3
i=0
until [ "$(q "SELECT pg_is_in_recovery()" 5433 2>/dev/null)" = f ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "recovery did not finish; see $dir/pitr.log" >&2; exit 3; }
	sleep 0.1
done
echo "the restored copy, as of $target:"
q "SELECT id, note FROM orders ORDER BY id" 5433
n=$(q "SELECT count(*) FROM orders" 5433)
[ "$n" = 3 ] || { echo "expected 3 rows, got $n" >&2; exit 1; }
# A copy is not the master: it must not archive its new timeline.
[ "$(q "SHOW archive_mode" 5433)" = off ] || { echo "the copy archives" >&2; exit 1; }
for f in "$dir"/archive/wal/*.history*; do
	[ ! -e "$f" ] || { echo "the copy wrote into the archive: $f" >&2; exit 1; }
done
step "done"
