/* Shared by the core's translation units; not part of the public header. */
#ifndef FK_INTERNAL_H
#define FK_INTERNAL_H

#include "fluxakafka.h"
#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

/* Milliseconds of the monotonic clock, for deadlines. */
static inline long long fk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void fk_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* The current process id, without a system call (refreshed after fork). */
pid_t fk_process_id(void);

char *fk_strdup(const char *s);
void  fk_free_secret(char *s);
void  fk_error_append(fk_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int   fk_grow(void **items, size_t *cap, size_t count, size_t item_size);

/* A thread whose end the caller polls for, or waits for with a bound, instead of joining at
   once (the work of jobs, see fk_job.c; a consumer's start offset lookup and close). Zeroed:
   none runs. Only the thread that started it calls these. */
typedef struct fk_thread {
    pthread_t       id;
    void          (*fn)(void *);
    void           *arg;
    int             running;   /* started and not joined yet */
    int             done;      /* atomic: fn returned */
    pthread_mutex_t lock;      /* with cond: fk_thread_wait sleeps until done */
    pthread_cond_t  cond;
} fk_thread;
/* Runs fn(arg) on a new thread; 0 when it could not start (nothing runs then). */
int  fk_thread_start(fk_thread *t, void (*fn)(void *), void *arg);
/* 1 once fn returned (the thread is joined then) or when none runs; 0 while it runs. */
int  fk_thread_ended(fk_thread *t);
/* fk_thread_ended after waiting up to timeout_ms (< 0: until it ended) for fn to return. */
int  fk_thread_wait(fk_thread *t, int timeout_ms);
/* Waits for the thread, when one runs. */
void fk_thread_join(fk_thread *t);

/* How a kind of job plugs into fk_job.c (see fk_job in fluxakafka.h): a kind's struct
   begins with an fk_job, made by fk_job_new. */
typedef struct fk_job_ops {
    fk_job_kind kind;
    /* The work, on the job's own thread (fk_job_start): sets ok and err. A job that is not
       started is ready at once, with the ok and err its starter set. */
    void (*run)(fk_job *j);
    /* Instead of run, for work that goes on elsewhere (inside librdkafka, on a consumer's
       close thread): 1 once it is over (ok and err set), waiting up to timeout_ms for that. */
    int  (*poll)(fk_job *j, int timeout_ms);
    /* Frees what the kind holds, on the caller's thread, once the work let go (or never ran). */
    void (*destroy)(fk_job *j);
} fk_job_ops;

struct fk_job {
    const fk_job_ops *ops;
    const char       *what;        /* the call, for messages ("watermarks", "exec", ...) */
    fk_thread         thread;
    int               ended;       /* the answer is final */
    int               cancelled;   /* atomic: read by the work (fk_job_stopping) */
    int               ok;
    fk_error          err;
};

/* A zeroed job of `size` bytes; NULL with err. */
fk_job *fk_job_new(const fk_job_ops *ops, size_t size, const char *what, fk_error *err);
/* Runs ops->run on a thread of its own; NULL with err (j freed) when no thread starts. */
fk_job *fk_job_start(fk_job *j, fk_error *err);
/* For work that waits in steps, between two: 1 with err (may be NULL) filled when the job
   running on this thread was cancelled; 0 otherwise, and on threads that run no job (the
   blocking calls). */
int fk_job_stopping(fk_error *err);

/* fk_secret.c: remembers a secret (a copy, for the process lifetime), which
   fk_mask_secrets then overwrites wherever it appears. Shorter than 3 characters: ignored. */
void fk_secret_remember(const char *s);

/* fk_log.c: a log line of fluxakafka's own about a client, delivered like librdkafka's (see
   fk_log_capture). */
void fk_log_client(const rd_kafka_t *rk, int level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends the log lines of the client made with conf where fk_log_client sends its own. */
void fk_log_attach(rd_kafka_conf_t *conf);

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

/* An admin call's wait on its pool's admin client. librdkafka tells of refused credentials,
   failed TLS handshakes and brokers that refuse connections only through the client's error
   callback, while the request itself waits out its whole timeout: a call that waits in short
   steps asks fk_admin_watch_failed between them, and so fails at once with the real cause. */
typedef struct fk_admin_watch {
    fk_pool      *pool;
    rd_kafka_t   *rk;
    unsigned long failures_seen;   /* the pool's count of connection failures at the start */
} fk_admin_watch;
void fk_admin_watch_begin(fk_admin_watch *w, fk_pool *p, rd_kafka_t *rk);
/* 1 with err set ("what: ...", librdkafka's code: _AUTHENTICATION, _SSL, _TRANSPORT,
   _RESOLVE) when the brokers refused the client, or none can be reached and a connection
   failed again during this wait; 0 otherwise */
int  fk_admin_watch_failed(fk_admin_watch *w, const char *what, fk_error *err);
/* the brokers answered: an earlier refusal or outage is over */
void fk_admin_watch_answered(fk_admin_watch *w);
/* rd_kafka_metadata of every topic through a pool's admin client, within timeout_ms, watched:
   _TIMED_OUT (err not set) when the time ran out, another code with err set when the
   brokers refused the client or cannot be reached */
rd_kafka_resp_err_t fk_admin_metadata(rd_kafka_t *admin, const struct rd_kafka_metadata **md, int timeout_ms,
                                      const char *what, fk_error *err);

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

/* room for a refusal's text: librdkafka's reason and, for SCRAM, what to do about Kafka 4 */
#define FK_REFUSAL_TEXT_MAX 700
/* When an error event means the brokers refused us (credentials, TLS), records it in
   code/reason (masked) and returns its code (_AUTHENTICATION or _SSL); else returns 0. */
int fk_note_refusal(int err, const char *reason, int *code, char *buf, size_t buf_len);
/* appends to buf what to do when a SCRAM login failed under a librdkafka that Kafka 4 refuses */
void fk_scram_hint(const char *reason, char *buf, size_t buf_len);

int fk_connect_timeout_ms(const fk_pool_spec *spec);
/* The pool's brokers as one comma-separated text (cut to fit), for error messages. */
void fk_brokers_text(const fk_pool_spec *spec, char *buf, size_t len);

/* fk_producer.c, for fk_pool_send_offsets_to_transaction (a consumer's): the pool's
   producer for a transaction call `what` (NULL with err and *kind when the pool has no
   transactional_id or no producer), and the error of a failed transaction call (e is
   destroyed; returns 0). */
rd_kafka_t *fk_pool_txn_producer(fk_pool *p, const char *what, fk_error *err, int *kind);
int fk_pool_txn_failed(fk_pool *p, const char *what, rd_kafka_error_t *e, fk_error *err, int *kind);

#endif
