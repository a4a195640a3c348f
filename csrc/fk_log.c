/* Log lines of librdkafka's clients and fluxakafka's own about them: to stderr, or queued
   for a binding that captures them, with every known secret masked. */
#include "fk_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Log lines either go straight to stderr (the default: the core has no thread of its own
   to hand them to), or, once a binding asked for them with fk_log_capture, wait in a bounded
   queue until that binding takes them on its own thread. */
#define LOG_QUEUE_MAX 1024

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int             log_captured;
static fk_log_line    *log_queue;       /* ring of LOG_QUEUE_MAX lines, allocated on capture */
static size_t          log_head, log_count, log_dropped;

void fk_log_capture(int on)
{
    pthread_mutex_lock(&log_lock);
    if (on && !log_queue) log_queue = calloc(LOG_QUEUE_MAX, sizeof *log_queue);
    log_captured = on && log_queue;
    pthread_mutex_unlock(&log_lock);
}

int fk_log_next(fk_log_line *out, size_t *dropped)
{
    int got = 0;
    pthread_mutex_lock(&log_lock);
    *dropped = log_dropped;
    log_dropped = 0;
    if (log_count) {
        *out = log_queue[log_head];
        log_head = (log_head + 1) % LOG_QUEUE_MAX;
        log_count--;
        got = 1;
    }
    pthread_mutex_unlock(&log_lock);
    return got;
}

/* Called on every produce: a relaxed read, no lock (a line counted a moment late is served
   by the next call). */
size_t fk_log_pending(void)
{
    return __atomic_load_n(&log_count, __ATOMIC_RELAXED) + __atomic_load_n(&log_dropped, __ATOMIC_RELAXED);
}

static void log_line(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* every client's opaque (pool, consumer group, admin) starts with its pool code */
    const char *const *tag = rd_kafka_opaque(rk);
    const char *code = tag && *tag ? *tag : "";
    fk_log_line line;

    line.level = level;
    snprintf(line.facility, sizeof line.facility, "%s", fac ? fac : "");
    snprintf(line.pool, sizeof line.pool, "%s", code);
    snprintf(line.message, sizeof line.message, "[%s] %s", rd_kafka_name(rk), buf ? buf : "");
    fk_mask_secrets(line.message);
    pthread_mutex_lock(&log_lock);
    if (log_captured) {
        if (log_count == LOG_QUEUE_MAX) log_dropped++;
        else log_queue[(log_head + log_count++) % LOG_QUEUE_MAX] = line;
        pthread_mutex_unlock(&log_lock);
        return;
    }
    pthread_mutex_unlock(&log_lock);
    fprintf(stderr, "fluxakafka: %%%d|%s|%s\n", level, line.facility, line.message);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_line(rk, level, fac, buf);
}

void fk_log_attach(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, on_log);
}

void fk_log_client(const rd_kafka_t *rk, int level, const char *fac, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_line(rk, level, fac, buf);
}
