/*
 * fluxakafka.h - the C core of fluxakafka.
 *
 * A registry of Kafka pools, consumer groups and topics; an engine built from a valid
 * registry; pools (one lazily created producer each) and consumer groups (one client each)
 * on librdkafka. Nothing here knows about Lua: the binding in csrc/lua/ is a thin layer on
 * top of this header.
 *
 * Conventions:
 *  - Functions that can fail take an fk_error* and return 0 / NULL on failure with the error
 *    filled in; they return non-zero / non-NULL on success.
 *  - Durations in this header are milliseconds. A timeout < 0 means "wait forever".
 *  - Strings passed in are copied; the caller keeps ownership of its arguments.
 */
#ifndef FLUXAKAFKA_H
#define FLUXAKAFKA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FK_VERSION "0.2.0"
/* A web service produces many small records from many requests: waiting 5 ms to batch them
   costs each record at most 5 ms and saves a broker-thread wake-up per record (librdkafka
   2.x's own default). produce_sync does not wait for it: its records go through a second
   producer of the pool, without linger. */
#define FK_DEFAULT_LINGER_MS 5
#define FK_DEFAULT_NGINX_BATCH_WINDOW_MS 100
/* The bytes of records a producer keeps waiting for delivery (librdkafka's default: 1 GiB). */
#define FK_MAX_BUFFERED_KBYTES 65536
/* The pause before a client reconnects to a broker, doubling from the first to the second
   (librdkafka's defaults: 100 ms and 10 s). */
#define FK_RECONNECT_BACKOFF_MS 100
#define FK_RECONNECT_BACKOFF_MAX_MS 1000
#define FK_ASYNC_SQL_TOPIC_NAME "_fluxa_async_sql"
#define FK_ASYNC_SQL_DEAD_LETTER_TOPIC_NAME "_fluxa_async_sql_failed"
#define FK_ASYNC_SQL_CONSUMER_GROUP_NAME "_fluxa_async_sql"   /* FluxaORM's name */

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                               */

typedef struct fk_error {
    int  rd_err;       /* rd_kafka_resp_err_t, 0 when the failure is not a Kafka error */
    char code[64];     /* Kafka error name, e.g. "UNKNOWN_TOPIC_OR_PART", "_MSG_TIMED_OUT";
                          for argument errors "INVALID_ARG" */
    char msg[512];     /* a sentence saying what failed */
} fk_error;

void fk_error_clear(fk_error *e);
/* Sets msg from the format and code to `code` (may be NULL -> "INVALID_ARG"). */
void fk_error_set(fk_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets msg to "<formatted>: <librdkafka's description>" and code to the error's name. */
void fk_error_set_rd(fk_error *e, int rd_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *fk_librdkafka_version(void);

/* librdkafka's log lines, with secrets masked. By default they are written to stderr from
   whichever librdkafka thread logs. fk_log_capture(1) queues them instead (at most 1024;
   beyond that they are counted as dropped) for a binding to take on its own thread. */
typedef struct fk_log_line {
    int  level;            /* syslog levels: 0 emergency .. 7 debug */
    char facility[32];     /* librdkafka's facility, e.g. "FAIL", "CONFWARN" */
    char pool[128];        /* the pool code of the client that logged ("" when unknown) */
    char message[1024];    /* "[rdkafka#producer-1] ..." */
} fk_log_line;
void   fk_log_capture(int on);
/* Pops the oldest line (1) or finds none (0); *dropped gets the number of lines dropped
   since the last call. */
int    fk_log_next(fk_log_line *out, size_t *dropped);
size_t fk_log_pending(void);
const char *fk_err_name(int rd_err);          /* e.g. "UNKNOWN_TOPIC_OR_PART" */
const char *fk_err_description(int rd_err);   /* librdkafka's human description */

/* ------------------------------------------------------------------------------------ */
/* Small owned containers                                                               */

typedef struct fk_strlist {
    char  **items;
    size_t  count;
    size_t  cap;
} fk_strlist;

/* Replaces *dst (freed) with a copy of src (NULL allowed). 0 on out-of-memory. */
int  fk_set_string(char **dst, const char *src);

int  fk_strlist_push(fk_strlist *l, const char *s);           /* 0 on out-of-memory */
int  fk_strlist_contains(const fk_strlist *l, const char *s);
int  fk_strlist_copy(fk_strlist *dst, const fk_strlist *src);  /* dst must be empty */
/* Glob match: `*` stands for any run of characters (also none), nothing else is special. */
int  fk_glob_match(const char *pattern, const char *s);
int  fk_strlist_match(const fk_strlist *patterns, const char *s);   /* any pattern matches */
/* The known key a misspelt `key` most likely means (same letters ignoring case, '_', '-' and a
   trailing "ms", else a close edit distance), or NULL. `aliases`, when not NULL, runs parallel
   to `known` with the other spelling of each key (the YAML name of a Lua option, ...). */
const char *fk_suggest(const char *key, const char *const *known, const char *const *aliases);
void fk_strlist_clear(fk_strlist *l);

/* An ordered string -> string map (topic configs). Setting an existing key replaces it. */
typedef struct fk_kvlist {
    char  **keys;
    char  **values;
    size_t  count;
    size_t  cap;
} fk_kvlist;

int         fk_kvlist_set(fk_kvlist *l, const char *key, const char *value);
const char *fk_kvlist_get(const fk_kvlist *l, const char *key);
int         fk_kvlist_copy(fk_kvlist *dst, const fk_kvlist *src);
void        fk_kvlist_clear(fk_kvlist *l);

/* ------------------------------------------------------------------------------------ */
/* Specifications: what the user registers                                              */

typedef enum fk_sasl_mechanism {
    FK_SASL_NONE = 0,
    FK_SASL_PLAIN,
    FK_SASL_SCRAM_SHA_256,
    FK_SASL_SCRAM_SHA_512
} fk_sasl_mechanism;

/* Returns the mechanism for its Kafka name ("PLAIN", "SCRAM-SHA-256", ...), -1 if unknown. */
int         fk_sasl_mechanism_parse(const char *name);
const char *fk_sasl_mechanism_name(fk_sasl_mechanism m);

typedef struct fk_tls_options {
    int   enabled;
    char *ca_file;          /* NULL: the system's trust store */
    char *cert_file;        /* client certificate (optional) */
    char *key_file;         /* client key (optional) */
    char *key_password;     /* secret, never printed */
    int   verify;           /* verify the broker certificate and host name; default 1 */
} fk_tls_options;

typedef struct fk_pool_options {
    char             *client_id;             /* NULL: librdkafka's default */
    int               required_acks;         /* -1 (all), 0 or 1 */
    double            linger_ms;             /* linger.ms; default FK_DEFAULT_LINGER_MS */
    double            paced_window_ms;       /* a paced stage's window (FK_STAGING_PACED);
                                                default FK_DEFAULT_NGINX_BATCH_WINDOW_MS */
    int               max_buffered_records;  /* queue.buffering.max.messages; 0 = default */
    double            delivery_timeout_ms;   /* message.timeout.ms; 0 = 30000 */
    double            connect_timeout_ms;    /* bound on the connection check of new consumer
                                                groups and admin calls; 0 = 10000 */
    fk_sasl_mechanism sasl_mechanism;
    char             *sasl_user;
    char             *sasl_password;         /* secret, never printed */
    fk_tls_options    tls;
    fk_strlist        ignored_topics;
    fk_strlist        ignored_consumer_groups;
    char             *partitioner;           /* librdkafka's partitioner name; NULL: murmur2_random */
    char             *compression;           /* producers' compression.type; NULL: none */
    int               idempotent;            /* producers' enable.idempotence */
    int               max_in_flight;         /* producers' max.in.flight.requests.per.connection;
                                                default FK_DEFAULT_MAX_IN_FLIGHT */
    fk_kvlist         rdkafka;               /* raw librdkafka properties (checked by
                                                fk_rdkafka_check at validate) */
    int               statistics_interval_ms;/* producers' statistics.interval.ms; 0: off */
    char             *transactional_id;      /* NULL: no transactions; else every record of
                                                the pool goes through one transactional
                                                producer (see fk_pool_begin_transaction) */
} fk_pool_options;

/* What 0 means for the durations below (ms): the values in effect, shown by the getters. */
#define FK_DEFAULT_DELIVERY_TIMEOUT_MS 30000
#define FK_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define FK_DEFAULT_SESSION_TIMEOUT_MS 45000     /* librdkafka's session.timeout.ms */
#define FK_DEFAULT_REBALANCE_TIMEOUT_MS 300000  /* librdkafka's max.poll.interval.ms */
#define FK_DEFAULT_FETCH_MAX_BYTES 52428800     /* librdkafka's fetch.max.bytes */
/* Produce requests a producer keeps in flight per broker connection. librdkafka's own default
   (1000000) sends every few records at linger 0 as a request of its own; 5 (Kafka's, franz-go's,
   and what idempotence allows) lets records gather into larger batches while earlier
   requests are acknowledged: at linger 0 with acks=all the client's CPU per record fell by
   a fifth, the broker's too (bench/franz.sh). */
#define FK_DEFAULT_MAX_IN_FLIGHT 5
#define FK_MAX_IDEMPOTENT_IN_FLIGHT 5
/* The largest producer linger accepted (ms). */
#define FK_MAX_LINGER_MS 1000
/* librdkafka's ranges of the consumer group durations (ms). */
#define FK_MAX_SESSION_TIMEOUT_MS 3600000
#define FK_MAX_REBALANCE_TIMEOUT_MS 86400000
#define FK_MAX_AUTO_COMMIT_INTERVAL_MS 86400000
/* The partitioner of pool producers when none is given: murmur2 on the key, as Java's and
   franz-go's producers choose, so keyed records land on the same partitions. */
#define FK_DEFAULT_PARTITIONER "murmur2_random"
/* 1 when name is one of librdkafka's partitioners (random, consistent, consistent_random,
   murmur2, murmur2_random, fnv1a, fnv1a_random). */
int fk_partitioner_valid(const char *name);

void fk_pool_options_init(fk_pool_options *o);                       /* defaults */
int  fk_pool_options_copy(fk_pool_options *dst, const fk_pool_options *src);
void fk_pool_options_clear(fk_pool_options *o);

typedef struct fk_pool_spec {
    char           *code;
    fk_strlist      brokers;
    fk_pool_options options;
} fk_pool_spec;

typedef struct fk_group_spec {
    char      *name;
    char      *pool;
    fk_strlist topics;
    int        session_timeout_ms;       /* 0: library default (45 s) */
    int        rebalance_timeout_ms;     /* 0: library default (300 s) */
    int        fetch_max_bytes;          /* 0: library default */
    int        auto_commit_interval_ms;  /* 0: manual commit only */
    fk_kvlist  rdkafka;                  /* raw librdkafka properties of this group's client */
    int        start_latest;             /* no committed offset: 0 earliest record, 1 latest */
    int64_t    start_timestamp_ms;       /* > 0: no committed offset: the first record written
                                            at or after this time (ms since the epoch), else
                                            the end; overrides start_latest */
    int        statistics_interval_ms;   /* statistics.interval.ms of the client; 0: off */
    int        group_protocol;           /* fk_group_protocol; 0: unset (classic) */
} fk_group_spec;

/* How members of a group agree on an assignment: the classic protocol (JoinGroup/SyncGroup,
   the client-side assignors) or KIP-848's consumer protocol (the broker assigns). */
typedef enum fk_group_protocol {
    FK_GROUP_PROTOCOL_UNSET = 0,
    FK_GROUP_PROTOCOL_CLASSIC = 1,
    FK_GROUP_PROTOCOL_CONSUMER = 2
} fk_group_protocol;

/* librdkafka's consumer protocol is production ready from 2.12.0 (0xMMmmrrxx, xx = 0xff: final) */
#define FK_MIN_RDKAFKA_CONSUMER_PROTOCOL 0x020c00ff

void fk_group_spec_init(fk_group_spec *g);
int  fk_group_spec_copy(fk_group_spec *dst, const fk_group_spec *src);
void fk_group_spec_clear(fk_group_spec *g);

typedef struct fk_topic_spec {
    char     *name;
    char     *pool;
    int32_t   partitions;          /* 0: not declared */
    int16_t   replication_factor;  /* 0: not declared */
    fk_kvlist configs;             /* declared topic configs */
} fk_topic_spec;

void fk_topic_spec_init(fk_topic_spec *t);
int  fk_topic_spec_copy(fk_topic_spec *dst, const fk_topic_spec *src);
void fk_topic_spec_clear(fk_topic_spec *t);

/* Raw librdkafka properties. fk_rdkafka_check refuses a property fluxakafka sets itself
   (naming the option to use instead), one librdkafka does not know or whose value it refuses
   (librdkafka's message, naming the key), and, for a consumer group (for_group != 0), a
   producer-only property. `owner` starts the message ("kafka pool 'events'"). No client is
   made: the properties are set on a throw-away configuration. */
int fk_rdkafka_check(const fk_kvlist *props, int for_group, const char *owner, fk_error *err);
/* Where a property applies, from librdkafka's own property table: 'P' producer only,
   'C' consumer only, '*' every client, 0 when librdkafka does not know it. */
char fk_rdkafka_scope(const char *name);

/* ------------------------------------------------------------------------------------ */
/* Registry                                                                             */

typedef struct fk_registry {
    fk_pool_spec  *pools;   size_t pool_count;   size_t pool_cap;
    fk_group_spec *groups;  size_t group_count;  size_t group_cap;
    fk_topic_spec *topics;  size_t topic_count;  size_t topic_cap;
    /* async flush: pool code (NULL when not registered) and topic partition count */
    char          *async_flush_pool;
    int32_t        async_flush_partitions;
} fk_registry;

fk_registry *fk_registry_new(void);
void         fk_registry_free(fk_registry *r);

/* Each add copies its arguments. Argument checks (empty names, negative numbers) fail here;
   cross-object checks (a group on an unknown pool, duplicates) wait for validate. */
int fk_registry_add_pool(fk_registry *r, const char *code, const fk_strlist *brokers,
                         const fk_pool_options *options, fk_error *err);
int fk_registry_add_group(fk_registry *r, const fk_group_spec *group, fk_error *err);
int fk_registry_add_topic(fk_registry *r, const fk_topic_spec *topic, fk_error *err);
/* Moves every pool, group and topic of `src` into `dst` (src is left empty). */
int fk_registry_merge(fk_registry *dst, fk_registry *src, fk_error *err);

const fk_pool_spec *fk_registry_find_pool(const fk_registry *r, const char *code);

/* Consistency: pools have brokers, groups name a known pool and have topics, no duplicate
   pool codes, group names per pool or topic names per pool. */
int fk_registry_validate(const fk_registry *r, fk_error *err);

/* ------------------------------------------------------------------------------------ */
/* Configuration documents: YAML text, or a tree built by a binding (e.g. from a Lua table).
   Both go through fk_registry_init_by_doc, so they are validated by the same code. */

typedef enum fk_doc_type { FK_DOC_SCALAR, FK_DOC_SEQUENCE, FK_DOC_MAP } fk_doc_type;
typedef enum fk_scalar_kind { FK_SCALAR_TEXT, FK_SCALAR_NUMBER, FK_SCALAR_BOOL, FK_SCALAR_NULL } fk_scalar_kind;

typedef struct fk_doc {
    fk_doc_type     type;
    int             line, column;   /* 1-based position in the YAML text; 0 when unknown */
    fk_scalar_kind  kind;           /* scalars: what the text is (quoted YAML is TEXT) */
    char           *text;           /* scalars: their text */
    char          **keys;           /* maps: keys, in document order */
    struct fk_doc **items;          /* sequences and maps: values */
    size_t          count, cap;
} fk_doc;

fk_doc *fk_doc_new(fk_doc_type type, int line, int column);
fk_doc *fk_doc_new_scalar(fk_scalar_kind kind, const char *text, int line, int column);
/* Both take ownership of item, also on failure (0 = out of memory, or a duplicate map key). */
int     fk_doc_append(fk_doc *sequence, fk_doc *item);
int     fk_doc_put(fk_doc *map, const char *key, fk_doc *item);
void    fk_doc_free(fk_doc *d);

/* Parses YAML (one document) into a tree; NULL with err naming line and column. */
fk_doc *fk_yaml_parse(const char *text, size_t len, fk_error *err);
/* Registers every kafka pool of the document (pool code -> { kafka = {...} }; other
   sections are skipped). All or nothing: on error nothing is registered and err names the
   key path (events.kafka.consumerGroups[1].topics) and, for YAML, the line. */
int     fk_registry_init_by_doc(fk_registry *r, const fk_doc *doc, fk_error *err);

/* ------------------------------------------------------------------------------------ */
/* Jobs: the calls that wait for the brokers, started without waiting                    */
/*
 * Some calls wait for broker round trips that librdkafka answers only by blocking
 * (metadata, watermarks, committed offsets, admin results awaited, a consumer's connection
 * check and its close) or on a queue (a commit). Each has a starter that returns at once with
 * an fk_job, or NULL with err when the call cannot start (a closed pool, a bad argument, no
 * thread to be had); the work runs on a thread of its own (a commit: inside librdkafka).
 * Then, on the thread that started it:
 *   - fk_job_ready polls without ever blocking (an event loop such as nginx's sleeps between
 *     polls), fk_job_wait blocks, with a bound or without;
 *   - once ready, fk_job_error says whether the call succeeded (else err says what the
 *     blocking call would have said), and the answer is read with its kind's accessor;
 *   - fk_job_free releases the job and an answer not taken, also one given up unanswered.
 *
 *   starter                      kind                      the answer
 *   fk_inspect_start             FK_JOB_INSPECT            fk_inspect_watermarks, ..._topic, ..._group
 *   fk_get_alters_start          FK_JOB_GET_ALTERS         fk_job_take_alters
 *   fk_alter_exec_start          FK_JOB_ALTER_EXEC         (success or err)
 *   fk_consumer_request_start    FK_JOB_CONSUMER_REQUEST   fk_job_take_partitions (committed, lag)
 *   fk_consumer_new_start,
 *   fk_consumer_open_start       FK_JOB_CONSUMER_OPEN      fk_job_take_consumer
 *   fk_consumer_close_start      FK_JOB_CONSUMER_CLOSE     (success)
 *   fk_consumer_commit_start     FK_JOB_COMMIT             (success or err)
 *   fk_read_start                FK_JOB_READ               fk_read_count, fk_read_record, fk_read_header
 *
 * Every job is bounded: by the pool's connect timeout (a commit: by its own timeout, the
 * connect timeout unless given), an alter by the time the broker takes
 * to show its effect (30 s at most). What a job works on stays usable meanwhile; closing it
 * (the pool, the engine, the consumer group) waits for the jobs running on it, and their
 * answers stay readable.
 */
typedef struct fk_job fk_job;
typedef enum fk_job_kind {
    FK_JOB_INSPECT = 0,
    FK_JOB_GET_ALTERS,
    FK_JOB_ALTER_EXEC,
    FK_JOB_CONSUMER_REQUEST,
    FK_JOB_CONSUMER_OPEN,
    FK_JOB_CONSUMER_CLOSE,
    FK_JOB_COMMIT,
    FK_JOB_READ
} fk_job_kind;

fk_job_kind fk_job_kind_of(const fk_job *j);
/* 1 once the answer is in; never blocks. */
int  fk_job_ready(fk_job *j);
/* Waits up to timeout_ms (< 0: as long as it takes): 1 once the answer is in, 0 when the time
   ran out first. */
int  fk_job_wait(fk_job *j, int timeout_ms);
/* Once ready: 1 when the call succeeded, else 0 with err filled. (Before: 0, a _STATE err.) */
int  fk_job_error(fk_job *j, fk_error *err);
/* Gives the answer up: work that waits in steps (a connection check, an alter waiting for
   the broker to show it) stops at the next step, failing with _DESTROY, instead of running to
   its bound. */
void fk_job_cancel(fk_job *j);
/* Cancels, waits until the work let go of what it works on, and frees the job. (A group's
   close goes on without its job: fk_consumer_close and fk_consumer_free wait for it.) */
void fk_job_free(fk_job *j);

/* ------------------------------------------------------------------------------------ */
/* Engine and pools                                                                     */

typedef struct fk_engine   fk_engine;
typedef struct fk_pool     fk_pool;
typedef struct fk_consumer fk_consumer;

/* Validates the registry and takes a deep copy of it: later registrations do not affect
   the engine. No connection is made here (clients are created lazily, after any fork). */
fk_engine *fk_engine_new(const fk_registry *r, fk_error *err);
/* Closes every pool (see fk_pool_close) and frees the engine and its pools. */
void       fk_engine_free(fk_engine *e, int close_timeout_ms);

const fk_registry *fk_engine_registry(const fk_engine *e);
size_t   fk_engine_pool_count(const fk_engine *e);
fk_pool *fk_engine_pool_at(fk_engine *e, size_t i);
fk_pool *fk_engine_pool(fk_engine *e, const char *code);   /* NULL if unknown */

const fk_pool_spec *fk_pool_spec_of(const fk_pool *p);

/* Header keys and values are byte strings (NUL bytes included), hence their lengths. */
typedef struct fk_header {
    const char *key;
    size_t      key_len;
    const void *value;         /* NULL: null value */
    size_t      value_len;
} fk_header;

typedef struct fk_produce_record {
    const char      *topic;
    const void      *key;          /* NULL: no key */
    size_t           key_len;
    const void      *value;        /* NULL: null value */
    size_t           value_len;
    const fk_header *headers;
    size_t           header_count;
    int32_t          partition;    /* < 0: let the partitioner choose */
    int64_t          timestamp_ms; /* 0: now */
} fk_produce_record;

/* Whether a record may be in the topic (librdkafka's rd_kafka_message_status): on a failure,
   POSSIBLY means the broker may have written it, so sending it again can make a duplicate. */
enum { FK_PERSISTED_NO = 0, FK_PERSISTED_POSSIBLY = 1, FK_PERSISTED_YES = 2 };

/* A finished delivery. `token` is what the caller gave fk_pool_produce. */
typedef struct fk_delivery {
    uint64_t token;
    int32_t  partition;
    int64_t  offset;
    int64_t  timestamp_ms;
    int      rd_err;         /* 0 on success */
    int      persisted;      /* FK_PERSISTED_*: YES on success */
} fk_delivery;

/* Queues one record. token != 0: its delivery (success or failure) is queued for
   fk_pool_next_delivery. token == 0: nothing is queued on success; a failure is counted
   (fk_pool_unreported_failures) and logged.
   When librdkafka's queue is full, serves deliveries for up to block_ms and retries.
   Returns 0 with err filled when the record was not accepted (no delivery will follow).
   During a burst, small records are staged and handed to librdkafka together within
   FK_STAGE_WINDOW_US (1 ms; fk_stage.h), by a thread of the pool if the caller makes no
   further call; a staged record librdkafka then refuses fails like a delivery. */
int fk_pool_produce(fk_pool *p, const fk_produce_record *rec, uint64_t token, int block_ms,
                    fk_error *err);

/* A batch of records whose deliveries are awaited together (produce_sync). The pool owns
   the batch; release it with fk_batch_release, even while deliveries are pending. */
typedef struct fk_batch fk_batch;
fk_batch *fk_pool_produce_batch(fk_pool *p, const fk_produce_record *recs, size_t n,
                                int block_ms, fk_error *err);
size_t    fk_batch_pending(const fk_batch *b);
/* What the delivery of record i (0-based, in the order given) reported: partition, offset
   and timestamp, or rd_err and persisted. A record still unanswered (the delivery timeout
   passed first) reads as _MSG_TIMED_OUT, possibly persisted: librdkafka may still deliver
   it. 0 when i is out of range. */
int       fk_batch_delivery(const fk_batch *b, size_t i, fk_delivery *out);
/* Milliseconds left until the pool's delivery timeout, counted from fk_pool_produce_batch;
   0 once it passed. */
double    fk_batch_remaining_ms(const fk_batch *b);
/* After pending reached 0 or the delivery timeout passed: 1 if every record was delivered,
   else 0 and err describes the first failure and how many records failed (or, past the
   timeout, how many are still unacknowledged: _MSG_TIMED_OUT). */
int       fk_batch_result(const fk_batch *b, fk_error *err);
void      fk_batch_release(fk_batch *b);

/* Serves librdkafka events for up to timeout_ms (returns as soon as one is served).
   Returns the number of deliveries now waiting in fk_pool_next_delivery. */
int    fk_pool_poll(fk_pool *p, int timeout_ms);
int    fk_pool_next_delivery(fk_pool *p, fk_delivery *out);  /* 1 if one was popped */
size_t fk_pool_queued_deliveries(const fk_pool *p);
size_t fk_pool_in_flight(const fk_pool *p);  /* records produced, not yet delivered/failed */
size_t fk_pool_unreported_failures(const fk_pool *p);
/* How fk_pool_produce stages records (fk_stage.h): FK_STAGING_BURSTS (the default) stages
   bursts, with a thread of the pool; FK_STAGING_PACED, for an event loop that calls
   fk_pool_poll often (OpenResty), hands records over at most once per the pool's
   paced_window_ms, with no thread (0 ms: like OFF); FK_STAGING_OFF hands each record to
   librdkafka in its own call. */
enum { FK_STAGING_OFF = 0, FK_STAGING_BURSTS = 1, FK_STAGING_PACED = 2 };
void   fk_pool_set_staging(fk_pool *p, int mode);
/* Hands the staged records to librdkafka now, without waiting for room (those its full queue
   refuses stay staged): for a flush or close that waits by polling, in an event loop. */
void   fk_pool_hand_over(fk_pool *p);
/* Batches of staged records handed to librdkafka by this process's producer so far (for the
   specs and benchmarks: whether staging took place). */
unsigned long fk_pool_staged_batches(fk_pool *p);
/* The rd_kafka_t* of the pool's producer in this process (sync: the one of produce_sync when
   the pool lingers), NULL before its first record; for LuaJIT FFI users and the specs. A fatal
   error replaces it, so it is not to be kept. */
void  *fk_pool_rd_kafka(fk_pool *p, int sync);
/* librdkafka's statistics (JSON text) emitted by the pool's producers or a consumer while
   they were served (statistics_interval_ms > 0). The oldest first; NULL when none is queued.
   The caller frees the text with free(). At most FK_STATS_QUEUED are kept (the oldest are
   dropped). */
#define FK_STATS_QUEUED 8
char *fk_pool_take_stats(fk_pool *p);
/* The brokers' reason when they refused the pool's credentials, else NULL. */
const char *fk_pool_auth_error(const fk_pool *p);

/* Waits up to timeout_ms until every buffered record is delivered or failed. */
int  fk_pool_flush(fk_pool *p, int timeout_ms, fk_error *err);
/* Flushes for up to timeout_ms, then purges what is left (those records fail with
   _PURGE_QUEUE and their deliveries are queued, never lost) and destroys the producer.
   The pool stays usable for fk_pool_next_delivery; further produce calls fail. */
void fk_pool_close(fk_pool *p, int timeout_ms);
int  fk_pool_is_closed(const fk_pool *p);

/* ------------------------------------------------------------------------------------ */
/* Transactions, for pools with a transactional_id: every record produced between begin and
   commit (produce and produce_batch alike, through one producer) becomes visible to
   read_committed consumers together, or not at all. Producing outside a transaction fails.

   On failure these return 0 with err filled and *kind (may be NULL) saying what to do next:
   FK_TXN_RETRIABLE (call it again: a timed-out call resumes where it stopped),
   FK_TXN_ABORTABLE (abort the transaction, then begin a new one), FK_TXN_FATAL (this
   producer can no longer be used: fenced by another producer with the same id, ...) or
   FK_TXN_ERROR (a wrong call: not configured, not in a transaction, ...). */
enum { FK_TXN_ERROR = 0, FK_TXN_RETRIABLE = 1, FK_TXN_ABORTABLE = 2, FK_TXN_FATAL = 3 };
const char *fk_txn_kind_name(int kind);   /* "error", "retriable", "abortable", "fatal" */
/* The first call also registers the producer with its transaction coordinator (fencing any
   older producer with the same id), bounded by timeout_ms. */
int fk_pool_begin_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind);
/* Adds the consumer group's positions (the offsets after every record it handed out) to the
   transaction: committed for the group when the transaction commits. c must not auto-commit. */
int fk_pool_send_offsets_to_transaction(fk_pool *p, fk_consumer *c, int timeout_ms, fk_error *err,
                                        int *kind);
/* Delivers what is buffered, then commits; timeout_ms < 0: the rest of the transaction's
   timeout (librdkafka's advice). */
int fk_pool_commit_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind);
/* Fails what is still buffered (each record's delivery reports _PURGE_QUEUE or
   _PURGE_INFLIGHT) and aborts. */
int fk_pool_abort_transaction(fk_pool *p, int timeout_ms, fk_error *err, int *kind);
int fk_pool_in_transaction(const fk_pool *p);

/* ------------------------------------------------------------------------------------ */
/* Read-only cluster requests on the pool's admin client (watermarks, topics, groups)    */

struct fk_partitions;   /* below, with the consumer groups */
typedef enum fk_inspect_kind {
    FK_INSPECT_WATERMARKS = 0,   /* low and high offsets of one partition */
    FK_INSPECT_TOPICS,           /* every topic of the cluster, with its partitions */
    FK_INSPECT_GROUPS,           /* every consumer group, with state and member count */
    FK_INSPECT_DESCRIBE_TOPICS,  /* named topics: partitions and configs */
    FK_INSPECT_DESCRIBE_GROUPS,  /* named groups: state, protocol, coordinator, members */
    FK_INSPECT_GROUP_LAG,        /* one group's committed offsets against the watermarks */
    FK_INSPECT_OFFSETS_FOR_TIMES /* offsets of one topic's partitions by time */
} fk_inspect_kind;
/* One request as a job (FK_JOB_INSPECT), bounded by the pool's connect timeout. NULL with err
   when it cannot start (a closed pool, ...). None joins a group or commits anything.
   fk_inspect_start: watermarks (topic, partition), topics, groups. */
fk_job *fk_inspect_start(fk_pool *p, fk_inspect_kind kind, const char *topic, int32_t partition,
                         fk_error *err);
/* describe topics, describe groups, group lag (exactly one name): of these names. */
fk_job *fk_inspect_names_start(fk_pool *p, fk_inspect_kind kind, const char *const *names, size_t n,
                               fk_error *err);
/* offsets for times: the offset of each item of times is a time (ms since the epoch); the
   items are moved out of *times (left empty). */
fk_job *fk_inspect_times_start(fk_pool *p, const char *topic, struct fk_partitions *times, fk_error *err);
fk_inspect_kind fk_inspect_kind_of(const fk_job *j);
/* The answers: */
void fk_inspect_watermarks(const fk_job *j, int64_t *low, int64_t *high);
/* Topics (list: sorted by name; describe: in the order asked). */
size_t fk_inspect_topic_count(const fk_job *j);
/* Topic i: its name, partition count and error code (0: none). */
const char *fk_inspect_topic(const fk_job *j, size_t i, size_t *partitions, int *rd_err);
/* Partition k of topic i: id, leader broker id, replica and in-sync replica broker ids. */
int  fk_inspect_partition(const fk_job *j, size_t i, size_t k, int32_t *id, int32_t *leader,
                          const int32_t **replicas, size_t *replica_count,
                          const int32_t **isrs, size_t *isr_count);
/* The configs of described topic i, as the broker reports them (value NULL: sensitive). */
typedef struct fk_config_entry {
    const char *name, *value;
    const char *source;   /* librdkafka's name: "DYNAMIC_TOPIC_CONFIG", "DEFAULT_CONFIG", ... */
    int is_default, is_sensitive, is_read_only;
} fk_config_entry;
size_t fk_inspect_config_count(const fk_job *j, size_t i);
int    fk_inspect_config(const fk_job *j, size_t i, size_t k, fk_config_entry *out);
/* Groups (list: sorted by name; describe: in the order asked). */
size_t fk_inspect_group_count(const fk_job *j);
int  fk_inspect_group(const fk_job *j, size_t i, const char **name, const char **state,
                      const char **protocol_type, size_t *members);
typedef struct fk_group_info {
    const char *name, *state;
    const char *protocol_type;   /* "consumer", or "" for a group that only commits offsets */
    const char *protocol;        /* the assignor chosen ("range", "cooperative-sticky", ...) */
    const char *type;            /* "classic", "consumer" (KIP-848) or NULL: unknown (librdkafka < 2.10) */
    int32_t     coordinator_id;  /* -1: unknown */
    const char *coordinator_host;
    int         coordinator_port;
    size_t      member_count;
} fk_group_info;
typedef struct fk_member_info {
    const char *id, *client_id, *host;
    const char *instance_id;     /* group.instance.id, NULL: none */
    size_t      partition_count; /* its assignment */
} fk_member_info;
int fk_inspect_group_info(const fk_job *j, size_t i, fk_group_info *out);
int fk_inspect_member(const fk_job *j, size_t i, size_t m, fk_member_info *out);
int fk_inspect_member_partition(const fk_job *j, size_t i, size_t m, size_t k, const char **topic,
                                int32_t *partition);
/* group lag (offset: committed, -1001 none; low and high: watermarks) and offsets for times
   (offset: the first record at or after the time, -1 none): moved into *out (empty before);
   0 when the job has none. */
int fk_inspect_take_partitions(fk_job *j, struct fk_partitions *out);

/* ------------------------------------------------------------------------------------ */
/* Consumer groups                                                                      */

typedef struct fk_fetches  fk_fetches;

/* A new client in the named group of the pool, subscribed to the group's topics. Checks
   the connection (one metadata request, bounded by the pool's connect timeout). With async
   flush registered on the pool, FK_ASYNC_SQL_CONSUMER_GROUP_NAME is a known group too. */
fk_consumer *fk_consumer_new(fk_pool *p, const char *group_name, fk_error *err);
/* The same for a group specification that need not be registered (copied). */
fk_consumer *fk_consumer_open(fk_pool *p, const fk_group_spec *g, fk_error *err);
/* Both as jobs (FK_JOB_CONSUMER_OPEN): the client is made here, the connection check and the
   subscription run on the job's thread. never_blocks: the caller will poll the group without
   ever blocking (an event loop): with a start timestamp, the start offsets of newly assigned
   partitions are then looked up on a thread too, and the first fk_consumer_poll after the
   answer makes the assignment. */
fk_job *fk_consumer_new_start(fk_pool *p, const char *group_name, int never_blocks, fk_error *err);
fk_job *fk_consumer_open_start(fk_pool *p, const fk_group_spec *g, int never_blocks, fk_error *err);
/* The answer: the consumer, the caller's from now on (NULL when there is none). */
fk_consumer *fk_job_take_consumer(fk_job *j);
const fk_group_spec *fk_consumer_spec(const fk_consumer *c);
void *fk_consumer_rd_kafka(fk_consumer *c);   /* rd_kafka_t*, NULL once closed */

/* Returns the records available now, or waits up to timeout_ms for the first one, then
   takes whatever else is ready without waiting (at most max_records). NULL on failure, and
   when there is no record to hand out and the group itself failed (a refused membership
   until the member joins, other group errors once, a fatal error for good); errors about a
   partition are in the fetches. Revocations seen meanwhile take effect at the next poll (at
   the end of this one when it hands out nothing) unless the application defers them. */
fk_fetches *fk_consumer_poll(fk_consumer *c, int timeout_ms, size_t max_records,
                             fk_error *err);
/* Commits the offsets of every record handed out by fk_consumer_poll (synchronous). */
int  fk_consumer_commit(fk_consumer *c, fk_error *err);
/* A commit as a job (FK_JOB_COMMIT): list NULL commits what poll handed out, as
   fk_consumer_commit; else exactly those n offsets, as fk_consumer_commit_offsets (refused
   at start for a partition not assigned to this member). Its answer comes from librdkafka;
   closing the group first fails it (_STATE), and so does timeout_ms passing without it
   (_TIMED_OUT; < 0: the pool's connect timeout). The job keeps c's memory until it is freed. */
typedef struct fk_partition_offset fk_partition_offset;
fk_job *fk_consumer_commit_start(fk_consumer *c, const fk_partition_offset *list, size_t n,
                                 int timeout_ms, fk_error *err);
/* A partition's position: the offset of the next record to read. */
struct fk_partition_offset {
    const char *topic;
    int32_t     partition;
    int64_t     offset;
};
/* Commits exactly these offsets (synchronous), whatever poll handed out; refused (_STATE,
   _ASSIGNMENT_LOST) for a partition this member does not own. */
int  fk_consumer_commit_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n,
                                fk_error *err);
/* Moves the fetch positions of assigned partitions back (or forward) to these offsets:
   the next polls deliver from there. */
int  fk_consumer_seek_offsets(fk_consumer *c, const fk_partition_offset *list, size_t n, int timeout_ms,
                      fk_error *err);
/* Moves every assigned partition back to its committed offset (those without one to where
   the group starts: start_offset), dropping what was fetched beyond it: after an aborted
   transaction, the records it covered are read again. */
int  fk_consumer_rewind(fk_consumer *c, fk_error *err);
/* Leaves the group and destroys the client. Fetches still alive become empty. */
void fk_consumer_close(fk_consumer *c);
/* The same as a job (FK_JOB_CONSUMER_CLOSE): fk_consumer_is_closed says 1 at once, and
   leaving the group runs on a thread of its own (a close already under way is waited for the
   same way; on a closed group the job is ready at once). Until the job is ready call nothing
   else on c but fk_consumer_is_closed, fk_consumer_close and fk_consumer_free (both wait for
   the close); the job keeps c's memory until the job is freed. */
fk_job *fk_consumer_close_start(fk_consumer *c, fk_error *err);
int  fk_consumer_is_closed(const fk_consumer *c);
void fk_consumer_free(fk_consumer *c);          /* closes first when needed */

/* Partitions of a consumer group, for its control calls. */
typedef struct fk_partition {
    char   *topic;
    int32_t partition;
    int64_t offset;      /* committed: the committed offset (-1001: none) */
    int64_t low, high;   /* lag: the partition's watermarks */
    int     rd_err;      /* per-partition error (0: none) */
} fk_partition;
typedef struct fk_partitions {
    fk_partition *items;
    size_t        count, cap;
} fk_partitions;
int  fk_partitions_add(fk_partitions *l, const char *topic, int32_t partition, int64_t offset);
void fk_partitions_clear(fk_partitions *l);

/* The partitions assigned to this member now. */
int fk_consumer_assignment(fk_consumer *c, fk_partitions *out, fk_error *err);
/* The next record handed out from an assigned partition is the one at `offset`. */
int fk_consumer_seek(fk_consumer *c, const char *topic, int32_t partition, int64_t offset,
                     fk_error *err);
/* Stops (pause != 0) or restarts fetching from the partitions. */
int fk_consumer_pause(fk_consumer *c, const fk_partitions *parts, int pause, fk_error *err);
/* Fills the offset of each partition with the group's committed offset (broker round trip,
   bounded by the pool's connect timeout). */
int fk_consumer_committed(fk_consumer *c, fk_partitions *parts, fk_error *err);
/* The current assignment with committed offsets and watermarks (the lag of a partition is
   high - offset, or high - low when nothing is committed). */
int fk_consumer_lag(fk_consumer *c, fk_partitions *out, fk_error *err);

/* committed, lag, seek and seek-to-committed as a job (FK_JOB_CONSUMER_REQUEST). start takes
   the partitions (committed: those to ask for; seek: the one partition and its offset; moved
   out of *parts, which is left empty). */
typedef enum fk_request_kind {
    FK_REQUEST_COMMITTED, FK_REQUEST_LAG, FK_REQUEST_SEEK, FK_REQUEST_REWIND
} fk_request_kind;
fk_job *fk_consumer_request_start(fk_consumer *c, fk_request_kind kind, fk_partitions *parts,
                                  fk_error *err);
/* The answer of committed (offsets filled) and lag (watermarks filled): moved into *out
   (empty before); 0 when the job has none. */
int  fk_job_take_partitions(fk_job *j, fk_partitions *out);

char *fk_consumer_take_stats(fk_consumer *c);   /* as fk_pool_take_stats */

/* Rebalance events. By default assignments and revocations take effect inside
   fk_consumer_poll. With record != 0 they are also queued for fk_consumer_rebalance_next;
   with defer_revoke != 0 a revocation takes effect only at fk_consumer_rebalance_done, so
   that the application can commit first (it must call done within the rebalance timeout). */
void fk_consumer_rebalance_events(fk_consumer *c, int record, int defer_revoke);
/* Pops the oldest event: 1 with *assign (1 assign, 0 revoke) and the partitions (owned by
   the caller: clear them), 0 when none is queued. */
int  fk_consumer_rebalance_next(fk_consumer *c, int *assign, fk_partitions *parts);
/* Performs the revocations deferred so far. */
void fk_consumer_rebalance_done(fk_consumer *c);

typedef struct fk_record_view {
    const char *topic;
    const void *key;   size_t key_len;    /* key NULL: no key */
    const void *value; size_t value_len;  /* value NULL: null value */
    int32_t     partition;
    int64_t     offset;
    int64_t     timestamp_ms;             /* -1 when unknown */
    size_t      header_count;
} fk_record_view;

size_t fk_fetches_count(const fk_fetches *f);
/* 1 once the consumer group was closed: the records were given back to librdkafka. */
int    fk_fetches_released(const fk_fetches *f);
/* The rd_kafka_message_t pointers themselves (fk_fetches_count of them), for bindings that
   read them directly (LuaJIT's FFI), and the flag that turns 1 when they are released. */
void  *const *fk_fetches_messages(const fk_fetches *f, const int **released_flag);
int    fk_fetches_record(const fk_fetches *f, size_t i, fk_record_view *out);
/* 1 when a message of fk_fetches_messages certainly has no headers, known from its record
   bytes without the allocation rd_kafka_message_headers makes per call; 0: ask
   rd_kafka_message_headers. */
int    fk_message_has_no_headers(const void *message);
/* Header h of record i: key (*key_len bytes) and value (NULL: null value). */
int    fk_fetches_header(const fk_fetches *f, size_t i, size_t h, const char **key, size_t *key_len,
                         const void **value, size_t *value_len);
/* The length of a header key as rd_kafka_header_get_all hands it out (a C string, although
   a key may hold NUL bytes); value and value_len are what the same call gave. */
size_t fk_header_key_len(const char *key, const void *value, size_t value_len);
size_t fk_fetches_error_count(const fk_fetches *f);
int    fk_fetches_error(const fk_fetches *f, size_t i, const char **topic, int32_t *partition,
                        const char **msg, const char **code);
void   fk_fetches_free(fk_fetches *f);

/* ------------------------------------------------------------------------------------ */
/* Reading one partition without a consumer group                                       */

typedef enum fk_read_start_t {
    FK_READ_OFFSET = 0,   /* start_value: the offset (low watermark to high watermark) */
    FK_READ_BEGINNING,    /* the oldest record still stored */
    FK_READ_END,          /* the records written from now on */
    FK_READ_FROM_END,     /* start_value records before the end (from the beginning when fewer) */
    FK_READ_TIMESTAMP     /* start_value: the first record written at or after that time (ms
                             since the epoch); the end when there is none */
} fk_read_start_t;
/* Reads up to `count` records of one partition from the start given, as a job (FK_JOB_READ)
   with a client of its own that joins no group and commits nothing. It ends at `count`
   records, at the partition's end once it has records (with none yet, it waits for the first),
   or after timeout_ms of reading; the topic, the partition and the start are checked first
   (bounded by the pool's connect timeout): an offset out of range, a topic or partition that
   does not exist fail naming it. Closing the pool waits for reads under way. */
fk_job *fk_read_start(fk_pool *p, const char *topic, int32_t partition, fk_read_start_t start,
                      int64_t start_value, size_t count, int timeout_ms, fk_error *err);
/* The answer: the records read, in offset order, as fk_fetches_record and fk_fetches_header
   give them. */
size_t fk_read_count(const fk_job *j);
int    fk_read_record(const fk_job *j, size_t i, fk_record_view *out);
int    fk_read_header(const fk_job *j, size_t i, size_t h, const char **key, size_t *key_len,
                      const void **value, size_t *value_len);

/* ------------------------------------------------------------------------------------ */
/* Schema management: alters between the registered topics/groups and the live broker    */

typedef enum fk_alter_kind {
    FK_ALTER_CREATE_TOPIC = 0,
    FK_ALTER_ADD_PARTITIONS,
    FK_ALTER_PARTITIONS_WARNING,     /* fewer partitions declared than exist: no operation */
    FK_ALTER_REPLICATION_WARNING,    /* replication factor differs: no operation */
    FK_ALTER_TOPIC_CONFIG,
    FK_ALTER_DELETE_TOPIC,
    FK_ALTER_DELETE_GROUP
} fk_alter_kind;

typedef struct fk_alter {
    fk_alter_kind kind;
    char         *pool;
    char         *name;          /* the topic, or the consumer group */
    char         *description;
    int32_t       partitions;    /* create: declared (-1 = broker default); add: new total */
    int16_t       replication_factor;  /* create: declared (-1 = broker default) */
    fk_kvlist     configs;       /* create: declared configs; config alter: key -> new value */
    fk_kvlist     old_values;    /* config alter: key -> value on the broker before */
    char         *refusal;       /* create / config alter: the broker's answer to a validate-only
                                    request of it, when it refused (NULL: accepted) */
    char         *refusal_code;  /* its Kafka error name, e.g. "INVALID_CONFIG" */
} fk_alter;

typedef struct fk_alter_list {
    fk_alter *items;
    size_t    count, cap;
} fk_alter_list;

const char *fk_alter_kind_name(fk_alter_kind k);   /* "create_topic", "delete_group", ... */
int  fk_alter_is_warning(const fk_alter *a);
int  fk_alter_copy(fk_alter *dst, const fk_alter *src);
void fk_alter_clear(fk_alter *a);
void fk_alter_list_clear(fk_alter_list *l);

/* Reads the live state of every pool's cluster (per pool: one metadata request, one batched
   DescribeConfigs, one ListConsumerGroups) and appends the alters needed, pool by pool in
   registration order, deletions last within a pool. Topics to create and config changes are
   checked by the broker (CreateTopics / AlterConfigs with validate_only, one request each per
   pool when there are any): a refusal is kept in the alter's refusal fields. */
int fk_get_alters(fk_engine *e, fk_alter_list *out, fk_error *err);
/* Performs one alter and waits until the broker shows its effect (a new topic in metadata,
   a deleted one gone, ...). Warnings do nothing and succeed. */
int fk_alter_exec(fk_engine *e, const fk_alter *a, fk_error *err);

/* The same two calls as jobs (FK_JOB_GET_ALTERS, FK_JOB_ALTER_EXEC). NULL with err when the
   call cannot start (a closed pool, an alter of an unknown pool); an exec of a warning is
   answered at once. */
fk_job *fk_get_alters_start(fk_engine *e, fk_error *err);
fk_job *fk_alter_exec_start(fk_engine *e, const fk_alter *a, fk_error *err);
/* The answer of get_alters: the alters moved into *out (empty before); 0 when it has none. */
int  fk_job_take_alters(fk_job *j, fk_alter_list *out);

#ifdef __cplusplus
}
#endif
#endif
