#!/usr/bin/python3
"""The Python side of the benchmark: Debian's python3-pgq as a user
would run it, a producer, and a stream watcher for our pipes.

usage:
  pgq-py.py read CONNSTR QUEUE CONSUMER LAZY_FETCH
      one Consumer.work(): take the next batch, fetch it through a cursor
      (pgq_lazy_fetch rows at a time), touch every event, finish it;
      prints the number of events
  pgq-py.py consume CONNSTR QUEUE CONSUMER LOOP_DELAY OUTFILE
      Consumer.work() in a loop, sleeping LOOP_DELAY seconds when there
      was no batch (what skytools.DBScript does); writes
      "ev_data TAB seen-time" per event until SIGTERM
  pgq-py.py produce CONNSTR QUEUE RATE SECONDS TAG OUTFILE
      one insert_event() per transaction, about RATE a second, ev_data
      TAG:sequence-number; writes "ev_data TAB commit-time" after each
      commit
  pgq-py.py watch OUTFILE
      copy a batch stream from stdin to stdout, writing
      "ev_data TAB seen-time" for each event record as it is read
"""

import os
import random
import signal
import sys
import tempfile
import time


def consumer(connstr, queue, name, lazy, loop_delay=1.0):
    import pgq

    class C(pgq.Consumer):
        out = None
        count = 0

        def process_batch(self, db, batch_id, ev_list):
            for ev in ev_list:
                self.count += 1
                if self.out is not None:
                    self.out.write("%s\t%.6f\n" % (ev.ev_data, time.time()))
                elif not ev.ev_data:
                    raise ValueError("empty event")
            if self.out is not None:
                self.out.flush()

    d = tempfile.mkdtemp(prefix="bench-py.")
    cf = os.path.join(d, "c.ini")
    with open(cf, "w") as f:
        f.write("[c]\njob_name = bench_%s\nsrc_db = %s\nqueue_name = %s\n"
                "consumer_name = %s\npgq_lazy_fetch = %s\nloop_delay = %s\n"
                "logfile = %s\npidfile = %s\n"
                % (name, connstr, queue, name, lazy, loop_delay,
                   os.path.join(d, "c.log"), os.path.join(d, "c.pid")))
    return C("c", "src_db", [cf])


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "read" and len(a) == 5:
        c = consumer(a[1], a[2], a[3], a[4])
        c.work()
        print(c.count)
    elif a[0] == "consume" and len(a) == 6:
        delay = float(a[4])
        c = consumer(a[1], a[2], a[3], 300, delay)
        c.out = open(a[5], "w")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            if not c.work():
                time.sleep(delay)
    elif a[0] == "produce" and len(a) == 7:
        import psycopg2
        db = psycopg2.connect(a[1])
        db.autocommit = True
        cur = db.cursor()
        rate, secs = float(a[3]), float(a[4])
        end = time.time() + secs
        seq = 0
        with open(a[6], "w") as out:
            while time.time() < end:
                seq += 1
                data = "%s:%d" % (a[5], seq)
                cur.execute("SELECT pgq.insert_event(%s, 'lat', %s)", (a[2], data))
                out.write("%s\t%.6f\n" % (data, time.time()))
                # jitter, so that events do not line up with the ticker
                time.sleep(random.uniform(0.5, 1.5) / rate)
    elif a[0] == "watch" and len(a) == 2:
        out = open(a[1], "w")
        for line in sys.stdin:
            if line.startswith("event\t"):
                out.write("%s\t%.6f\n" % (line.split("\t")[6], time.time()))
            sys.stdout.write(line)
            if line.startswith("end\t"):
                out.flush()
                sys.stdout.flush()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
