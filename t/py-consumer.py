#!/usr/bin/python3
"""Drive Debian's python3-pgq Consumer against a queue, without the
daemon machinery: register, then process batches until none is left.

usage: py-consumer.py CONNSTR QUEUE CONSUMER LAZY_FETCH OUTFILE [RETRY_TYPE]

LAZY_FETCH is pgq_lazy_fetch (0: get_batch_events, else a cursor with
that fetch size).  Each event is written to OUTFILE as
"batch_id<TAB>ev_id<TAB>ev_type<TAB>ev_data".  Events whose ev_type is
RETRY_TYPE are tagged for retry (0 seconds) instead of done.
"""

import os
import sys
import tempfile

import pgq


class Driver(pgq.Consumer):
    def __init__(self, cf, out, retry_type):
        self.out = out
        self.retry_type = retry_type
        super().__init__("py_consumer", "src_db", [cf])

    def process_batch(self, db, batch_id, ev_list):
        for ev in ev_list:
            if self.retry_type and ev.ev_type == self.retry_type and not ev.ev_retry:
                ev.tag_retry(0)
            else:
                ev.tag_done()
            self.out.write("%d\t%d\t%s\t%s\n" % (batch_id, ev.ev_id, ev.ev_type, ev.ev_data))


def main():
    if len(sys.argv) not in (6, 7):
        sys.stderr.write(__doc__)
        sys.exit(2)
    connstr, queue, consumer, lazy, outfile = sys.argv[1:6]
    retry_type = sys.argv[6] if len(sys.argv) == 7 else None
    workdir = tempfile.mkdtemp(prefix="py-consumer.")
    cf = os.path.join(workdir, "consumer.ini")
    with open(cf, "w") as f:
        f.write("[py_consumer]\n")
        f.write("job_name = py_consumer_%s\n" % consumer)
        f.write("src_db = %s\n" % connstr)
        f.write("queue_name = %s\n" % queue)
        f.write("consumer_name = %s\n" % consumer)
        f.write("pgq_lazy_fetch = %s\n" % lazy)
        f.write("logfile = %s\n" % os.path.join(workdir, "consumer.log"))
        f.write("pidfile = %s\n" % os.path.join(workdir, "consumer.pid"))
    with open(outfile, "a") as out:
        c = Driver(cf, out, retry_type)
        c.register_consumer()
        while c.work():
            pass
        c.close_database("src_db")


if __name__ == "__main__":
    main()
