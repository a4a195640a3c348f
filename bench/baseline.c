/* The ceiling fluxakafka is measured against: plain C on librdkafka doing the same work as
   bench/fluxakafka_bench.lua, with the same settings.

     bench-baseline produce [brokers] <topic> [count [size]]
     bench-baseline consume [brokers] <topic> [count]
     bench-baseline consume-records [brokers] <topic> [count]
     bench-baseline latency [brokers] <topic> [count [size]]

   brokers is recognised by its ':' (a topic name cannot hold one); without it FK_BROKERS or
   127.0.0.1:9092. count defaults to 1000000, size to 100 bytes.
   Producer settings, the same as fluxakafka's defaults unless changed (environment, then
   -X name=value options, which take any librdkafka property):
     ACKS (acks, default -1 = all), LINGER_MS (linger.ms, default 0),
     QUEUE_MAX (queue.buffering.max.messages, default librdkafka's), MAX_IN_FLIGHT
     (max.in.flight.requests.per.connection, default 5: fluxakafka's max_in_flight).
   produce: one warm-up record is produced and acknowledged first (topic auto-creation and
   metadata), not counted; then count records, timed until the last one is acknowledged.
   consume: a new group from the earliest offset, timed from the first record received to the
   count-th; gives up after 120 s. consume touches each payload's length only;
   consume-records also reads every field a fluxakafka record carries (topic name, key,
   timestamp, headers) the way a C program handing records on would, without copying.
   produce and consume print "CPU <mode> <ns>" too: the CPU time of the calling thread per
   record over the timed span (librdkafka's own threads not included), and "PROCCPU <mode>
   <client ns> <broker ns>": the CPU of the whole process (every thread, getrusage) and of the
   broker JVM (utime+stime of /proc/$FK_BROKER_PID/stat; "n/a" without it) per record, over
   the same span as bench/fluxakafka_bench.lua and bench/franz/franz_bench.go measure it
   (consume: from before the consumer is created to the count-th record).
   latency: one record at a time, each produced and then waited for with rd_kafka_flush until
   it is acknowledged (what a synchronous send is in C); 50 untimed records first, then count
   (default 2000) timed one by one.
   Prints "RESULT <mode> <count> <records per second>" (latency: "RESULT latency <count>
   <p50 ms> <p99 ms>") as its last line; exits 1 if a record failed or did not arrive. */
#include <librdkafka/rdkafka.h>

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROPS 32

static long delivered, failed;
static const char *props[MAX_PROPS][2];
static int prop_count;

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }

/* CPU seconds of every thread of this process */
static double process_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* utime+stime of the broker in seconds (fields 14 and 15 of its stat line, 100 ticks a
   second), or -1 without FK_BROKER_PID */
static double broker_cpu(void)
{
    const char *pid = getenv("FK_BROKER_PID");
    char path[64], line[1024], *p;
    unsigned long long utime, stime;
    int field;
    FILE *f;
    if (!pid || !*pid) return -1;
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    if (!(f = fopen(path, "r"))) return -1;
    p = fgets(line, sizeof line, f);
    fclose(f);
    if (!p || !(p = strrchr(line, ')'))) return -1;
    for (field = 2; field < 13 && p; field++) p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu %llu", &utime, &stime) != 2) return -1;
    return (utime + stime) / 100.0;
}

typedef struct span { double process, broker; } span;

static span span_start(void)
{
    span s;
    s.process = process_cpu();
    s.broker = broker_cpu();
    return s;
}

static void span_end(span s, const char *mode, long records)
{
    double process = process_cpu(), broker = broker_cpu();
    if (s.broker >= 0 && broker >= 0)
        printf("PROCCPU %s %.1f %.1f\n", mode, (process - s.process) * 1e9 / records, (broker - s.broker) * 1e9 / records);
    else
        printf("PROCCPU %s %.1f n/a\n", mode, (process - s.process) * 1e9 / records);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", k, err);
        exit(1);
    }
}

static void set_env(rd_kafka_conf_t *conf, const char *k, const char *env, const char *dflt)
{
    const char *v = getenv(env);
    if (v && *v) set(conf, k, v);
    else if (dflt) set(conf, k, dflt);
}

static void set_props(rd_kafka_conf_t *conf)
{
    int i;
    for (i = 0; i < prop_count; i++) set(conf, props[i][0], props[i][1]);
}

static void print_settings(rd_kafka_conf_t *conf, const char *const *names)
{
    char v[256];
    size_t n;
    printf("settings:");
    for (; *names; names++) {
        n = sizeof v;
        if (rd_kafka_conf_get(conf, *names, v, &n) != RD_KAFKA_CONF_OK) snprintf(v, sizeof v, "?");
        printf(" %s=%s", *names, v);
    }
    printf("\n");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ == 0) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        delivered++;
    }
}

static int produce_one(rd_kafka_t *rk, const char *topic, const char *payload, size_t size)
{
    rd_kafka_resp_err_t e;
    for (;;) {
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE((void *)payload, size), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        rd_kafka_poll(rk, 100);
    }
    if (e) {
        fprintf(stderr, "produce failed: %s\n", rd_kafka_err2str(e));
        return 0;
    }
    return 1;
}

/* Waits until `want` records are acknowledged or failed (bounded by message.timeout.ms). */
static void wait_deliveries(rd_kafka_t *rk, long want)
{
    while (delivered + failed < want) rd_kafka_flush(rk, 1000);
}

static rd_kafka_t *new_producer(const char *brokers)
{
    static const char *const shown[] = { "acks", "linger.ms", "queue.buffering.max.messages",
                                         "queue.buffering.max.kbytes", "batch.num.messages",
                                         "message.timeout.ms", "compression.codec", NULL };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_t *rk;

    /* the settings fluxakafka's producer has in the bench: acks=all, linger 0 (LINGER_MS),
       librdkafka's message count limit, fluxakafka's 64 MiB byte limit, murmur2_random,
       5 requests in flight (MAX_IN_FLIGHT), the 30 s delivery timeout */
    set(conf, "bootstrap.servers", brokers);
    set_env(conf, "acks", "ACKS", "-1");
    set_env(conf, "linger.ms", "LINGER_MS", "0");
    set_env(conf, "queue.buffering.max.messages", "QUEUE_MAX", NULL);
    set_env(conf, "max.in.flight.requests.per.connection", "MAX_IN_FLIGHT", "5");
    set(conf, "queue.buffering.max.kbytes", "65536");
    set(conf, "partitioner", "murmur2_random");
    set(conf, "message.timeout.ms", "30000");
    set_props(conf);
    print_settings(conf, shown);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) fprintf(stderr, "%s\n", err);
    return rk;
}

static int produce(const char *brokers, const char *topic, long count, size_t size)
{
    char *payload = malloc(size ? size : 1);
    rd_kafka_t *rk;
    double start, elapsed, cpu_start;
    span proc;
    long i;

    memset(payload, 'x', size);
    if (!(rk = new_producer(brokers))) return 1;

    /* warm-up: the topic exists and its metadata is known before the clock starts */
    if (!produce_one(rk, topic, payload, size)) return 1;
    wait_deliveries(rk, 1);
    if (failed) {
        fprintf(stderr, "warm-up record to '%s' failed\n", topic);
        return 1;
    }
    delivered = failed = 0;

    start = now();
    cpu_start = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    proc = span_start();
    for (i = 0; i < count; i++) {
        if (!produce_one(rk, topic, payload, size)) return 1;
        if ((i & 15) == 0) rd_kafka_poll(rk, 0);
    }
    wait_deliveries(rk, count);
    elapsed = now() - start;
    span_end(proc, "produce", count);
    printf("produced %ld records of %zu bytes to '%s' in %.3f s (%ld failed)\n", delivered, size,
           topic, elapsed, failed);
    printf("CPU produce %.1f\n", (clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start) * 1e9 / count);
    printf("RESULT produce %ld %.1f\n", count, delivered / elapsed);
    rd_kafka_destroy(rk);
    free(payload);
    return failed || delivered != count ? 1 : 0;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the q-th quantile (0..1) of sorted values, nearest rank */
static double quantile(const double *sorted, long n, double q)
{
    long rank = (long)ceil(q * n);
    return sorted[rank < 1 ? 0 : rank - 1];
}

static int latency(const char *brokers, const char *topic, long count, size_t size)
{
    char *payload = malloc(size ? size : 1);
    double *ms = malloc(sizeof *ms * (size_t)count);
    rd_kafka_t *rk;
    long i;

    memset(payload, 'x', size);
    if (!payload || !ms || !(rk = new_producer(brokers))) return 1;
    for (i = -50; i < count; i++) {
        double start = now();
        long before = delivered;
        if (!produce_one(rk, topic, payload, size)) return 1;
        while (delivered + failed == before) rd_kafka_flush(rk, 1000);
        if (failed) {
            fprintf(stderr, "a record to '%s' failed\n", topic);
            return 1;
        }
        if (i >= 0) ms[i] = (now() - start) * 1000;
    }
    qsort(ms, (size_t)count, sizeof *ms, by_value);
    printf("latency of %ld acknowledged records of %zu bytes to '%s': p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           count, size, topic, quantile(ms, count, 0.5), quantile(ms, count, 0.99), ms[count - 1]);
    printf("RESULT latency %ld %.3f %.3f\n", count, quantile(ms, count, 0.5), quantile(ms, count, 0.99));
    rd_kafka_destroy(rk);
    free(payload);
    free(ms);
    return 0;
}

/* What a fluxakafka record table holds, read from the message without copying: the topic
   name, key, value, partition, offset, timestamp and every header. The topic name is read
   again only when the topic changes, as fluxakafka's record builder does. */
static size_t read_record(const rd_kafka_message_t *m)
{
    static const rd_kafka_topic_t *last_topic;
    static size_t topic_len;
    rd_kafka_headers_t *hdrs = NULL;
    size_t touched = m->len + m->key_len + (size_t)m->partition + (size_t)m->offset;
    if (m->rkt != last_topic) {
        last_topic = m->rkt;
        topic_len = strlen(rd_kafka_topic_name(m->rkt));
    }
    touched += topic_len;
    touched += (size_t)rd_kafka_message_timestamp(m, NULL);
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        size_t h, n = rd_kafka_header_cnt(hdrs);
        for (h = 0; h < n; h++) {
            const char *name;
            const void *value;
            size_t size;
            if (rd_kafka_header_get_all(hdrs, h, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR)
                touched += strlen(name) + size;
        }
    }
    return touched;
}

static int consume(const char *brokers, const char *topic, long count, int whole_records)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    char err[512], group[128];
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    long received = 0;
    size_t bytes = 0;
    double first = 0, last = 0, give_up = now() + 120;
    double cpu_first = 0, cpu_last = 0;   /* CPU time of this (the reading) thread */
    span proc = span_start();   /* librdkafka fetches ahead while the group is joined */

    snprintf(group, sizeof group, "bench-baseline-%ld-%ld", (long)time(NULL), (long)getpid());
    set(conf, "bootstrap.servers", brokers);
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "false");
    set(conf, "allow.auto.create.topics", "true");
    /* what fluxakafka's consumer groups set (csrc/fk_consumer.c) */
    set(conf, "queued.min.messages", "1000000");
    set_props(conf);
    printf("settings: group.id=%s auto.offset.reset=earliest enable.auto.commit=false queued.min.messages=1000000\n", group);
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    /* the fastest way librdkafka offers: wait for one message, then take what is ready in
       batches from the consumer queue (what fluxakafka's poll does too) */
    queue = rd_kafka_queue_get_consumer(rk);
    while (received < count && now() < give_up) {
        rd_kafka_message_t *batch[256];
        ssize_t n, i;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        batch[0] = m;
        n = 1 + rd_kafka_consume_batch_queue(queue, 0, batch + 1, 255);
        if (n < 1) n = 1;
        for (i = 0; i < n; i++) {
            if (!batch[i]->err && received < count) {
                if (!received) {
                    first = now();
                    cpu_first = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
                }
                received++;
                bytes += whole_records ? read_record(batch[i]) : batch[i]->len;
            } else if (batch[i]->err) {
                fprintf(stderr, "consumer: %s\n", rd_kafka_message_errstr(batch[i]));
            }
            rd_kafka_message_destroy(batch[i]);
        }
        last = now();
        cpu_last = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    }
    if (received > 0) span_end(proc, whole_records ? "consume-records" : "consume", received);
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (received < count) {
        fprintf(stderr, "received only %ld of %ld records from '%s' in 120 s\n", received, count, topic);
        return 1;
    }
    if (last <= first) last = first + 1e-9;
    printf("consumed %ld records (%zu bytes) from '%s' in %.3f s\n", received, bytes, topic, last - first);
    printf("CPU consume %.1f\n", (cpu_last - cpu_first) * 1e9 / received);
    printf("RESULT consume %ld %.1f\n", count, received / (last - first));
    return 0;
}

static int usage(const char *self)
{
    fprintf(stderr,
            "usage: %s produce [brokers] <topic> [count [size]] [-X name=value ...]\n"
            "       %s consume|consume-records [brokers] <topic> [count] [-X name=value ...]\n"
            "       %s latency [brokers] <topic> [count [size]] [-X name=value ...]\n"
            "environment: FK_BROKERS, ACKS, LINGER_MS, QUEUE_MAX, MAX_IN_FLIGHT\n", self, self, self);
    return 2;
}

int main(int argc, char **argv)
{
    const char *pos[5];
    const char *brokers = getenv("FK_BROKERS");
    int npos = 0, i, first = 1;
    long count;

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-X", 2) == 0) {
            char *kv = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
            char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq || prop_count == MAX_PROPS) return usage(argv[0]);
            *eq = '\0';
            props[prop_count][0] = kv;
            props[prop_count++][1] = eq + 1;
        } else if (npos < 5) {
            pos[npos++] = argv[i];
        } else {
            return usage(argv[0]);
        }
    }
    if (npos < 2) return usage(argv[0]);
    if (npos >= 3 && strchr(pos[1], ':')) brokers = pos[first++];
    if (!brokers || !*brokers) brokers = "127.0.0.1:9092";
    count = npos > first + 1 ? atol(pos[first + 1]) : strcmp(pos[0], "latency") == 0 ? 2000 : 1000000;
    if (count <= 0) return usage(argv[0]);
    if (strcmp(pos[0], "produce") == 0 || strcmp(pos[0], "latency") == 0) {
        long size = npos > first + 2 ? atol(pos[first + 2]) : 100;
        if (size < 0) return usage(argv[0]);
        return (pos[0][0] == 'p' ? produce : latency)(brokers, pos[first], count, (size_t)size);
    }
    if (strcmp(pos[0], "consume") == 0) return consume(brokers, pos[first], count, 0);
    if (strcmp(pos[0], "consume-records") == 0) return consume(brokers, pos[first], count, 1);
    return usage(argv[0]);
}
