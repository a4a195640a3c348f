/* A pool's memory, shared by the engine (fk_pool.c) and the producers (fk_producer.c); the
   rest of the core reaches a pool through the functions of fluxakafka.h and fk_internal.h. */
#ifndef FK_POOL_H
#define FK_POOL_H

#include "fk_internal.h"
#include "fk_stage.h"

#include <pthread.h>

#define TOPIC_CACHE_SIZE 32

/* librdkafka's queue.buffering.max.messages when max_buffered_records is 0 (the raw property
   is refused in its favour) */
#define FK_RDKAFKA_DEFAULT_MAX_RECORDS 100000

typedef struct topic_entry {
    char             *name;
    rd_kafka_topic_t *rkt;
} topic_entry;

/* A librdkafka producer of the pool and its topic handles. */
typedef struct producer_slot {
    rd_kafka_t  *rk;
    pid_t        pid;     /* the process that created rk; librdkafka does not survive fork */
    topic_entry  topics[TOPIC_CACHE_SIZE];
    size_t       topic_count;
    int          fatal;   /* librdkafka raised a fatal error: replaced at the next call */
    fk_stage    *stage;   /* the async producer's, made on the first offer */
} producer_slot;

/* produce() goes through the first, with the pool's linger. produce_sync() waits for its
   records, so lingering would only add to its latency: when the pool lingers, it has a
   second producer, without linger, created on first use. */
enum { ASYNC_SLOT = 0, SYNC_SLOT = 1, SLOT_COUNT = 2 };

struct fk_pool {
    const char         *log_code;  /* first member: read by on_log through rd_kafka_opaque */
    fk_engine          *engine;
    const fk_pool_spec *spec;
    producer_slot       slots[SLOT_COUNT];
    int                 closed;
    fk_delivery        *dq;       /* ring buffer of finished deliveries */
    size_t              dq_head, dq_count, dq_cap;
    int                 dq_oom;   /* a delivery could not be queued: reported on next serve */
    size_t              in_flight;
    size_t              unreported_failures;
    rd_kafka_t         *admin;    /* for schema management; never references a topic, so it
                                     cannot auto-create one */
    int                 auth_failed;        /* credentials or TLS refused, or no broker
                                               reachable for connect_timeout: the error code */
    char                auth_error[FK_REFUSAL_TEXT_MAX];
    long long           down_since_ms;      /* every broker down since (0: one is up) */
    int                 reached;            /* a producer of the pool reached the brokers once */
    char                down_reason[300];   /* the last connection failure librdkafka gave */
    pid_t               admin_pid;
    int                 admin_users;        /* atomic: fk_pool_admin_hold calls not released */
    struct admin_health {                   /* what the admin client's error callback learned */
        pthread_mutex_t lock;               /* the callback runs on whichever thread polls */
        int             refused;            /* _AUTHENTICATION or _SSL until the brokers answer */
        char            refusal[FK_REFUSAL_TEXT_MAX];
        int             all_down;           /* every broker down, until the brokers answer */
        unsigned long   failures;           /* connection failures so far */
        int             failure_code;       /* the last one's: _TRANSPORT or _RESOLVE */
        char            failure[300];
    } admin_health;
    fk_stats_queue      stats;
    int                 txn_ready;          /* init_transactions done for the producer */
    int                 in_txn;             /* begun, not committed or aborted yet */
    int                 staging;            /* FK_STAGING_*: how produce stages records */
};

/* fk_producer.c, for closing the pool (fk_pool_close): an open transaction is aborted, and
   said so on stderr; then the records in flight get until deadline_ms (fk_now_ms) to be
   delivered, the rest is failed, and the producers are destroyed. */
void fk_producers_abort_transaction(fk_pool *p, int timeout_ms);
void fk_producers_close(fk_pool *p, long long deadline_ms);

#endif
