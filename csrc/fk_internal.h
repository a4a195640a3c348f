/* Shared by the core's translation units; not part of the public header. */
#ifndef FK_INTERNAL_H
#define FK_INTERNAL_H

#include "fluxakafka.h"
#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <sys/types.h>

/* The current process id, without a system call (refreshed after fork). */
pid_t fk_process_id(void);

char *fk_strdup(const char *s);
void  fk_free_secret(char *s);
void  fk_error_append(fk_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int   fk_grow(void **items, size_t *cap, size_t count, size_t item_size);

/* A thread whose end the caller polls for instead of waiting (the requests that run a
   blocking librdkafka call while nginx yields). Zeroed: none runs. */
typedef struct fk_thread {
    pthread_t id;
    void    (*fn)(void *);
    void     *arg;
    int       running;   /* started and not joined yet */
    int       done;      /* atomic: fn returned */
} fk_thread;
/* Runs fn(arg) on a new thread; 0 when it could not start (nothing runs then). */
int  fk_thread_start(fk_thread *t, void (*fn)(void *), void *arg);
/* 1 once fn returned (the thread is joined then) or when none runs; 0 while it runs. */
int  fk_thread_ended(fk_thread *t);
/* Waits for the thread, when one runs. */
void fk_thread_join(fk_thread *t);

/* A log line of fluxakafka's own about a client, delivered like librdkafka's (see
   fk_log_capture). */
void fk_log_client(const rd_kafka_t *rk, int level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A librdkafka configuration with the pool's brokers, client id, security and logging.
   NULL with err filled when a setting is refused. */
rd_kafka_conf_t *fk_pool_conf_new(const fk_pool_spec *spec, fk_error *err);
int fk_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, fk_error *err);
/* Sets the raw properties whose scope (fk_rdkafka_scope) is one of scopes_wanted ("P*",
   "C*", "*"); properties of unknown scope are set too. */
int fk_rdkafka_apply(rd_kafka_conf_t *conf, const fk_kvlist *props, const char *scopes_wanted,
                     fk_error *err);
int fk_conf_set_int(rd_kafka_conf_t *conf, const char *name, long long value, fk_error *err);

/* Kafka's own rule for topic names: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
int fk_topic_name_valid(const char *name, fk_error *err);

fk_engine *fk_pool_engine(const fk_pool *p);
/* The pool's admin client, created on first use in this process. */
rd_kafka_t *fk_pool_admin(fk_pool *p, fk_error *err);
/* The same, for use on another thread: closing the pool waits for the matching release. */
rd_kafka_t *fk_pool_admin_hold(fk_pool *p, fk_error *err);
void        fk_pool_admin_release(fk_pool *p);

/* A small queue of statistics texts (librdkafka's stats_cb), safe across threads. */
typedef struct fk_stats_queue {
    char  *items[FK_STATS_QUEUED];
    size_t head, count;
} fk_stats_queue;
void  fk_stats_push(fk_stats_queue *q, const char *json, size_t len);
char *fk_stats_pop(fk_stats_queue *q);
void  fk_stats_clear(fk_stats_queue *q);

/* Overwrites every registered secret (SASL password, TLS key password) found in line. */
void fk_mask_secrets(char *line);

/* When an error event means the brokers refused us (credentials, TLS), records it in
   code/reason (masked) and returns its code (_AUTHENTICATION or _SSL); else returns 0. */
int fk_note_refusal(int err, const char *reason, int *code, char *buf, size_t buf_len);

int fk_connect_timeout_ms(const fk_pool_spec *spec);
/* The pool's brokers as one comma-separated text (cut to fit), for error messages. */
void fk_brokers_text(const fk_pool_spec *spec, char *buf, size_t len);

/* For transactions: the positions (next offsets) of every partition assigned to c, and its
   group metadata (the caller destroys both). NULL with err when c commits on its own or the
   positions cannot be read. */
rd_kafka_topic_partition_list_t *fk_consumer_positions(fk_consumer *c,
                                                       rd_kafka_consumer_group_metadata_t **metadata,
                                                       fk_error *err);

#endif
