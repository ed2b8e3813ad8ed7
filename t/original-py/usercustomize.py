# Loaded at start-up by the original londiste 3 of the tests (l3 in
# t/27x-original.bash puts this directory on PYTHONPATH, which the
# processes it starts inherit: the daemon, its copy processes).  The
# original's waits are polls with fixed sleeps of up to 10 s (3 s
# between looks at a table copy's hand-over, 1 to 2 s in takeover and
# compare, 20 s after an error): the tests spent most of their time in
# them.  Each sleep here is at most 0.2 s, the loop_delay the tests
# give; every one of those sleeps is followed by a new look at what it
# waits for, so the original takes the same steps, only sooner.
import time

_sleep = time.sleep


def _capped_sleep(secs):
    _sleep(min(secs, 0.2))


time.sleep = _capped_sleep
