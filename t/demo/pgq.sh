#!/bin/sh
# PgQ demo: pgqadm install, a queue, the ticker daemon, two producers
# feeding pgq-insert, two consumers built from the pipes, and pgq-status
# showing both caught up.  Starts its own throwaway cluster in a
# temporary directory and removes it at the end.
# Usage: t/demo/pgq.sh BUILD-DIR
set -u
[ $# -eq 1 ] || { echo "usage: pgq.sh build-dir" >&2; exit 2; }
# shellcheck source=t/demo/lib.sh
. "$(dirname "$0")/lib.sh"
demo_setup pgq "$1"

step "a throwaway cluster in $dir"
demo_cluster "$dir/data"
export PGDATABASE=shop
psql -Xq -d postgres -c "CREATE DATABASE shop" || exit 3

step "pgqadm -d dbname=shop install"
pgqadm -d dbname=shop install || exit 3
psql -XAtc "SELECT 'pgq ' || pgq.version()"

step "a queue and two consumers"
pgqadm -d dbname=shop create orders || exit 3
pgqadm -d dbname=shop register orders mailer || exit 3
pgqadm -d dbname=shop register orders audit || exit 3
pgq-config orders ticker_max_lag=0.2 || exit 3

step "the ticker: pgq-tick --loop"
bg pgq-tick --loop -d dbname=shop --interval 100 2>"$dir/ticker.log"

step "two consumers, each a pipeline: pgq-next-batch | pgq-events | stage | pgq-finish-batch"
for c in mailer audit; do
	# shellcheck disable=SC2016 # expanded by the inner shell
	bg sh -c 'pgq-next-batch --follow orders "$1" | pgq-events |
		tee "$2" | pgq-finish-batch' sh "$c" "$dir/$c.stream" 2>>"$dir/$c.log"
done

step "two producers feed pgq-insert, 500 events each"
for p in web pos; do
	# shellcheck disable=SC2016 # expanded by the inner shell
	bg sh -c 'i=1; while [ $i -le 500 ]; do
		printf "order\t%s-%d\n" "$1" $i
		[ $((i % 100)) -eq 0 ] && sleep 0.2
		i=$((i + 1))
	  done | pgq-insert orders' sh "$p"
done

# Wait until both consumers saw all 1000 events.
n=0
while [ $n -lt 300 ]; do
	a=$(grep -c '^event' "$dir/mailer.stream" 2>/dev/null)
	b=$(grep -c '^event' "$dir/audit.stream" 2>/dev/null)
	[ "${a:-0}" -ge 1000 ] && [ "${b:-0}" -ge 1000 ] && break
	sleep 0.1
	n=$((n + 1))
done
sleep 0.5
echo "mailer saw ${a:-0} events, audit saw ${b:-0} events"
echo "first events the mailer saw:"
grep '^event' "$dir/mailer.stream" | head -n 3 | cut -f2,6,7

step "pgq-status: both consumers caught up"
pgq-status orders
if [ "${a:-0}" -ne 1000 ] || [ "${b:-0}" -ne 1000 ]; then
	echo "pgq demo: consumers did not see every event" >&2
	exit 3
fi
echo
echo "pgq demo: done"
