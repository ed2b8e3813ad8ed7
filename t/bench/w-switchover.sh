# w-switchover.sh: the cascade's switchover alone (cas.switch,
# cas.switch.fast: see cascade.sh), on a cascade of its own;
# `t/bench/run --only switchover` (the cascade workload runs the same
# rounds on its replay's cascade, and a run with both measures them
# once).  With SWITCH_LOG=FILE our switchover's -v log, each step with
# its time, goes to FILE; each switchover's command time and time to
# the first write on the new root are in notes.tsv.

# shellcheck source=t/bench/cascade.sh
. "$BENCH/cascade.sh"

w_switchover() {
	cas_switch_rows
	cas_build 0.1 ours:r ref:r
	cas_switchover
}
