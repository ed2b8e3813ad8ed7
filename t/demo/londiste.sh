#!/bin/sh
# Londiste demo: a throwaway cluster with two databases, a table with
# live writes replicated, a second table added during replay, and
# compare showing both equal.  Usage: t/demo/londiste.sh BUILD_DIR
set -u
[ $# -eq 1 ] || { echo "usage: londiste.sh build-dir" >&2; exit 2; }
# shellcheck source=t/demo/lib.sh
. "$(dirname "$0")/lib.sh"
demo_setup londiste "$1"
demo_on_exit() {
	[ -f "$dir/l.ini" ] && londiste "$dir/l.ini" stop >/dev/null 2>&1
}

say() { printf '== %s\n' "$*"; }
die() { printf 'londiste demo: %s\n' "$*" >&2; exit 3; }

say "cluster in $dir"
demo_cluster "$dir/data" "fsync = off"
export PGDATABASE=postgres
psql -Xq -c "CREATE DATABASE provider" -c "CREATE DATABASE subscriber" || die "createdb failed"
for db in provider subscriber; do
	psql -Xq -d $db -c "CREATE TABLE orders (id int PRIMARY KEY, item text, qty int)" \
		-c "CREATE TABLE customers (id int PRIMARY KEY, name text)" || die "create table failed"
done
psql -Xq -d provider -c "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50000) g"

cat >"$dir/l.ini" <<INI
[londiste]
job_name = demo
provider_db = dbname=provider host=$dir
subscriber_db = dbname=subscriber host=$dir
pgq_queue_name = londiste.replika
logfile = $dir/%(job_name)s.log
pidfile = $dir/%(job_name)s.pid
loop_delay = 0.5
INI
L="londiste $dir/l.ini"

say "install provider and subscriber"
{ $L provider install && $L subscriber install; } || die "install failed"
bg pgq-tick -d "dbname=provider host=$dir" --loop --interval 100 2>"$dir/tick.log"

say "replicate orders, with live writes"
{ $L provider add orders && $L subscriber add orders; } || die "add failed"
cat >"$dir/writer.sh" <<'SH'
i=1
while :; do
	psql -Xq -d provider -c "INSERT INTO orders SELECT g, 'item ' || g, g % 7 FROM generate_series($i, $i + 99) g" \
		-c "UPDATE orders SET qty = qty + 1 WHERE id = $i" -c "DELETE FROM orders WHERE id = $i + 1" || exit
	i=$((i + 100))
	sleep 0.1
done
SH
bg sh "$dir/writer.sh"
writer=$bg_pid
$L replay --daemon || die "replay failed"
sleep 3
$L subscriber tables

say "add customers (50000 rows) during replay"
{ $L provider add customers && $L subscriber add customers; } || die "add failed"
n=0
until [ "$($L subscriber tables | grep -c '	ok$')" = 2 ]; do
	n=$((n + 1))
	[ $n -lt 120 ] || die "customers did not become ok"
	sleep 0.5
done
$L subscriber tables
stop_group "$writer"
say "compare"
$L status
$L compare || die "tables differ"
say "both tables equal"
