"""The work of bench/baseline.c through confluent-kafka-python (Debian's python3-confluent-kafka,
which runs on the same librdkafka shared library as fluxakafka and the C baseline).

    /usr/bin/python3 bench/confluent_bench.py produce [brokers] <topic> [count [size]]
    /usr/bin/python3 bench/confluent_bench.py consume [brokers] <topic> [count]
    /usr/bin/python3 bench/confluent_bench.py latency [brokers] <topic> [count [size]]

Settings as in baseline.c (ACKS, LINGER_MS, QUEUE_MAX, MAX_IN_FLIGHT from the environment). produce: one
warm-up record, then `produce()` count times (poll(0) every 16, poll(0.1) and retry on
BufferError), timed until `flush()` returns with every delivery reported. consume: a new group
from the earliest offset, `consume(num_messages=10000, timeout=1)`, touching each value's
length, timed from the first record to the count-th. latency: `produce()` then `flush()` for
one record at a time, 50 untimed first. The last line is "RESULT <mode> <count> <records/s>"
(latency: "RESULT latency <count> <p50 ms> <p99 ms>"); produce and consume print "CPU <mode> <ns>"
before it, the CPU time of the calling thread per record over the same span.
"""
import math
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


args = sys.argv[1:]
if len(args) < 2 or args[0] not in ("produce", "consume", "latency"):
    usage()
mode = args[0]
brokers = os.environ.get("FK_BROKERS") or "127.0.0.1:9092"
rest = args[1:]
if len(rest) >= 2 and ":" in rest[0]:
    brokers, rest = rest[0], rest[1:]
topic = rest[0]
count = int(rest[1]) if len(rest) > 1 else (2000 if mode == "latency" else 1000000)
size = int(rest[2]) if len(rest) > 2 else 100
if count < 1 or size < 0:
    usage()

delivered = 0
failed = 0


def on_delivery(err, msg):
    global delivered, failed
    if err is not None:
        if failed == 0:
            sys.stderr.write("delivery failed: %s\n" % err)
        failed += 1
    else:
        delivered += 1


def new_producer():
    conf = {
        "bootstrap.servers": brokers,
        "acks": os.environ.get("ACKS") or "-1",
        "linger.ms": os.environ.get("LINGER_MS") or "0",
        "queue.buffering.max.kbytes": 65536,
        "max.in.flight.requests.per.connection": int(os.environ.get("MAX_IN_FLIGHT") or 5),
        "partitioner": "murmur2_random",
        "message.timeout.ms": 30000,
        "on_delivery": on_delivery,
    }
    if os.environ.get("QUEUE_MAX"):
        conf["queue.buffering.max.messages"] = int(os.environ["QUEUE_MAX"])
    return Producer(conf)


def produce_one(p, payload):
    while True:
        try:
            p.produce(topic, payload)
            return
        except BufferError:
            p.poll(0.1)


def wait_for(p, total):
    while delivered + failed < total:
        p.flush(1.0)


def produce():
    global delivered, failed
    payload = b"x" * size
    p = new_producer()
    produce_one(p, payload)
    wait_for(p, 1)
    if failed:
        sys.exit("warm-up record to '%s' failed" % topic)
    delivered = failed = 0
    start, cpu_start = time.monotonic(), time.thread_time()
    for i in range(count):
        produce_one(p, payload)
        if i & 15 == 0:
            p.poll(0)
    wait_for(p, count)
    elapsed = time.monotonic() - start
    print("produced %d records of %d bytes to '%s' in %.3f s (%d failed)" % (delivered, size, topic, elapsed, failed))
    print("CPU produce %.1f" % ((time.thread_time() - cpu_start) * 1e9 / count))
    print("RESULT produce %d %.1f" % (count, delivered / elapsed))
    return 1 if failed or delivered != count else 0


def consume():
    group = "bench-confluent-%d-%d" % (time.time(), os.getpid())
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "allow.auto.create.topics": True,
        "queued.min.messages": 1000000,
    })
    c.subscribe([topic])
    received = 0
    nbytes = 0
    first = last = None
    cpu_first = cpu_last = 0.0  # CPU time of this (the reading) thread
    give_up = time.monotonic() + 120
    while received < count and time.monotonic() < give_up:
        for m in c.consume(num_messages=10000, timeout=1.0):
            if m.error():
                sys.stderr.write("consumer: %s\n" % m.error())
                continue
            if first is None:
                first = time.monotonic()
                cpu_first = time.thread_time()
            received += 1
            nbytes += len(m.value())
            if received == count:
                break
        last = time.monotonic()
        cpu_last = time.thread_time()
    c.close()
    if received < count:
        sys.stderr.write("received only %d of %d records from '%s' in 120 s\n" % (received, count, topic))
        return 1
    elapsed = max(last - first, 1e-9)
    print("consumed %d records (%d bytes) from '%s' in %.3f s" % (received, nbytes, topic, elapsed))
    print("CPU consume %.1f" % ((cpu_last - cpu_first) * 1e9 / received))
    print("RESULT consume %d %.1f" % (count, received / elapsed))
    return 0


def latency():
    payload = b"x" * size
    p = new_producer()
    ms = []
    for i in range(-50, count):
        start = time.monotonic()
        before = delivered
        produce_one(p, payload)
        while delivered + failed == before:
            p.flush(1.0)
        if failed:
            sys.exit("a record to '%s' failed" % topic)
        if i >= 0:
            ms.append((time.monotonic() - start) * 1000)
    ms.sort()

    def quantile(q):  # nearest rank, as in baseline.c
        return ms[max(1, math.ceil(q * count)) - 1]

    print("latency of %d acknowledged records of %d bytes to '%s': p50 %.3f ms, p99 %.3f ms, max %.3f ms"
          % (count, size, topic, quantile(0.5), quantile(0.99), ms[-1]))
    print("RESULT latency %d %.3f %.3f" % (count, quantile(0.5), quantile(0.99)))
    return 0


try:
    sys.exit({"produce": produce, "consume": consume, "latency": latency}[mode]())
except KafkaException as e:
    sys.exit("confluent_bench: %s" % e)
