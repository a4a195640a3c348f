/* The ceiling fluxakafka is measured against: plain C on librdkafka doing the same work as
   bench/fluxakafka_bench.lua, with the same settings.
     baseline produce <brokers> <topic> <count> <size>
     baseline consume <brokers> <topic> <count>
   Prints "RESULT <mode> <count> <records per second>" as its last line. */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long delivered, failed;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", k, err);
        exit(1);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) failed++;
    else delivered++;
}

static int produce(const char *brokers, const char *topic, long count, size_t size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], *payload = malloc(size);
    rd_kafka_t *rk;
    double start;
    long i;

    memset(payload, 'x', size);
    /* fluxakafka's defaults: acks=all, linger 0, librdkafka's queue limits, 30 s timeout */
    set(conf, "bootstrap.servers", brokers);
    set(conf, "acks", "-1");
    set(conf, "linger.ms", "0");
    set(conf, "message.timeout.ms", "30000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    start = now();
    for (i = 0; i < count; i++) {
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE(payload, size), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
            rd_kafka_poll(rk, 100);
        }
        if (e) {
            fprintf(stderr, "produce failed: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        if ((i & 15) == 0) rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0 && delivered + failed < count) rd_kafka_flush(rk, 1000);
    {
        double elapsed = now() - start;
        printf("produced %ld records of %zu bytes in %.3f s (%ld failed)\n", delivered, size, elapsed, failed);
        printf("RESULT produce %ld %.1f\n", count, delivered / elapsed);
    }
    rd_kafka_destroy(rk);
    free(payload);
    return failed ? 1 : 0;
}

static int consume(const char *brokers, const char *topic, long count)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    char err[512], group[128];
    rd_kafka_t *rk;
    long received = 0;
    size_t bytes = 0;
    double first = 0, last = 0, give_up = now() + 120;

    snprintf(group, sizeof group, "bench-baseline-%ld", (long)time(NULL));
    set(conf, "bootstrap.servers", brokers);
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "false");
    set(conf, "allow.auto.create.topics", "true");
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    while (received < count && now() < give_up) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (!m->err) {
            if (!received) first = now();
            received++;
            bytes += m->len;
            last = now();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (received < count) {
        fprintf(stderr, "received only %ld of %ld records\n", received, count);
        return 1;
    }
    printf("consumed %ld records (%zu bytes) in %.3f s\n", received, bytes, last - first);
    printf("RESULT consume %ld %.1f\n", count, received / (last - first));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]));
    if (argc >= 5 && strcmp(argv[1], "consume") == 0)
        return consume(argv[2], argv[3], atol(argv[4]));
    fprintf(stderr, "usage: %s produce <brokers> <topic> <count> <size> | consume <brokers> <topic> <count>\n", argv[0]);
    return 2;
}
