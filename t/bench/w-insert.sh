# w-insert.sh: pgq.insert_event() under pgbench, 1 and 100 events per
# transaction, 1 and 2 clients; our PL/pgSQL insert against Debian
# PgQ's C insert.  Each run starts from a fresh queue so that earlier
# runs' events do not weigh on later ones.  A run lasts 10 s; in QUICK
# mode a number of transactions per client instead, a few tenths of a
# second here (pgbench -T counts whole seconds).

INS_PAYLOAD='{"id": 123456, "name": "an event of a typical size", "n": 42}'

insert_run() {
	_side=$1 _n=$2 _c=$3
	case $_side in ours) _db=b_ours ;; ref) _db=b_deb ;; esac
	psql -XAtq -v ON_ERROR_STOP=1 -d "$_db" \
		-c "SELECT pgq.drop_queue(queue_name) FROM pgq.queue WHERE queue_name = 'bq'" \
		-c "SELECT pgq.create_queue('bq')" >/dev/null || die "$_db: cannot make queue bq"
	[ "$QUICK" = 1 ] || q "$_db" CHECKPOINT
	_len="-T $INS_SECONDS"
	[ "$QUICK" = 1 ] && _len="-t $((_n == 1 ? 500 : 200))"
	# shellcheck disable=SC2086 # an option and its value
	pgbench -n $_len -c "$_c" -j "$_c" -f "$OUT/insert$_n.sql" "$_db" \
		>"$OUT/pgbench.out" 2>&1 || { cat "$OUT/pgbench.out" >&2; die "pgbench failed"; }
	_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/pgbench.out")
	rec "insert.$_n.c$_c" "$_side" "$(awk -v t="$_tps" -v n="$_n" 'BEGIN { printf "%.1f", t * n }')"
}

insert_round() {
	for n in 1 100; do
		for c in 1 2; do
			sides insert_run "$n" "$c"
		done
	done
}

w_insert() {
	INS_SECONDS=10
	new_db b_ours ours
	new_db b_deb debian
	printf "SELECT pgq.insert_event('bq', 'bench', '%s');\n" "$INS_PAYLOAD" >"$OUT/insert1.sql"
	printf "SELECT pgq.insert_event('bq', 'bench', '%s') FROM generate_series(1, 100);\n" \
		"$INS_PAYLOAD" >"$OUT/insert100.sql"
	for n in 1 100; do
		for c in 1 2; do
			row "insert.$n.c$c" "pgq.insert_event, $n per txn, $c client(s), vs Debian PgQ (C)" \
				events/s higher 'ratio>=1.0'
		done
	done
	rounds insert_round
}
