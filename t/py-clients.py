#!/usr/bin/python3
"""Drive Debian's python3-pgq client classes other than the plain
Consumer (t/py-consumer.py) against a PgQ database, without the daemon
machinery: each mode builds the class from a config file of its own and
calls the methods its daemon loop would.

usage: py-clients.py MODE ARGS...

  produce SRC QUEUE [bulk]
      pgq.insert_event for a few events (NULL and set extras), then
      pgq.bulk_insert_events of the same rows (with an ev_time: it has
      no default), in one transaction; with "bulk", only the latter.
  remote SRC DST QUEUE CONSUMER [CRASH_AT]
  serial SRC DST QUEUE CONSUMER [CRASH_AT|rewind]
      pgq.RemoteConsumer / pgq.SerialConsumer: each event goes into
      t_applied(consumer, ev_id, ev_type, ev_data) in DST, in the
      batch's transaction there.
  local SRC QUEUE CONSUMER TRACKFILE OUTFILE [CRASH_AT]
      pgq.LocalConsumer: each event appended to OUTFILE.
  coop SRC QUEUE CONSUMER SUBCONSUMER OUTFILE [TIMEOUT] [die|retry]
      pgq.CoopConsumer: each event appended to OUTFILE as
      "subconsumer<TAB>batch_id<TAB>ev_id<TAB>ev_data<TAB>ev_retry";
      TIMEOUT (or "-") is subconsumer_timeout; "die" takes one batch and
      exits without finishing it; "retry" tags the events of type
      "retry" for retry (0 seconds) on their first delivery.
  cconsumer TARGET QUEUE CONSUMER [CRASH_AT|register=PROVIDER|rewind]
      pgq.cascade.consumer.CascadedConsumer whose target is TARGET:
      events go into t_applied there; "rewind" is its --rewind.
  worker TARGET QUEUE WORKER [CRASH_AT]
      pgq.cascade.worker.CascadedWorker of the node in TARGET.

Consumers process batches until none is left.  CRASH_AT N: the process
dies (exit 9) after the Nth batch was committed in its target and before
pgq.finish_batch, as a crash there would.
"""

import os
import sys
import tempfile

import pgq
from pgq.cascade.consumer import CascadedConsumer
from pgq.cascade.worker import CascadedWorker


def config(name, settings):
    workdir = tempfile.mkdtemp(prefix="py-clients.")
    cf = os.path.join(workdir, "job.ini")
    with open(cf, "w") as f:
        f.write("[%s]\n" % name)
        f.write("job_name = %s\n" % name)
        f.write("logfile = %s\n" % os.path.join(workdir, "job.log"))
        f.write("pidfile = %s\n" % os.path.join(workdir, "job.pid"))
        for k, v in settings.items():
            f.write("%s = %s\n" % (k, v.replace("%", "%%")))
    return cf


class CrashAt:
    """Dies between the target's commit and pgq.finish_batch."""
    crash_at = 0
    batches = 0

    def _finish_batch(self, curs, batch_id, ev_list):
        self.batches += 1
        if self.crash_at and self.batches == self.crash_at:
            sys.stdout.flush()
            os._exit(9)
        super()._finish_batch(curs, batch_id, ev_list)


def apply_events(consumer, dst_db, event_list):
    curs = dst_db.cursor()
    for ev in event_list:
        if ev.ev_type.startswith("pgq."):
            continue
        curs.execute("insert into t_applied (consumer, ev_id, ev_type, ev_data)"
                     " values (%s, %s, %s, %s)",
                     [consumer, ev.ev_id, ev.ev_type, ev.ev_data])


class Remote(CrashAt, pgq.RemoteConsumer):
    def process_remote_batch(self, db, batch_id, event_list, dst_db):
        apply_events(self.consumer_name, dst_db, event_list)


class Serial(CrashAt, pgq.SerialConsumer):
    def process_remote_batch(self, db, batch_id, event_list, dst_db):
        apply_events(self.consumer_name, dst_db, event_list)


class Local(CrashAt, pgq.LocalConsumer):
    out = None

    def process_local_event(self, db, batch_id, ev):
        self.out.write("%d\t%s\t%s\n" % (ev.ev_id, ev.ev_type, ev.ev_data))

    def set_batch_done(self):
        # what was written is on disk before the tick says so
        self.out.flush()
        os.fsync(self.out.fileno())
        super().set_batch_done()


class Coop(pgq.CoopConsumer):
    out = None
    die = False
    retry = False

    def process_batch(self, db, batch_id, event_list):
        if self.die:
            os._exit(9)
        for ev in event_list:
            if self.retry and ev.ev_type == "retry" and not ev.ev_retry:
                ev.tag_retry(0)
            self.out.write("%s\t%d\t%d\t%s\t%s\n" % (self.subconsumer_name, batch_id,
                                                       ev.ev_id, ev.ev_data, ev.ev_retry or 0))


class CConsumer(CrashAt, CascadedConsumer):
    def process_remote_event(self, src_curs, dst_curs, ev):
        if ev.ev_type.startswith("pgq."):
            super().process_remote_event(src_curs, dst_curs, ev)
            return
        dst_curs.execute("insert into t_applied (consumer, ev_id, ev_type, ev_data)"
                         " values (%s, %s, %s, %s)",
                         [self.consumer_name, ev.ev_id, ev.ev_type, ev.ev_data])


class Worker(CrashAt, CascadedWorker):
    def process_remote_batch(self, src_db, tick_id, event_list, dst_db):
        # as londiste's worker does: a branch's queue takes the copies
        # (the original PgQ refuses them otherwise)
        dst_db.cursor().execute("set session_replication_role = 'replica'")
        super().process_remote_batch(src_db, tick_id, event_list, dst_db)

    def process_remote_event(self, src_curs, dst_curs, ev):
        # other events: the worker copies them into the branch's queue,
        # and this one applies nothing
        if ev.ev_type.startswith("pgq."):
            super().process_remote_event(src_curs, dst_curs, ev)


def drain(c):
    while c.work():
        pass


def produce(src, queue, only=""):
    import skytools
    db = skytools.connect_database(src)
    curs = db.cursor()
    rows = [
        ("plain", "a=1&b=x y", None, None, None, None),
        ("extras", "c=%C3%A4%C3%B6", "public.t", "e2", "e3", "e4"),
        ("nulldata", None, "x1", None, None, "x4"),
        ("tab", "has\ttab and\nnewline", None, None, None, None),
    ]
    for r in rows:
        if only != "bulk":
            pgq.insert_event(curs, queue, *r)
    # ev_time has no default, in the original PgQ as in ours
    t = "2026-01-02 03:04:05+00"
    pgq.bulk_insert_events(curs, [(t, "bulk-" + r[0]) + r[1:] for r in rows],
                           ["time", "type", "data", "extra1", "extra2", "extra3", "extra4"], queue)
    # the long field names too
    pgq.bulk_insert_events(curs, [{"ev_time": t, "ev_type": "bulk-dict", "ev_data": "d"}],
                           ["ev_time", "ev_type", "ev_data"], queue)
    db.commit()
    db.close()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        produce(*a)
    elif mode in ("remote", "serial"):
        src, dst, queue, consumer = a[:4]
        extra = a[4] if len(a) > 4 else ""
        cf = config("py_" + mode, {"src_db": src, "dst_db": dst,
                                   "queue_name": queue, "consumer_name": consumer})
        cls = Remote if mode == "remote" else Serial
        c = cls("py_" + mode, "src_db", "dst_db", [cf])
        if extra == "rewind":
            c.rewind()
        else:
            c.crash_at = int(extra or 0)
            c.register_consumer()
            drain(c)
    elif mode == "local":
        src, queue, consumer, track, outfile = a[:5]
        cf = config("py_local", {"src_db": src, "queue_name": queue,
                                 "consumer_name": consumer,
                                 "local_tracking_file": track})
        with open(outfile, "a") as out:
            c = Local("py_local", "src_db", [cf])
            c.out = out
            c.crash_at = int(a[5]) if len(a) > 5 else 0
            # what startup() does before the loop
            c.check_queue()
            drain(c)
    elif mode == "coop":
        src, queue, consumer, sub, outfile = a[:5]
        settings = {"src_db": src, "queue_name": queue, "consumer_name": consumer,
                    "subconsumer_name": sub}
        if len(a) > 5 and a[5] != "-":
            settings["subconsumer_timeout"] = a[5]
        cf = config("py_coop", settings)
        with open(outfile, "a") as out:
            c = Coop("py_coop", "src_db", [cf])
            c.out = out
            c.die = len(a) > 6 and a[6] == "die"
            c.retry = len(a) > 6 and a[6] == "retry"
            drain(c)
    elif mode in ("cconsumer", "worker"):
        target, queue, consumer = a[:3]
        extra = a[3] if len(a) > 3 else ""
        cf = config("py_" + mode, {"db": target, "queue_name": queue,
                                   "consumer_name": consumer,
                                   # no waits: the root's pause and the
                                   # watermarks' periods
                                   "loop_delay": "0.01",
                                   "global_wm_publish_period": "0",
                                   "local_wm_publish_period": "0"})
        cls = CConsumer if mode == "cconsumer" else Worker
        c = cls("py_" + mode, "db", [cf])
        if extra.startswith("register="):
            c.register_consumer(extra[len("register="):])
        elif extra == "rewind":
            c.rewind()
        else:
            c.crash_at = int(extra or 0)
            drain(c)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
