/* The one description of every option (see fk_options.h), and what walks it without knowing
   where a value comes from: names and suggestions, defaults, copies, the properties set on
   clients and docs/API.md's table. The readers are fk_config.c (documents) and the binding. */
#include "fk_internal.h"
#include "fk_options.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* offsetof that refuses to compile when the member is not of the size of type t */
#define AT(st, m, t) (offsetof(st, m) + 0 * sizeof(char[sizeof(((st *)0)->m) == sizeof(t) ? 1 : -1]))
#define F_INT(st, m)     .type = FK_FIELD_INT, .offset = AT(st, m, int)
#define F_INT16(st, m)   .type = FK_FIELD_INT16, .offset = AT(st, m, int16_t)
#define F_DOUBLE(st, m)  .type = FK_FIELD_DOUBLE, .offset = AT(st, m, double)
#define F_STRING(st, m)  .type = FK_FIELD_STRING, .offset = AT(st, m, char *)
#define F_STRINGS(st, m) .type = FK_FIELD_STRINGS, .offset = AT(st, m, fk_strlist)
#define F_KV(st, m)      .type = FK_FIELD_KV, .offset = AT(st, m, fk_kvlist)

#define INT_MAX_ 2147483647LL
#define PO fk_pool_options
#define GS fk_group_spec
#define TS fk_topic_spec

/* ---------------------------------------------------------------- choices ---- */

#define COMPRESSIONS "none", "gzip", "snappy", "lz4", "zstd"
static const char *const compressions[] = { COMPRESSIONS, NULL };
/* a topic's compression.type: a codec, or keep whatever the producer sent */
static const char *const topic_compressions[] = { COMPRESSIONS, "uncompressed", "producer", NULL };
static const char *const partitioners[] = {
    "random", "consistent", "consistent_random", "murmur2", "murmur2_random", "fnv1a", "fnv1a_random", NULL
};
/* in fk_sasl_mechanism order (stored as index + 1: 0 is FK_SASL_NONE) */
static const char *const sasl_mechanisms[] = { "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL };
/* in fk_group_protocol order (stored as index + 1: 0 is unset) */
static const char *const group_protocols[] = { "classic", "consumer", NULL };
static const char *const cleanup_policies[] = { "delete", "compact", "delete,compact", "compact,delete", NULL };

/* ---------------------------------------------------------------- the rows ---- */

static const fk_option sasl_rows[] = {
    { .lua = "mechanism", .yaml = "saslMechanism", .kind = FK_OPT_ENUM, F_INT(PO, sasl_mechanism),
      .choices = sasl_mechanisms, .noun = "SASL mechanism", .flags = FK_OPT_REQUIRED, .rdkafka = "sasl.mechanisms" },
    { .lua = "user", .yaml = "saslUser", .kind = FK_OPT_STRING, F_STRING(PO, sasl_user),
      .rdkafka = "sasl.username" },
    { .lua = "password", .yaml = "saslPassword", .kind = FK_OPT_STRING, F_STRING(PO, sasl_password),
      .flags = FK_OPT_SECRET, .rdkafka = "sasl.password" },
    { 0 }
};

static const fk_option tls_rows[] = {
    { .lua = "ca_file", .yaml = "caFile", .kind = FK_OPT_STRING, F_STRING(PO, tls.ca_file),
      .flags = FK_OPT_CLIENTS, .rdkafka = "ssl.ca.location" },
    { .lua = "cert_file", .yaml = "certFile", .kind = FK_OPT_STRING, F_STRING(PO, tls.cert_file),
      .flags = FK_OPT_CLIENTS, .rdkafka = "ssl.certificate.location" },
    { .lua = "key_file", .yaml = "keyFile", .kind = FK_OPT_STRING, F_STRING(PO, tls.key_file),
      .flags = FK_OPT_CLIENTS, .rdkafka = "ssl.key.location" },
    { .lua = "key_password", .yaml = "keyPassword", .kind = FK_OPT_STRING, F_STRING(PO, tls.key_password),
      .flags = FK_OPT_CLIENTS | FK_OPT_SECRET, .rdkafka = "ssl.key.password" },
    { .lua = "verify", .yaml = "verify", .kind = FK_OPT_BOOL, F_INT(PO, tls.verify), .init = 1,
      .rdkafka = "enable.ssl.certificate.verification" },
    { 0 }
};

const fk_option fk_pool_option_rows[] = {
    { .yaml = "code", .kind = FK_OPT_STRUCTURE },
    { .yaml = "brokers", .kind = FK_OPT_STRUCTURE, .flags = FK_OPT_REQUIRED },
    { .lua = "client_id", .yaml = "clientID", .kind = FK_OPT_STRING, F_STRING(PO, client_id),
      .flags = FK_OPT_CLIENTS, .rdkafka = "client.id", .default_doc = "librdkafka's",
      .doc = "the name the brokers see in their logs and quotas" },
    { .lua = "required_acks", .yaml = "requiredAcks", .kind = FK_OPT_INT, F_INT(PO, required_acks),
      .min = -1, .max = 1, .init = -1, .rdkafka = "acks",
      .doc = "the acknowledgements a record waits for: -1 all in-sync replicas, 0 none, 1 the leader's" },
    { .lua = "producer_linger", .yaml = "producerLingerMs", .kind = FK_OPT_MS, F_DOUBLE(PO, linger_ms),
      .max = FK_MAX_LINGER_MS, .init = FK_DEFAULT_LINGER_MS, .rdkafka = "linger.ms",
      .doc = "how long `produce` waits to batch records; `produce_sync` never waits for it" },
    { .lua = "nginx_batch_window", .yaml = "nginxBatchWindowMs", .kind = FK_OPT_MS, F_DOUBLE(PO, paced_window_ms),
      .max = FK_MAX_LINGER_MS, .init = FK_DEFAULT_NGINX_BATCH_WINDOW_MS,
      .doc = "inside OpenResty, a worker hands its records to librdkafka at most once per window: under load, "
             "fewer and larger produce requests for at most this much more waiting; a record after a quiet "
             "window goes at once; 0: each record at once" },
    { .lua = "max_buffered_records", .yaml = "maxBufferedRecords", .kind = FK_OPT_INT,
      F_INT(PO, max_buffered_records), .max = INT_MAX_, .flags = FK_OPT_PRODUCER,
      .rdkafka = "queue.buffering.max.messages", .default_doc = "librdkafka's (100000)",
      .doc = "the records a producer keeps waiting for delivery" },
    { .lua = "delivery_timeout", .yaml = "deliveryTimeoutMs", .kind = FK_OPT_MS, F_DOUBLE(PO, delivery_timeout_ms),
      .max = INT_MAX_, .if_zero = FK_DEFAULT_DELIVERY_TIMEOUT_MS, .rdkafka = "message.timeout.ms",
      .doc = "the one bound of a record: it fails (`_MSG_TIMED_OUT`) no sooner, however long the brokers are away, "
             "and at most about a second later; `produce_sync` returns by then" },
    { .lua = "connect_timeout", .yaml = "connectTimeoutMs", .kind = FK_OPT_MS, F_DOUBLE(PO, connect_timeout_ms),
      .max = INT_MAX_, .if_zero = FK_DEFAULT_CONNECT_TIMEOUT_MS,
      .doc = "within how long an unreachable broker list is reported (new consumer groups, admin calls, the "
             "records of a pool that never reached its brokers) and the default bound of "
             "`commit_uncommitted_offsets`" },
    { .lua = "sasl", .kind = FK_OPT_NESTED, .sub = sasl_rows, .flags = FK_OPT_FLAT, .default_doc = "none",
      .doc = "SASL authentication (over TLS when `tls` is on too)" },
    { .lua = "tls", .yaml = "tls", .kind = FK_OPT_NESTED, F_INT(PO, tls.enabled), .sub = tls_rows,
      .default_doc = "off",
      .doc = "TLS to the brokers; without `ca_file` the system's trust store verifies them" },
    { .yaml = "consumerGroups", .kind = FK_OPT_STRUCTURE },
    { .lua = "ignored_topics", .yaml = "ignoredTopics", .kind = FK_OPT_STRINGS, F_STRINGS(PO, ignored_topics),
      .doc = "topic names or `*` patterns never deleted by alters" },
    { .lua = "ignored_consumer_groups", .yaml = "ignoredConsumerGroups", .kind = FK_OPT_STRINGS,
      F_STRINGS(PO, ignored_consumer_groups), .doc = "group names or `*` patterns never deleted by alters" },
    { .lua = "queue_full_timeout", .kind = FK_OPT_MS, .max = 3600000, .init = 10000, .flags = FK_OPT_BINDING,
      .doc = "how long `produce`/`produce_sync` wait for room when the local queue is full, then fail "
             "with `_QUEUE_FULL`; 0 fails at once" },
    { .lua = "logger", .kind = FK_OPT_FUNCTION, .flags = FK_OPT_BINDING, .default_doc = "`fk.set_logger`'s",
      .doc = "`function(level, facility, message, pool)` receiving this pool's librdkafka log lines "
             "(see `fk.set_logger`)" },
    { .yaml = "topics", .kind = FK_OPT_STRUCTURE },
    { .lua = "partitioner", .yaml = "partitioner", .kind = FK_OPT_ENUM, F_STRING(PO, partitioner),
      .choices = partitioners, .noun = "partitioner", .if_unset = FK_DEFAULT_PARTITIONER, .flags = FK_OPT_PRODUCER,
      .rdkafka = "partitioner",
      .doc = "how the producers choose the partition of a record that names none; see "
             "`fk.DEFAULT_PARTITIONER`" },
    { .lua = "compression", .yaml = "compression", .kind = FK_OPT_ENUM, F_STRING(PO, compression),
      .choices = compressions, .flags = FK_OPT_PRODUCER, .rdkafka = "compression.type",
      .doc = "the producers' compression" },
    { .lua = "idempotent", .yaml = "idempotent", .kind = FK_OPT_BOOL, F_INT(PO, idempotent),
      .flags = FK_OPT_PRODUCER, .rdkafka = "enable.idempotence",
      .doc = "idempotent producers; needs `required_acks = -1`" },
    { .lua = "max_in_flight", .yaml = "maxInFlight", .kind = FK_OPT_INT, F_INT(PO, max_in_flight), .min = 1,
      .max = 1000000, .init = FK_DEFAULT_MAX_IN_FLIGHT, .flags = FK_OPT_PRODUCER,
      .rdkafka = "max.in.flight.requests.per.connection",
      .doc = "produce requests a producer keeps unacknowledged per broker; fewer make larger batches "
             "(at most 5 with `idempotent` or `transactional_id`; above 1 without them, a retried "
             "request can land after a later one)" },
    { .lua = "rdkafka", .yaml = "rdkafka", .kind = FK_OPT_KV, F_KV(PO, rdkafka), .noun = "librdkafka property names",
      .doc = "raw librdkafka properties, `{ [\"name\"] = value }` (numbers and booleans are converted to "
             "text); see below" },
    { .lua = "statistics_interval", .yaml = "statisticsIntervalMs", .kind = FK_OPT_MS,
      F_INT(PO, statistics_interval_ms), .max = 86400000, .flags = FK_OPT_PRODUCER,
      .rdkafka = "statistics.interval.ms", .zero = "no statistics",
      .doc = "how often the pool's producers report librdkafka's statistics (to `stats_callback`); 0: never" },
    { .lua = "stats_callback", .kind = FK_OPT_FUNCTION, .flags = FK_OPT_BINDING,
      .doc = "`function(stats)` receiving each statistics report decoded from librdkafka's JSON into a "
             "table; runs inside `pool:poll` (and so `produce_sync`), on the calling Lua thread" },
    { .lua = "transactional_id", .yaml = "transactionalID", .kind = FK_OPT_STRING,
      F_STRING(PO, transactional_id), .flags = FK_OPT_NOT_EMPTY | FK_OPT_PRODUCER, .rdkafka = "transactional.id",
      .doc = "makes the pool transactional (needs `required_acks = -1`; no two pools of a registry may "
             "share one): records are produced only between `pool:begin_transaction()` and "
             "`pool:commit_transaction()` / `pool:abort_transaction()`, `produce` and `produce_sync` "
             "alike through one producer" },
    { 0 }
};

const fk_option fk_group_option_rows[] = {
    { .yaml = "name", .kind = FK_OPT_STRING, F_STRING(GS, name), .flags = FK_OPT_REQUIRED },
    { .lua = "topics", .yaml = "topics", .kind = FK_OPT_STRINGS, F_STRINGS(GS, topics),
      .flags = FK_OPT_REQUIRED, .noun = "topic name" },
    { .lua = "session_timeout", .yaml = "sessionTimeoutMs", .kind = FK_OPT_MS, F_INT(GS, session_timeout_ms),
      .max = FK_MAX_SESSION_TIMEOUT_MS, .if_zero = FK_DEFAULT_SESSION_TIMEOUT_MS, .rdkafka = "session.timeout.ms" },
    { .lua = "rebalance_timeout", .yaml = "rebalanceTimeoutMs", .kind = FK_OPT_MS,
      F_INT(GS, rebalance_timeout_ms), .max = FK_MAX_REBALANCE_TIMEOUT_MS,
      .if_zero = FK_DEFAULT_REBALANCE_TIMEOUT_MS, .rdkafka = "max.poll.interval.ms" },
    { .lua = "fetch_max_bytes", .yaml = "fetchMaxBytes", .kind = FK_OPT_INT, F_INT(GS, fetch_max_bytes),
      .max = 2147483135LL, .if_zero = FK_DEFAULT_FETCH_MAX_BYTES, .rdkafka = "fetch.max.bytes" },
    { .lua = "auto_commit_interval", .yaml = "autoCommitIntervalMs", .kind = FK_OPT_MS,
      F_INT(GS, auto_commit_interval_ms), .max = FK_MAX_AUTO_COMMIT_INTERVAL_MS,
      .rdkafka = "auto.commit.interval.ms", .zero = "manual commits" },
    { .lua = "rdkafka", .yaml = "rdkafka", .kind = FK_OPT_KV, F_KV(GS, rdkafka), .noun = "librdkafka property names" },
    { .lua = "start_offset", .yaml = "startOffset", .kind = FK_OPT_START, .rdkafka = "auto.offset.reset" },
    { .lua = "statistics_interval", .yaml = "statisticsIntervalMs", .kind = FK_OPT_MS,
      F_INT(GS, statistics_interval_ms), .max = 86400000, .rdkafka = "statistics.interval.ms",
      .zero = "no statistics" },
    { .lua = "group_protocol", .yaml = "groupProtocol", .kind = FK_OPT_ENUM, F_INT(GS, group_protocol),
      .choices = group_protocols, .noun = "group protocol", .if_unset = "classic", .rdkafka = "group.protocol",
      .doc = "`consumer`: KIP-848's protocol, where the broker assigns partitions (Kafka 4.0 or later, "
             "librdkafka 2.12.0 or later; session_timeout and the assignors are then the broker's)" },
    { 0 }
};

/* The rows stored in `configs` are the builder's shortcuts for one topic config each. */
const fk_option fk_topic_option_rows[] = {
    { .yaml = "name", .kind = FK_OPT_STRING, F_STRING(TS, name), .flags = FK_OPT_REQUIRED | FK_OPT_TOPIC_NAME },
    { .lua = "partitions", .yaml = "partitions", .kind = FK_OPT_INT, F_INT(TS, partitions), .min = 1, .max = INT_MAX_ },
    { .lua = "replication_factor", .yaml = "replicationFactor", .kind = FK_OPT_INT,
      F_INT16(TS, replication_factor), .min = 1, .max = 32767 },
    { .yaml = "configs", .kind = FK_OPT_KV, F_KV(TS, configs), .noun = "config names" },
    { .lua = "retention_ms", .kind = FK_OPT_INT, F_KV(TS, configs), .rdkafka = "retention.ms",
      .min = -1, .max = 9200000000000000000LL },
    { .lua = "retention_bytes", .kind = FK_OPT_INT, F_KV(TS, configs), .rdkafka = "retention.bytes",
      .min = -1, .max = 9200000000000000000LL },
    { .lua = "max_message_bytes", .kind = FK_OPT_INT, F_KV(TS, configs), .rdkafka = "max.message.bytes",
      .max = INT_MAX_ },
    { .lua = "cleanup_policy", .kind = FK_OPT_ENUM, F_KV(TS, configs), .rdkafka = "cleanup.policy",
      .choices = cleanup_policies, .noun = "policy" },
    { .lua = "min_insync_replicas", .kind = FK_OPT_INT, F_KV(TS, configs), .rdkafka = "min.insync.replicas",
      .min = 1, .max = INT_MAX_ },
    { .lua = "compression_type", .kind = FK_OPT_ENUM, F_KV(TS, configs), .rdkafka = "compression.type",
      .choices = topic_compressions, .noun = "type" },
    { 0 }
};

/* ---------------------------------------------------------------- names ---- */

int fk_option_end(const fk_option *row)
{
    return !row->lua && !row->yaml && !row->sub;
}

const char *fk_option_name(const fk_option *row, fk_spelling s)
{
    if (row->flags & FK_OPT_BINDING) return NULL;
    return s == FK_NAME_LUA ? row->lua : row->yaml;
}

static int flat_in(const fk_option *row, fk_spelling s)
{
    return row->kind == FK_OPT_NESTED && (row->flags & FK_OPT_FLAT) && s == FK_NAME_YAML;
}

/* The other spelling of a row, for "did you mean". */
static const char *alias_of(const fk_option *row, fk_spelling s)
{
    if (s == FK_NAME_YAML) return row->lua;
    if (row->kind == FK_OPT_NESTED && (row->flags & FK_OPT_FLAT)) return row->sub[0].yaml;
    return row->yaml;
}

size_t fk_option_names(const fk_option *rows, fk_spelling s, const char **names, const char **aliases,
                       size_t cap)
{
    size_t n = 0;
    const fk_option *row, *sub;
    for (row = rows; !fk_option_end(row) && n + 1 < cap; row++) {
        if (flat_in(row, s)) {
            for (sub = row->sub; !fk_option_end(sub) && n + 1 < cap; sub++) {
                if (aliases) aliases[n] = row->lua;
                names[n++] = sub->yaml;
            }
            continue;
        }
        if (!fk_option_name(row, s)) continue;
        if (aliases) aliases[n] = alias_of(row, s);
        names[n++] = fk_option_name(row, s);
    }
    names[n] = NULL;
    if (aliases) aliases[n] = NULL;
    return n;
}

const fk_option *fk_option_find(const fk_option *rows, const char *name, fk_spelling s)
{
    const fk_option *row, *hit;
    for (row = rows; !fk_option_end(row); row++) {
        if (flat_in(row, s) && (hit = fk_option_find(row->sub, name, s))) return hit;
        if (fk_option_name(row, s) && strcmp(fk_option_name(row, s), name) == 0) return row;
    }
    return NULL;
}

#define MAX_NAMES 64

const char *fk_option_suggest(const fk_option *rows, const char *name, fk_spelling s)
{
    const char *names[MAX_NAMES], *aliases[MAX_NAMES];
    fk_option_names(rows, s, names, aliases, MAX_NAMES);
    return fk_suggest(name, names, aliases);
}

void fk_option_join(char *buf, size_t len, const char *const *items, size_t n, const char *sep,
                    const char *last_sep, const char *pre, const char *post)
{
    size_t i, used = 0;
    if (len) buf[0] = '\0';
    for (i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s%s%s", i == 0 ? "" : i + 1 == n ? last_sep : sep,
                         pre, items[i], post);
        if (w < 0) return;
        used += (size_t)w;
    }
}

void fk_option_join_names(char *buf, size_t len, const fk_option *rows, fk_spelling s, const char *sep,
                          const char *last_sep, const char *pre, const char *post)
{
    const char *names[MAX_NAMES];
    size_t n = fk_option_names(rows, s, names, NULL, MAX_NAMES);
    fk_option_join(buf, len, names, n, sep, last_sep, pre, post);
}

static size_t count_choices(const fk_option *row)
{
    size_t n = 0;
    while (row->choices && row->choices[n]) n++;
    return n;
}

void fk_option_choices_text(char *buf, size_t len, const fk_option *row, const char *last_sep)
{
    size_t i, n = count_choices(row);
    int quote = 0;
    for (i = 0; i < n; i++) quote |= strchr(row->choices[i], ',') != NULL;
    fk_option_join(buf, len, row->choices, n, ", ", last_sep, quote ? "\"" : "", quote ? "\"" : "");
}

int fk_option_choice(const fk_option *row, const char *name)
{
    size_t i, n = count_choices(row);
    for (i = 0; name && i < n; i++)
        if (strcmp(row->choices[i], name) == 0) return (int)i;
    return -1;
}

/* ---------------------------------------------------------------- values ---- */

void *fk_option_field(const fk_option *row, void *base)
{
    return (char *)base + row->offset;
}

static const void *field_of(const fk_option *row, const void *base)
{
    return (const char *)base + row->offset;
}

/* A config shortcut: one entry of a kv field rather than the field itself. */
static int is_entry(const fk_option *row)
{
    return row->type == FK_FIELD_KV && row->kind != FK_OPT_KV;
}

double fk_option_number(const fk_option *row, const void *base)
{
    const void *f = field_of(row, base);
    switch (row->type) {
    case FK_FIELD_INT: return *(const int *)f;
    case FK_FIELD_INT16: return *(const int16_t *)f;
    case FK_FIELD_DOUBLE: return *(const double *)f;
    default: return 0;
    }
}

double fk_option_effective(const fk_option *row, const void *base)
{
    double v = fk_option_number(row, base);
    return v == 0 ? row->if_zero : v;
}

const char *fk_option_text(const fk_option *row, const void *base)
{
    const void *f = field_of(row, base);
    int v;
    switch (row->type) {
    case FK_FIELD_STRING: return *(char *const *)f;
    case FK_FIELD_KV: return is_entry(row) ? fk_kvlist_get(f, row->rdkafka) : NULL;
    case FK_FIELD_INT:
        v = *(const int *)f;
        return row->choices && v > 0 && (size_t)v <= count_choices(row) ? row->choices[v - 1] : NULL;
    default: return NULL;
    }
}

int fk_option_is_set(const fk_option *row, const void *base)
{
    const fk_option *sub;
    const void *f = field_of(row, base);
    if (row->kind == FK_OPT_NESTED && row->type == FK_FIELD_NONE) {
        /* a section without a switch is on when its key is given */
        for (sub = row->sub; !fk_option_end(sub); sub++)
            if (sub->flags & FK_OPT_REQUIRED) return fk_option_is_set(sub, base);
        return 0;
    }
    switch (row->type) {
    case FK_FIELD_STRING: return *(char *const *)f != NULL;
    case FK_FIELD_STRINGS: return ((const fk_strlist *)f)->count > 0;
    case FK_FIELD_KV: return is_entry(row) ? fk_option_text(row, base) != NULL : ((const fk_kvlist *)f)->count > 0;
    default: return fk_option_number(row, base) != 0;
    }
}

int fk_option_set_number(const fk_option *row, void *base, double value)
{
    void *f = fk_option_field(row, base);
    char text[32];
    switch (row->type) {
    case FK_FIELD_INT: *(int *)f = (int)value; return 1;
    case FK_FIELD_INT16: *(int16_t *)f = (int16_t)value; return 1;
    case FK_FIELD_DOUBLE: *(double *)f = value; return 1;
    case FK_FIELD_KV:
        snprintf(text, sizeof text, "%.0f", value);
        return fk_kvlist_set(f, row->rdkafka, text);
    default: return 1;
    }
}

int fk_option_set_text(const fk_option *row, void *base, const char *value)
{
    void *f = fk_option_field(row, base);
    switch (row->type) {
    case FK_FIELD_STRING: return fk_set_string(f, value);
    case FK_FIELD_KV: return fk_kvlist_set(f, row->rdkafka, value);
    case FK_FIELD_INT: *(int *)f = fk_option_choice(row, value) + 1; return 1;
    default: return 1;
    }
}

/* ---------------------------------------------------------------- whole structs ---- */

static int owns(const fk_option *row)
{
    return row->type == FK_FIELD_STRING || row->type == FK_FIELD_STRINGS ||
           (row->type == FK_FIELD_KV && !is_entry(row));
}

static void set_defaults(const fk_option *rows, void *base)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        if (row->sub) set_defaults(row->sub, base);
        if (row->init != 0) fk_option_set_number(row, base, row->init);
    }
}

void fk_options_init(const fk_option *rows, void *base, size_t size)
{
    memset(base, 0, size);
    set_defaults(rows, base);
}

/* After a shallow copy: forget the owned pointers, which are the source's. */
static void detach(const fk_option *rows, void *base)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        if (row->sub) detach(row->sub, base);
        if (!owns(row)) continue;
        if (row->type == FK_FIELD_STRING) *(char **)fk_option_field(row, base) = NULL;
        else if (row->type == FK_FIELD_STRINGS) memset(fk_option_field(row, base), 0, sizeof(fk_strlist));
        else memset(fk_option_field(row, base), 0, sizeof(fk_kvlist));
    }
}

static int duplicate(const fk_option *rows, void *dst, const void *src)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        void *d = fk_option_field(row, dst);
        const void *s = field_of(row, src);
        if (row->sub && !duplicate(row->sub, dst, src)) return 0;
        if (!owns(row)) continue;
        if (row->type == FK_FIELD_STRING ? !fk_set_string(d, *(char *const *)s)
            : row->type == FK_FIELD_STRINGS ? !fk_strlist_copy(d, s) : !fk_kvlist_copy(d, s))
            return 0;
    }
    return 1;
}

int fk_options_copy(const fk_option *rows, void *dst, const void *src, size_t size)
{
    memcpy(dst, src, size);
    detach(rows, dst);
    if (duplicate(rows, dst, src)) return 1;
    fk_options_clear(rows, dst);
    return 0;
}

void fk_options_clear(const fk_option *rows, void *base)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        void *f = fk_option_field(row, base);
        if (row->sub) fk_options_clear(row->sub, base);
        if (!owns(row)) continue;
        if (row->type == FK_FIELD_STRINGS) fk_strlist_clear(f);
        else if (row->type == FK_FIELD_KV) fk_kvlist_clear(f);
        else if (row->flags & FK_OPT_SECRET) fk_free_secret(*(char **)f);
        else free(*(char **)f);
        if (row->type == FK_FIELD_STRING) *(char **)f = NULL;
    }
}

int fk_options_apply(struct rd_kafka_conf_s *conf, const fk_option *rows, const void *base, int flag,
                     fk_error *err)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        const char *text;
        if (row->kind == FK_OPT_NESTED) {
            if (fk_option_is_set(row, base) && !fk_options_apply(conf, row->sub, base, flag, err)) return 0;
            continue;
        }
        if (!(row->flags & flag)) continue;
        if (row->type == FK_FIELD_STRING || row->choices) {
            text = fk_option_text(row, base) ? fk_option_text(row, base) : row->if_unset;
            if (text && !fk_conf_set(conf, row->rdkafka, text, err)) return 0;
        } else if (fk_option_number(row, base) != 0) {
            if (row->kind == FK_OPT_BOOL ? !fk_conf_set(conf, row->rdkafka, "true", err)
                : !fk_conf_set_int(conf, row->rdkafka, (long long)fk_option_number(row, base), err))
                return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- the structs ---- */

void fk_pool_options_init(fk_pool_options *o)
{
    fk_options_init(fk_pool_option_rows, o, sizeof *o);
}

int fk_pool_options_copy(fk_pool_options *dst, const fk_pool_options *src)
{
    return fk_options_copy(fk_pool_option_rows, dst, src, sizeof *dst);
}

void fk_pool_options_clear(fk_pool_options *o)
{
    fk_options_clear(fk_pool_option_rows, o);
    fk_pool_options_init(o);
}

/* Group and topic specifications also hold their pool's code, which is not an option. */
static void spec_clear(const fk_option *rows, void *spec, size_t size, char **pool)
{
    fk_options_clear(rows, spec);
    free(*pool);
    fk_options_init(rows, spec, size);
}

static int spec_copy(const fk_option *rows, void *dst, const void *src, size_t size, char **dst_pool,
                     const char *src_pool)
{
    if (!fk_options_copy(rows, dst, src, size)) {
        fk_options_init(rows, dst, size);
        return 0;
    }
    *dst_pool = NULL;
    if (fk_set_string(dst_pool, src_pool)) return 1;
    spec_clear(rows, dst, size, dst_pool);
    return 0;
}

void fk_group_spec_init(fk_group_spec *g) { fk_options_init(fk_group_option_rows, g, sizeof *g); }
void fk_group_spec_clear(fk_group_spec *g) { spec_clear(fk_group_option_rows, g, sizeof *g, &g->pool); }
int  fk_group_spec_copy(fk_group_spec *dst, const fk_group_spec *src)
{
    return spec_copy(fk_group_option_rows, dst, src, sizeof *dst, &dst->pool, src->pool);
}

void fk_topic_spec_init(fk_topic_spec *t) { fk_options_init(fk_topic_option_rows, t, sizeof *t); }
void fk_topic_spec_clear(fk_topic_spec *t) { spec_clear(fk_topic_option_rows, t, sizeof *t, &t->pool); }
int  fk_topic_spec_copy(fk_topic_spec *dst, const fk_topic_spec *src)
{
    return spec_copy(fk_topic_option_rows, dst, src, sizeof *dst, &dst->pool, src->pool);
}

int fk_partitioner_valid(const char *name)
{
    return fk_option_choice(fk_option_find(fk_pool_option_rows, "partitioner", FK_NAME_LUA), name) >= 0;
}

int fk_sasl_mechanism_parse(const char *name)
{
    int i = fk_option_choice(&sasl_rows[0], name);
    return i < 0 ? -1 : i + 1;
}

const char *fk_sasl_mechanism_name(fk_sasl_mechanism m)
{
    return (int)m <= 0 || m > FK_SASL_SCRAM_SHA_512 ? "" : sasl_mechanisms[m - 1];
}

/* ---------------------------------------------------------------- docs/API.md ---- */

typedef struct doc_text { char *s; size_t len, cap; int oom; } doc_text;

static void put(doc_text *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(doc_text *d, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (d->oom || n < 0) { d->oom = 1; return; }
    if (d->len + (size_t)n + 1 > d->cap) {
        size_t cap = (d->len + (size_t)n + 1) * 2;
        char *s = realloc(d->s, cap);
        if (!s) { d->oom = 1; return; }
        d->s = s;
        d->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(d->s + d->len, d->cap - d->len, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
}

static void put_range(doc_text *d, const fk_option *row, const char *unit, double scale)
{
    put(d, "%s, %.10g to %.10g", unit, (double)row->min / scale, (double)row->max / scale);
}

static void put_choices(doc_text *d, const fk_option *row, const char *sep, const char *last)
{
    size_t i, n = count_choices(row);
    for (i = 0; i < n; i++) put(d, "%s\"%s\"", i == 0 ? "" : i + 1 == n ? last : sep, row->choices[i]);
}

static void put_value(doc_text *d, const fk_option *row)
{
    const fk_option *sub;
    switch (row->kind) {
    case FK_OPT_STRING: put(d, "%sstring", row->flags & FK_OPT_NOT_EMPTY ? "non-empty " : ""); break;
    case FK_OPT_INT: put_range(d, row, "integer", 1); break;
    case FK_OPT_MS: put_range(d, row, "seconds", 1000); break;
    case FK_OPT_BOOL: put(d, "boolean"); break;
    case FK_OPT_ENUM: put(d, "`"); put_choices(d, row, "`, `", "` or `"); put(d, "`"); break;
    case FK_OPT_STRINGS: put(d, "array of strings"); break;
    case FK_OPT_KV: put(d, "table of names to values"); break;
    case FK_OPT_FUNCTION: put(d, "function"); break;
    case FK_OPT_NESTED:
        put(d, "%s`{ ", row->type == FK_FIELD_INT ? "`true` or " : "");
        for (sub = row->sub; !fk_option_end(sub); sub++) {
            put(d, "%s%s =", sub == row->sub ? "" : ", ", sub->lua);
            if (sub->choices) { put(d, " "); put_choices(d, sub, " \\| ", " \\| "); }
            if (sub->kind == FK_OPT_BOOL) put(d, " %s", sub->init ? "true" : "false");
        }
        put(d, " }`");
        break;
    default: break;
    }
}

static void put_default(doc_text *d, const fk_option *row)
{
    double v = row->init ? row->init : row->if_zero;
    if (row->default_doc) put(d, "%s", row->default_doc);
    else if (row->kind == FK_OPT_MS) put(d, "%g", v / 1000);
    else if (row->kind == FK_OPT_INT) put(d, "%g", v);
    else if (row->kind == FK_OPT_BOOL) put(d, "%s", v ? "true" : "false");
    else if (row->if_unset) put(d, "`\"%s\"`", row->if_unset);
    else put(d, "none");
}

static void put_yaml(doc_text *d, const fk_option *row)
{
    const fk_option *sub;
    if (row->kind == FK_OPT_NESTED && (row->flags & FK_OPT_FLAT)) {
        for (sub = row->sub; !fk_option_end(sub); sub++) put(d, "%s`%s`", sub == row->sub ? "" : ", ", sub->yaml);
    } else if (row->yaml && row->kind == FK_OPT_NESTED) {
        put(d, "`%s`: ", row->yaml);
        for (sub = row->sub; !fk_option_end(sub); sub++) put(d, "%s`%s`", sub == row->sub ? "" : ", ", sub->yaml);
    } else if (row->yaml) {
        put(d, "`%s`", row->yaml);
    } else {
        put(d, "-");
    }
}

char *fk_options_doc(const fk_option *rows)
{
    doc_text d = { 0 };
    const fk_option *row;
    put(&d, "| option | YAML | value | default | meaning |\n|---|---|---|---|---|\n");
    for (row = rows; !fk_option_end(row); row++) {
        if (!row->lua) continue;
        put(&d, "| `%s` | ", row->lua);
        put_yaml(&d, row);
        put(&d, " | ");
        put_value(&d, row);
        put(&d, " | ");
        put_default(&d, row);
        put(&d, " | %s%s%s%s |\n", row->doc ? row->doc : "", row->rdkafka ? " (librdkafka `" : "",
            row->rdkafka ? row->rdkafka : "", row->rdkafka ? "`)" : "");
    }
    if (d.oom) {
        free(d.s);
        return NULL;
    }
    return d.s;
}
