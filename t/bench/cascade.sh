# cascade.sh: the Londiste 3 cascades that w-cascade.sh and
# w-switchover.sh share, root -> branch -> leaf, each node a database of
# the bench cluster, ours against londiste 3 + pgqd.
#
# Ours: sh/londiste with [londiste3] configs (create-root, create-branch,
# create-leaf, add-table, worker), the root's queue ticked by pgq-tick
# --loop on the root and on the branch (where it ticks nothing until the
# branch is promoted, as pgqd, which visits every database).  Reference:
# python3-londiste with Debian's pgq, pgq_node and londiste extensions,
# pgqd on the three databases.  Ticker and queue settings as in
# londiste.sh (ticks every second, maintenance every 30 s,
# ticker_idle_period 1 s), the root's worker running all along.
#
# A cascade is named by a side and a prefix: prefix r is the one the
# replay and the switchover use (made once a run, by whichever of the
# two workloads comes first), t1, t2, ... are the takeover rounds'.
#
#   cas.switch   planned switchover, the branch becomes the root (ours:
#       `londiste branch.ini switchover --target=branch`, londiste 3: `londiste
#       branch.ini takeover root`), every worker running, ticks every
#       100 ms (pgq-tick --interval 100, pgqd ticker_period = 0.1): from
#       the command's start until the new root takes a write (a loop on
#       its database that every 10 ms, as soon as pgq_node says it is the
#       root, inserts a row).  Rounds alternate the direction.  Each
#       switchover's command time and time to the write also go to
#       notes.tsv; with SWITCH_LOG set, ours runs with -v (each step with
#       its time) and its output goes there.
#   cas.switch.fast   the same with the workers' loop_delay at 0.1 s.
#
# In QUICK, londiste 3's switchover at loop_delay 1 s (4-11 s a round,
# most of it its admin waiting a second for each acknowledgement) is
# not measured; at 0.1 s it is.

# shellcheck source=t/bench/londiste.sh
. "$BENCH/londiste.sh"

# cas_db SIDE PREFIX NODE: the database of a node.
cas_db() {
	case $1 in ours) printf 'cs%s_%s' "$2" "$3" ;; ref) printf 'c3%s_%s' "$2" "$3" ;; esac
}


cas_ini() { printf '%s/%s.ini' "$BENCH_DIR" "$(cas_db "$@")"; }


cas_loc() { printf 'host=%s dbname=%s' "$PGHOST" "$(cas_db "$@")"; }

# cas_cmd SIDE: the londiste command of the side.
cas_cmd() { case $1 in ours) echo londiste ;; ref) echo "$L3" ;; esac; }

# cas_start SIDE PREFIX NODE: the node's worker in the foreground, in a
# process group of its own (its pipeline and copy processes end with
# it), pid in CW_<db>.
cas_start() {
	_d=$(cas_db "$@")
	setsid "$(cas_cmd "$1")" "$(cas_ini "$@")" worker >>"$OUT/$_d.out" 2>&1 &
	eval "CW_$_d=$!"
	bg "-$!"
}


cas_stop() {
	_d=$(cas_db "$@")
	eval "_wp=\${CW_$_d:-}"
	[ -n "$_wp" ] || return 0
	# ours: the supervisor first, which ends its stages and helpers
	# itself (the whole group at once leaves it waiting for statuses the
	# stages can no longer report)
	case $_d in cs*) group_stop "$_wp" "$_wp" ;; *) group_stop "$_wp" "-$_wp" ;; esac
	eval "CW_$_d="
}


cas_alive() {
	_d=$(cas_db "$@")
	eval "_wp=\${CW_$_d:-}"
	[ -n "$_wp" ] && kill -0 "$_wp" 2>/dev/null
}

# cas_tickers SIDE PREFIX MS: the side's ticker(s) for the cascade, a
# tick every MS milliseconds (started again when running).
cas_tickers() {
	eval "_tp=\${CT_$1$2:-}"
	# shellcheck disable=SC2086 # a list of pids
	[ -z "$_tp" ] || { kill $_tp 2>/dev/null; wait $_tp 2>/dev/null; }
	if [ "$1" = ours ]; then
		_tp=
		for _n in root branch; do
			pgq-tick -d "dbname=$(cas_db ours "$2" $_n)" --loop --interval "$3" \
				--maint-interval 30 2>>"$OUT/cs-tick.log" &
			_tp="$_tp $!"
			bg $!
		done
	else
		pgqd_start "c3-pgqd$2" "$3" "$(cas_db ref "$2" root)" \
			"$(cas_db ref "$2" branch)" "$(cas_db ref "$2" leaf)"
		_tp=$PGQD_PID
	fi
	eval "CT_$1$2=\$_tp"
}

# cas_nodes SIDE PREFIX LOOP: a cascade root -> branch -> leaf of queue
# cq in fresh databases, workers' loop_delay LOOP seconds; starts no
# process, so the cascades of both sides are made at once.
cas_nodes() {
	_s=$1 _p=$2
	for _n in root branch leaf; do
		_d=$(cas_db "$_s" "$_p" $_n)
		new_db "$_d" none
		q "$_d" "CREATE TABLE bt (id int PRIMARY KEY, n int NOT NULL, name text, ts timestamptz)"
		{
			[ "$_s" = ours ] && echo '[londiste3]' || echo '[londiste]'
			echo "job_name = ${_d}_w"
			echo "db = host=$PGHOST dbname=$_d"
			echo "queue_name = cq"
			echo "public_node_location = host=$PGHOST dbname=$_d"
			echo "logfile = $OUT/$_d.log"
			echo "pidfile = $BENCH_DIR/$_d.pid"
			echo "loop_delay = $3"
		} >"$(cas_ini "$_s" "$_p" $_n)"
	done
	_c=$(cas_cmd "$_s")
	{
		$_c "$(cas_ini "$_s" "$_p" root)" create-root root "$(cas_loc "$_s" "$_p" root)" &&
		$_c "$(cas_ini "$_s" "$_p" branch)" create-branch branch "$(cas_loc "$_s" "$_p" branch)" \
			--provider="$(cas_loc "$_s" "$_p" root)" &&
		$_c "$(cas_ini "$_s" "$_p" leaf)" create-leaf leaf "$(cas_loc "$_s" "$_p" leaf)" \
			--provider="$(cas_loc "$_s" "$_p" branch)"
	} >>"$OUT/cas-setup.log" 2>&1 || die "$_s: cascade set-up failed, see $OUT/cas-setup.log"
	[ "$_s" = ours ] && fastpath_check "$(cas_db ours "$_p" root)"
	q "$(cas_db "$_s" "$_p" root)" "SELECT pgq.set_queue_config('cq', 'ticker_idle_period', '1 second')" >/dev/null
}

# cas_join SIDE PREFIX: on a cascade of cas_nodes, the ticker(s) at a
# tick every 100 ms, the root's worker and table bt added on the root
# (in the background, pid added to CAS_JOINS), the branch's and the
# leaf's workers started.
cas_join() {
	cas_tickers "$1" "$2" 100
	_c=$(cas_cmd "$1")
	{
		$_c "$(cas_ini "$1" "$2" root)" worker -d >>"$OUT/cas-setup.log" 2>&1 ||
			die "$1: the root's worker did not start"
		$_c "$(cas_ini "$1" "$2" root)" add-table bt >>"$OUT/cas-setup.log" 2>&1 ||
			die "$1: add-table on the root failed"
	} &
	CAS_JOINS="$CAS_JOINS $!"
	cas_start "$1" "$2" branch
	cas_start "$1" "$2" leaf
}

# cas_is SIDE PREFIX NODE SQL: SQL on the node's database says t.
cas_is() {
	[ "$(q "$(cas_db "$1" "$2" "$3")" "$4" 2>/dev/null)" = t ]
}

# cas_step SIDE PREFIX NODE: table bt's next step into the node, without
# waiting: add-table (in the background) once the node knows of the
# table from its provider's queue and, for the leaf, once the branch has
# added it (the leaf copies from the branch: before, londiste 3 refuses
# the add-table, and our leaf's copy stops its worker for good), again
# if it failed; true once the table is ok there.
cas_step() {
	_v=CJ_$1$2$3 _mark=$BENCH_DIR/added-$1$2$3
	eval "_st=\${$_v:-}"
	case $_st in
	ok) return 0 ;;
	adding)
		if [ -f "$_mark" ]; then
			eval "$_v=added"
		else
			eval "_ap=\$${_v}_pid"
			# shellcheck disable=SC2154 # set by the eval
			kill -0 "$_ap" 2>/dev/null || { wait "$_ap"; eval "$_v="; }
		fi
		return 1 ;;
	added)
		cas_is "$1" "$2" "$3" "SELECT merge_state = 'ok' FROM londiste.get_table_list('cq')
			WHERE table_name = 'public.bt'" || return 1
		eval "$_v=ok" ;;
	*)
		if [ "$3" = leaf ]; then
			eval "_bs=\${CJ_$1$2branch:-}"
			# shellcheck disable=SC2154 # set by the eval
			case $_bs in added|ok) ;; *) return 1 ;; esac
		fi
		cas_is "$1" "$2" "$3" "SELECT count(*) = 1 FROM londiste.get_table_list('cq')
			WHERE table_name = 'public.bt'" || return 1
		"$(cas_cmd "$1")" "$(cas_ini "$1" "$2" "$3")" add-table bt \
			>>"$OUT/cas-setup.log" 2>&1 && : >"$_mark" &
		eval "$_v=adding ${_v}_pid=\$!"
		return 1 ;;
	esac
}

# cas_joined SIDE:PREFIX...: after cas_join, table bt ok on the branch
# and the leaf of every cascade (all taking their steps at once).
cas_joined() {
	_ok=0
	for _jx; do
		for _jn in branch leaf; do
			cas_step "${_jx%%:*}" "${_jx#*:}" "$_jn" || _ok=1
		done
	done
	return $_ok
}

# cas_build LOOP SIDE:PREFIX...: those cascades, with the workers'
# loop_delay LOOP, all made and joined at once (the steps are mostly
# waits: for a tick, a loop_delay, a Python start-up): table bt in the
# set on every node and ok on the branch and the leaf, the branch's and
# the leaf's workers stopped; the root's worker and the ticker(s)
# running for prefix r (the replay's and the switchover's), stopped for
# the others (the takeover rounds').
cas_build() {
	_loop=$1
	shift
	_bp=
	for _x; do
		cas_nodes "${_x%%:*}" "${_x#*:}" "$_loop" &
		_bp="$_bp $!"
	done
	for _b in $_bp; do
		wait "$_b" || die "a cascade was not made, see $OUT/cas-setup.log"
	done
	CAS_JOINS=
	for _x; do
		cas_join "${_x%%:*}" "${_x#*:}"
	done
	for _b in $CAS_JOINS; do
		wait "$_b" || die "a cascade's root did not start, see $OUT/cas-setup.log"
	done
	wait_for 300 "table bt did not reach ok on every node (cascades $*), see $OUT/cas-setup.log" \
		cas_joined "$@"
	q postgres "SELECT count(*) FROM pg_stat_activity" >>"$OUT/cas-conn.log"
	for _x; do
		_s=${_x%%:*} _p=${_x#*:}
		cas_stop "$_s" "$_p" branch
		cas_stop "$_s" "$_p" leaf
		if [ "$_p" = r ]; then
			eval "CAS_LOOP_$_s=\$_loop"
		else
			cas_idle "$_s" "$_p"
		fi
		_d=$(cas_db "$_s" "$_p" root)
		printf 'trigger\t%s\t%s\n' "$_d" "$(q "$_d" \
			"SELECT string_agg(tgname || '=' || p.proname || ':' || l.lanname, ' ')
			FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
			JOIN pg_language l ON l.oid = p.prolang
			WHERE t.tgrelid = 'bt'::regclass AND NOT t.tgisinternal")" >>"$OUT/notes.tsv"
	done
}

# cas_idle SIDE PREFIX: the root's worker and the ticker(s) stopped.
cas_idle() {
	cas_root_stop "$1" "$2"
	eval "_tp=\${CT_$1$2:-}"
	# shellcheck disable=SC2086 # a list of pids
	[ -z "$_tp" ] || { kill $_tp 2>/dev/null; wait $_tp 2>/dev/null; }
	eval "CT_$1$2="
}

# cas_writable SIDE PREFIX NODE ID: in the background, a loop on the
# node's database that inserts row ID as soon as the node is the root;
# the time of that commit (ns) goes to $BENCH_DIR/writable.
cas_writable() {
	rm -f "$BENCH_DIR/writable"
	q "$(cas_db "$1" "$2" "$3")" "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		LOOP
			BEGIN
				IF pgq_node.is_root_node('cq') THEN
					INSERT INTO bt VALUES ($4, 0, 'w', now());
					EXIT;
				END IF;
			EXCEPTION WHEN others THEN NULL;
			END;
			IF clock_timestamp() - t0 > interval '300 s' THEN
				RAISE EXCEPTION 'not writable';
			END IF;
			PERFORM pg_sleep(0.01);
		END LOOP; END \$\$;
		SELECT (extract(epoch FROM clock_timestamp()) * 1e9)::bigint" \
		>"$BENCH_DIR/writable.tmp" && mv "$BENCH_DIR/writable.tmp" "$BENCH_DIR/writable" &
	CAS_WPID=$!
}

# cas_timed_switch KEY SIDE PREFIX NEW ID CMD...: CMD, timed from its
# start until NEW takes a write; CMD's output to CAS_LOG (default
# cas-switch.log).
cas_timed_switch() {
	_key=$1 _s=$2 _p=$3 _new=$4 _id=$5 _log=${CAS_LOG:-$OUT/cas-switch.log}
	shift 5
	cas_writable "$_s" "$_p" "$_new" "$_id"
	_t0=$(now_ns)
	"$@" >>"$_log" 2>&1 || die "$_s: failed: $* (see $_log)"
	_t1=$(now_ns)
	wait "$CAS_WPID"
	[ -s "$BENCH_DIR/writable" ] || die "$_s: $_new took no write"
	_t2=$(cat "$BENCH_DIR/writable")
	_cs=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	printf 'switch\t%s\t%s round %s to %s: command %s s, write %s s\n' "$_s" "$_key" \
		"$ROUND" "$_new" "$_cs" "$(awk -v a="$_t0" -v b="$_t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
		>>"$OUT/notes.tsv"
	say "  $_key $_s: the command took $_cs s"
	rec "$_key" "$_s" "$(awk -v a="$_t0" -v b="$_t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
}

# What QUICK leaves out: londiste 3's steps that wait by design (its
# switchover at loop_delay 1 s: 4-11 s a round; its takeover of a dead
# root: its worker sleeps 20 s after losing the root).
CAS_QUICK_SKIP='cas.switch cas.takeover'

# cas_skipped SIDE KEY: does QUICK leave that side of the row out?
cas_skipped() {
	[ "$QUICK" = 1 ] && [ "$1" = ref ] || return 1
	case " $CAS_QUICK_SKIP " in *" $2 "*) return 0 ;; esac
	return 1
}

# cas_unmeasured SIDE KEY: cas_skipped, and said so in the first round.
cas_unmeasured() {
	cas_skipped "$1" "$2" || return 1
	[ "$ROUND" = 1 ] && quick_skip "$2" "$1"
	return 0
}

# cas_switch SIDE KEY: the replay's cascade's branch becomes the root;
# the next call switches back (CAS_CUR_<side>: the node that is root).
cas_switch() {
	cas_unmeasured "$1" "$2" && return 0
	eval "_old=\$CAS_CUR_$1"
	# shellcheck disable=SC2154 # set by the eval
	if [ "$_old" = root ]; then _new=branch; else _new=root; fi
	CAS_WID=$((CAS_WID + 1))
	if [ "$1" = ours ]; then
		if [ -n "${SWITCH_LOG:-}" ]; then
			CAS_LOG=$SWITCH_LOG cas_timed_switch "$2" ours r $_new "$CAS_WID" \
				londiste -v "$(cas_ini ours r $_new)" switchover --target=$_new
		else
			cas_timed_switch "$2" ours r $_new "$CAS_WID" \
				londiste "$(cas_ini ours r $_new)" switchover --target=$_new
		fi
	else
		cas_timed_switch "$2" ref r $_new "$CAS_WID" \
			"$L3" "$(cas_ini ref r $_new)" takeover "$_old"
	fi
	eval "CAS_CUR_$1=\$_new"
}

# cas_root_stop SIDE PREFIX: the root's worker (a daemon) stopped, its
# pidfile gone (londiste 3's -s returns before its worker has ended);
# -s again every 2 s while the pidfile is there, for a worker that was
# still starting at the first.
cas_root_stop() {
	_i=0
	while [ -f "$BENCH_DIR/$(cas_db "$1" "$2" root).pid" ]; do
		[ $((_i % 40)) = 0 ] &&
			"$(cas_cmd "$1")" "$(cas_ini "$1" "$2" root)" -s >>"$OUT/cas-setup.log" 2>&1
		[ $_i -lt 1200 ] || die "$1: the root's worker of cascade $2 did not stop"
		sleep 0.05
		_i=$((_i + 1))
	done
}

# cas_delay SIDE SECONDS: the replay's cascade's loop_delay SECONDS,
# the root's worker started again with it (the branch's and the leaf's
# are stopped).
cas_delay() {
	cas_root_stop "$1" r
	for _n in root branch leaf; do
		sed -i "s/^loop_delay = .*/loop_delay = $2/" "$(cas_ini "$1" r $_n)"
	done
	"$(cas_cmd "$1")" "$(cas_ini "$1" r root)" worker -d >>"$OUT/cas-setup.log" 2>&1 ||
		die "$1: the root's worker did not start again"
	eval "CAS_LOOP_$1=\$2"
}

# cas_loop SIDE SECONDS: the replay's cascade's workers (all three)
# with loop_delay SECONDS.
cas_loop() {
	cas_stop "$1" r branch
	cas_stop "$1" r leaf
	cas_delay "$1" "$2"
	cas_start "$1" r branch
	cas_start "$1" r leaf
}

# cas_switch_rows: the switchover's rows.
cas_switch_rows() {
	row cas.switch "Londiste 3 cascade switchover, command to the new root taking a write, ticks every 100 ms, loop_delay 1 s, vs londiste 3 takeover" \
		s lower -
	row cas.switch.fast "Londiste 3 cascade switchover, as above with loop_delay 0.1 s, vs londiste 3 takeover" \
		s lower 'ours<2'
}

# cas_switchover: on the replay's cascade (root's worker running, the
# branch's and the leaf's stopped), every worker running, ticks every
# 100 ms, the switchover rounds with the workers' loop_delay at its
# default, then at 0.1 s; the branch's and the leaf's workers stopped
# again at the end.  A side whose loop_delay 1 s rounds QUICK leaves out
# goes to 0.1 s at once.
cas_switchover() {
	# shellcheck disable=SC2034 # read through eval
	CAS_CUR_ours=root CAS_CUR_ref=root CAS_WID=${CAS_N:-0}
	for s in ours ref; do
		cas_tickers "$s" r 100
		_ld=1
		cas_skipped "$s" cas.switch && _ld=0.1
		eval "_cur=\${CAS_LOOP_$s:-}"
		# shellcheck disable=SC2154 # set by the eval
		[ "$_cur" = "$_ld" ] || cas_delay "$s" "$_ld"
		cas_start "$s" r branch
		cas_start "$s" r leaf
	done
	rounds sides cas_switch cas.switch
	for s in ours ref; do
		eval "_cur=\$CAS_LOOP_$s"
		[ "$_cur" = 0.1 ] || cas_loop "$s" 0.1
	done
	rounds sides cas_switch cas.switch.fast
	for s in ours ref; do
		cas_stop "$s" r branch
		cas_stop "$s" r leaf
	done
}
