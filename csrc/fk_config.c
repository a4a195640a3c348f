/* Configuration documents: the one validation that turns a document tree (from YAML or from
   a binding's table) into registrations, all or nothing. */
#include "fk_internal.h"
#include "fk_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const fk_doc *doc_get(const fk_doc *map, const char *key)
{
    size_t i;
    for (i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}


/* ---------------------------------------------------------------- validation ---- */

typedef struct path {
    char text[512];
} path;

static void path_push(path *p, const char *fmt, const char *key, size_t index)
{
    size_t n = strlen(p->text);
    if (n >= sizeof p->text - 1) return;
    if (key) snprintf(p->text + n, sizeof p->text - n, fmt, key);
    else snprintf(p->text + n, sizeof p->text - n, fmt, index);
}

static void path_cut(path *p, size_t len) { p->text[len] = '\0'; }

static int fail_at(fk_error *err, const path *p, const fk_doc *d, const char *what_in)
{
    char what[512];
    snprintf(what, sizeof what, "%s", what_in);   /* what_in may be err->msg itself */
    if (d && d->line > 0)
        fk_error_set(err, "_INVALID_ARG", "%s: %s (line %d, column %d)", p->text, what, d->line, d->column);
    else
        fk_error_set(err, "_INVALID_ARG", "%s: %s", p->text, what);
    return 0;
}

static const char *type_name(const fk_doc *d)
{
    if (d->type == FK_DOC_MAP) return "a map";
    if (d->type == FK_DOC_SEQUENCE) return "a list";
    switch (d->kind) {
    case FK_SCALAR_NUMBER: return "a number";
    case FK_SCALAR_BOOL: return "a boolean";
    case FK_SCALAR_NULL: return "null";
    default: return "a string";
    }
}

static int want_string(const fk_doc *d, const path *p, fk_error *err, const char **out)
{
    char what[96];
    if (d->type != FK_DOC_SCALAR || d->kind == FK_SCALAR_NULL || d->kind == FK_SCALAR_BOOL) {
        snprintf(what, sizeof what, "expected a string, got %s", type_name(d));
        return fail_at(err, p, d, what);
    }
    if (!*d->text) return fail_at(err, p, d, "must not be empty");
    *out = d->text;
    return 1;
}

static int want_int(const fk_doc *d, const path *p, fk_error *err, long long min, long long max, long long *out)
{
    char what[128], *end;
    long long v;
    /* a quoted "5" is a string, as in the reference's YAML decoding, and so is a Lua "5" */
    if (d->type != FK_DOC_SCALAR || d->kind != FK_SCALAR_NUMBER) {
        snprintf(what, sizeof what, "expected an integer, got %s", type_name(d));
        return fail_at(err, p, d, what);
    }
    errno = 0;
    v = strtoll(d->text, &end, 10);
    if (*d->text == '\0' || *end != '\0' || errno) {
        snprintf(what, sizeof what, "expected an integer, got '%.40s'", d->text);
        return fail_at(err, p, d, what);
    }
    if (v < min || v > max) {
        if (v < 0 && min >= 0) return fail_at(err, p, d, "must not be negative");
        snprintf(what, sizeof what, "must be between %lld and %lld, got %lld", min, max, v);
        return fail_at(err, p, d, what);
    }
    *out = v;
    return 1;
}

static int want_bool(const fk_doc *d, const path *p, fk_error *err, int *out)
{
    char what[96];
    if (d->type != FK_DOC_SCALAR || d->kind != FK_SCALAR_BOOL) {
        snprintf(what, sizeof what, "expected true or false, got %s", type_name(d));
        return fail_at(err, p, d, what);
    }
    *out = strcasecmp(d->text, "true") == 0;
    return 1;
}

/* A list; an empty Lua table arrives as an empty map and counts as an empty list. */
static int is_list(const fk_doc *d)
{
    return d->type == FK_DOC_SEQUENCE || (d->type == FK_DOC_MAP && d->count == 0 && d->line == 0);
}

static int want_strings(const fk_doc *d, path *p, fk_error *err, fk_strlist *out, int required)
{
    size_t i, len = strlen(p->text);
    char what[96];
    if (!is_list(d)) {
        snprintf(what, sizeof what, "expected a list of strings, got %s", type_name(d));
        return fail_at(err, p, d, what);
    }
    if (required && d->count == 0) return fail_at(err, p, d, "must not be empty");
    for (i = 0; i < d->count; i++) {
        const char *s;
        path_push(p, "[%zu]", NULL, i + 1);
        if (!want_string(d->items[i], p, err, &s)) return 0;
        path_cut(p, len);
        if (!fk_strlist_push(out, s)) return fail_at(err, p, d, "out of memory");
    }
    return 1;
}

/* Unknown keys are errors: a typo (clientId for clientID) must not pass as "not set". */
static int check_keys(const fk_doc *map, const char *const *known, const char *const *aliases,
                      path *p, fk_error *err)
{
    size_t i, k;
    for (i = 0; i < map->count; i++) {
        int found = 0;
        for (k = 0; known[k] && !found; k++) found = strcmp(map->keys[i], known[k]) == 0;
        if (!found) {
            char what[300];
            const char *hint = fk_suggest(map->keys[i], known, aliases);
            if (hint)
                snprintf(what, sizeof what, "unknown key '%.100s' (did you mean '%s'?)", map->keys[i], hint);
            else
                snprintf(what, sizeof what, "unknown key '%.100s'", map->keys[i]);
            return fail_at(err, p, map->items[i], what);
        }
    }
    return 1;
}

static const char *const kafka_keys[] = {
    "code", "brokers", "clientID", "requiredAcks", "producerLingerMs", "maxBufferedRecords",
    "deliveryTimeoutMs", "connectTimeoutMs", "saslMechanism", "saslUser", "saslPassword", "tls",
    "consumerGroups", "ignoredTopics", "ignoredConsumerGroups", "topics", "partitioner", "compression",
    "idempotent", "rdkafka", "statisticsIntervalMs", "transactionalID", NULL
};
/* the Lua option names of kafka_keys, for "did you mean" when a Lua spelling is used */
static const char *const kafka_lua_names[] = {
    "", "", "client_id", "required_acks", "producer_linger", "max_buffered_records",
    "delivery_timeout", "connect_timeout", "sasl", "", "", "", "", "ignored_topics",
    "ignored_consumer_groups", "", "", "", "", "", "statistics_interval", "transactional_id", NULL
};
static const char *const group_keys[] = {
    "name", "topics", "sessionTimeoutMs", "rebalanceTimeoutMs", "fetchMaxBytes", "autoCommitIntervalMs",
    "rdkafka", "startOffset", "statisticsIntervalMs", NULL
};
static const char *const topic_keys[] = { "name", "partitions", "replicationFactor", "configs", NULL };
static const char *const tls_keys[] = { "caFile", "certFile", "keyFile", "keyPassword", "verify", NULL };

#define INT_MAX_ 2147483647LL

/* Names listed twice in one pool's consumerGroups or topics. Sorting keeps this
   O(n log n) for long lists. Returns 0 with *second (the later, 0-based) and *first set when
   a name repeats; the earliest repeat in document order is reported. */
typedef struct named { const char *name; size_t index; } named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int names_unique(named *items, size_t n, size_t *first, size_t *second)
{
    size_t i, run = 0, found = 0;
    if (n < 2) return 1;
    qsort(items, n, sizeof *items, cmp_named);
    for (i = 1; i < n; i++) {
        if (strcmp(items[i].name, items[run].name) != 0) {
            run = i;
            continue;
        }
        if (!found || items[i].index < *second) {
            *second = items[i].index;
            *first = items[run].index;
            found = 1;
        }
    }
    return !found;
}

/* After a pool's list `key` was loaded into names[0..n) (in document order, list item i
   from doc->items[i]): an error naming the repeated entry. */
static int check_unique(named *names, size_t n, const fk_doc *list, const char *what, path *p,
                        fk_error *err)
{
    size_t first = 0, second = 0, len = strlen(p->text);
    char msg[400];
    const fk_doc *item, *name;
    if (names_unique(names, n, &first, &second)) return 1;
    item = list->items[second];
    name = doc_get(item, "name");
    path_push(p, "[%zu]", NULL, second + 1);
    path_push(p, ".%s", "name", 0);
    snprintf(msg, sizeof msg, "%s '%.200s' is already listed at [%zu]", what, name ? name->text : "?", first + 1);
    fail_at(err, p, name ? name : item, msg);
    path_cut(p, len);
    return 0;
}

/* A map of names to scalar values (topic configs, raw librdkafka properties) at key `key`. */
static int want_kvmap(const fk_doc *v, const char *key, const char *names, path *p, fk_error *err,
                      fk_kvlist *out)
{
    size_t len = strlen(p->text), i;
    path_push(p, ".%s", key, 0);
    char what[120];
    if (v->type != FK_DOC_MAP) {
        snprintf(what, sizeof what, "expected a map of %s to values", names);
        return fail_at(err, p, v, what);
    }
    for (i = 0; i < v->count; i++) {
        size_t l2 = strlen(p->text);
        const fk_doc *c = v->items[i];
        path_push(p, ".%s", v->keys[i], 0);
        if (c->type != FK_DOC_SCALAR || c->kind == FK_SCALAR_NULL)
            return fail_at(err, p, c, "expected a value (string or number)");
        path_cut(p, l2);
        if (!fk_kvlist_set(out, v->keys[i], c->text)) return fail_at(err, p, c, "out of memory");
    }
    path_cut(p, len);
    return 1;
}

static int load_group(fk_registry *tmp, const char *pool, const fk_doc *g, path *p, fk_error *err)
{
    fk_group_spec spec;
    const fk_doc *v;
    size_t len = strlen(p->text);
    long long n;
    int ok = 0;
    const char *s;

    if (g->type != FK_DOC_MAP) return fail_at(err, p, g, "expected a map with name and topics");
    if (!check_keys(g, group_keys, NULL, p, err)) return 0;
    fk_group_spec_init(&spec);
    if (!fk_set_string(&spec.pool, pool)) goto oom;
    if (!(v = doc_get(g, "name"))) { fail_at(err, p, g, "missing required key 'name'"); goto out; }
    path_push(p, ".%s", "name", 0);
    if (!want_string(v, p, err, &s)) goto out;
    path_cut(p, len);
    if (!fk_set_string(&spec.name, s)) goto oom;
    if (!(v = doc_get(g, "topics"))) { fail_at(err, p, g, "missing required key 'topics'"); goto out; }
    path_push(p, ".%s", "topics", 0);
    if (!want_strings(v, p, err, &spec.topics, 1)) goto out;
    path_cut(p, len);
#define GROUP_INT(key, field, max)                                        \
    if ((v = doc_get(g, key))) {                                          \
        path_push(p, ".%s", key, 0);                                      \
        if (!want_int(v, p, err, 0, max, &n)) goto out;                   \
        path_cut(p, len);                                                 \
        spec.field = (int)n;                                              \
    }
    GROUP_INT("sessionTimeoutMs", session_timeout_ms, FK_MAX_SESSION_TIMEOUT_MS)
    GROUP_INT("rebalanceTimeoutMs", rebalance_timeout_ms, FK_MAX_REBALANCE_TIMEOUT_MS)
    GROUP_INT("fetchMaxBytes", fetch_max_bytes, 2147483135LL)
    GROUP_INT("autoCommitIntervalMs", auto_commit_interval_ms, FK_MAX_AUTO_COMMIT_INTERVAL_MS)
    GROUP_INT("statisticsIntervalMs", statistics_interval_ms, 86400000)
#undef GROUP_INT
    if ((v = doc_get(g, "rdkafka")) && !want_kvmap(v, "rdkafka", "librdkafka property names", p, err, &spec.rdkafka)) goto out;
    if ((v = doc_get(g, "startOffset"))) {
        path_push(p, ".%s", "startOffset", 0);
        if (v->type == FK_DOC_SCALAR && v->kind == FK_SCALAR_NUMBER) {
            char *end;
            long long ms = strtoll(v->text, &end, 10);
            if (*end || ms <= 0) {
                fail_at(err, p, v, "expected earliest, latest or a timestamp (a positive whole number of "
                        "milliseconds since the epoch)");
                goto out;
            }
            spec.start_timestamp_ms = ms;
        } else {
            if (!want_string(v, p, err, &s)) goto out;
            if (strcmp(s, "earliest") != 0 && strcmp(s, "latest") != 0) {
                fail_at(err, p, v, "expected earliest, latest or a timestamp in milliseconds since the epoch");
                goto out;
            }
            spec.start_latest = strcmp(s, "latest") == 0;
        }
        path_cut(p, len);
    }
    ok = fk_registry_add_group(tmp, &spec, err);
    if (!ok) fail_at(err, p, g, err->msg);
    goto out;
oom:
    fk_error_set(err, "_NO_MEMORY", "out of memory");
out:
    fk_group_spec_clear(&spec);
    return ok;
}

static int load_topic(fk_registry *tmp, const char *pool, const fk_doc *t, path *p, fk_error *err)
{
    fk_topic_spec spec;
    const fk_doc *v;
    size_t len = strlen(p->text);
    long long n;
    int ok = 0;
    const char *s;

    if (t->type != FK_DOC_MAP) return fail_at(err, p, t, "expected a map with a name");
    if (!check_keys(t, topic_keys, NULL, p, err)) return 0;
    fk_topic_spec_init(&spec);
    if (!fk_set_string(&spec.pool, pool)) goto oom;
    if (!(v = doc_get(t, "name"))) { fail_at(err, p, t, "missing required key 'name'"); goto out; }
    path_push(p, ".%s", "name", 0);
    if (!want_string(v, p, err, &s)) goto out;
    if (!fk_topic_name_valid(s, NULL)) { fail_at(err, p, v, "not a valid Kafka topic name"); goto out; }
    path_cut(p, len);
    if (!fk_set_string(&spec.name, s)) goto oom;
    if ((v = doc_get(t, "partitions"))) {
        path_push(p, ".%s", "partitions", 0);
        if (!want_int(v, p, err, 1, INT_MAX_, &n)) goto out;
        path_cut(p, len);
        spec.partitions = (int32_t)n;
    }
    if ((v = doc_get(t, "replicationFactor"))) {
        path_push(p, ".%s", "replicationFactor", 0);
        if (!want_int(v, p, err, 1, 32767, &n)) goto out;
        path_cut(p, len);
        spec.replication_factor = (int16_t)n;
    }
    if ((v = doc_get(t, "configs")) && !want_kvmap(v, "configs", "config names", p, err, &spec.configs)) goto out;
    ok = fk_registry_add_topic(tmp, &spec, err);
    if (!ok) fail_at(err, p, t, err->msg);
    goto out;
oom:
    fk_error_set(err, "_NO_MEMORY", "out of memory");
out:
    fk_topic_spec_clear(&spec);
    return ok;
}

static int load_tls(const fk_doc *d, path *p, fk_error *err, fk_tls_options *tls)
{
    const fk_doc *v;
    size_t len = strlen(p->text);
    const char *s;
    if (d->type != FK_DOC_MAP) return fail_at(err, p, d, "expected a map (caFile, certFile, keyFile, keyPassword, verify)");
    if (!check_keys(d, tls_keys, NULL, p, err)) return 0;
    tls->enabled = 1;
#define TLS_STRING(key, field)                                            \
    if ((v = doc_get(d, key))) {                                          \
        path_push(p, ".%s", key, 0);                                      \
        if (!want_string(v, p, err, &s)) return 0;                        \
        path_cut(p, len);                                                 \
        if (!fk_set_string(&tls->field, s)) return fail_at(err, p, d, "out of memory"); \
    }
    TLS_STRING("caFile", ca_file)
    TLS_STRING("certFile", cert_file)
    TLS_STRING("keyFile", key_file)
    TLS_STRING("keyPassword", key_password)
#undef TLS_STRING
    if ((v = doc_get(d, "verify"))) {
        path_push(p, ".%s", "verify", 0);
        if (!want_bool(v, p, err, &tls->verify)) return 0;
        path_cut(p, len);
    }
    return 1;
}

static int load_pool(fk_registry *tmp, const char *code, const fk_doc *k, path *p, fk_error *err)
{
    fk_pool_options o;
    fk_strlist brokers = { 0 };
    const fk_doc *v;
    named *names = NULL;
    size_t len = strlen(p->text), i, first;
    long long n;
    int ok = 0;
    const char *s;

    if (k->type != FK_DOC_MAP) return fail_at(err, p, k, "expected a map");
    if (!check_keys(k, kafka_keys, kafka_lua_names, p, err)) return 0;
    fk_pool_options_init(&o);
    if ((v = doc_get(k, "code"))) {
        path_push(p, ".%s", "code", 0);
        if (!want_string(v, p, err, &s)) goto out;
        if (strcmp(s, code) != 0) { fail_at(err, p, v, "differs from the pool code it is listed under"); goto out; }
        path_cut(p, len);
    }
    if (!(v = doc_get(k, "brokers"))) { fail_at(err, p, k, "missing required key 'brokers'"); goto out; }
    path_push(p, ".%s", "brokers", 0);
    if (!want_strings(v, p, err, &brokers, 1)) goto out;
    path_cut(p, len);
    if ((v = doc_get(k, "clientID"))) {
        path_push(p, ".%s", "clientID", 0);
        if (!want_string(v, p, err, &s)) goto out;
        path_cut(p, len);
        if (!fk_set_string(&o.client_id, s)) goto oom;
    }
    if ((v = doc_get(k, "transactionalID"))) {
        path_push(p, ".%s", "transactionalID", 0);
        if (!want_string(v, p, err, &s)) goto out;
        if (!*s) { fail_at(err, p, v, "expected a non-empty transactional id"); goto out; }
        path_cut(p, len);
        if (!fk_set_string(&o.transactional_id, s)) goto oom;
    }
    if ((v = doc_get(k, "requiredAcks"))) {
        path_push(p, ".%s", "requiredAcks", 0);
        if (!want_int(v, p, err, -1, 1, &n)) goto out;
        path_cut(p, len);
        o.required_acks = (int)n;
    }
#define POOL_INT(key, field)                                              \
    if ((v = doc_get(k, key))) {                                          \
        path_push(p, ".%s", key, 0);                                      \
        if (!want_int(v, p, err, 0, INT_MAX_, &n)) goto out;              \
        path_cut(p, len);                                                 \
        o.field = n;                                                      \
    }
    POOL_INT("producerLingerMs", linger_ms)
    POOL_INT("maxBufferedRecords", max_buffered_records)
    POOL_INT("deliveryTimeoutMs", delivery_timeout_ms)
    POOL_INT("connectTimeoutMs", connect_timeout_ms)
    POOL_INT("statisticsIntervalMs", statistics_interval_ms)
#undef POOL_INT
    if ((v = doc_get(k, "saslMechanism"))) {
        int m;
        path_push(p, ".%s", "saslMechanism", 0);
        if (!want_string(v, p, err, &s)) goto out;
        if ((m = fk_sasl_mechanism_parse(s)) < 0) {
            char what[200];
            snprintf(what, sizeof what, "unknown SASL mechanism '%.60s' (known: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", s);
            fail_at(err, p, v, what);
            goto out;
        }
        path_cut(p, len);
        o.sasl_mechanism = (fk_sasl_mechanism)m;
    }
    if ((v = doc_get(k, "partitioner"))) {
        path_push(p, ".%s", "partitioner", 0);
        if (!want_string(v, p, err, &s)) goto out;
        if (!fk_partitioner_valid(s)) {
            fail_at(err, p, v, "unknown partitioner (known: random, consistent, consistent_random, murmur2, "
                    "murmur2_random, fnv1a, fnv1a_random)");
            goto out;
        }
        path_cut(p, len);
        if (!fk_set_string(&o.partitioner, s)) goto oom;
    }
    if ((v = doc_get(k, "saslUser"))) {
        path_push(p, ".%s", "saslUser", 0);
        if (!want_string(v, p, err, &s)) goto out;
        path_cut(p, len);
        if (!fk_set_string(&o.sasl_user, s)) goto oom;
    }
    if ((v = doc_get(k, "saslPassword"))) {
        path_push(p, ".%s", "saslPassword", 0);
        /* the messages of want_string never quote the value, so no secret leaks here */
        if (!want_string(v, p, err, &s)) goto out;
        path_cut(p, len);
        if (!fk_set_string(&o.sasl_password, s)) goto oom;
    }
    if (o.sasl_mechanism == FK_SASL_NONE && (o.sasl_user || o.sasl_password)) {
        fail_at(err, p, k, "saslUser and saslPassword need saslMechanism");
        goto out;
    }
    if (o.sasl_mechanism != FK_SASL_NONE && (!o.sasl_user || !o.sasl_password)) {
        fail_at(err, p, k, "saslMechanism needs saslUser and saslPassword");
        goto out;
    }
    if ((v = doc_get(k, "tls"))) {
        path_push(p, ".%s", "tls", 0);
        if (!load_tls(v, p, err, &o.tls)) goto out;
        path_cut(p, len);
    }
    if ((v = doc_get(k, "ignoredTopics"))) {
        path_push(p, ".%s", "ignoredTopics", 0);
        if (!want_strings(v, p, err, &o.ignored_topics, 0)) goto out;
        path_cut(p, len);
    }
    if ((v = doc_get(k, "ignoredConsumerGroups"))) {
        path_push(p, ".%s", "ignoredConsumerGroups", 0);
        if (!want_strings(v, p, err, &o.ignored_consumer_groups, 0)) goto out;
        path_cut(p, len);
    }
    if ((v = doc_get(k, "compression"))) {
        static const char *const known[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };
        int c;
        path_push(p, ".%s", "compression", 0);
        if (!want_string(v, p, err, &s)) goto out;
        for (c = 0; known[c] && strcmp(s, known[c]) != 0; c++) {}
        if (!known[c]) { fail_at(err, p, v, "expected none, gzip, snappy, lz4 or zstd"); goto out; }
        path_cut(p, len);
        if (!fk_set_string(&o.compression, s)) goto oom;
    }
    if ((v = doc_get(k, "idempotent"))) {
        path_push(p, ".%s", "idempotent", 0);
        if (!want_bool(v, p, err, &o.idempotent)) goto out;
        path_cut(p, len);
    }
    if ((v = doc_get(k, "rdkafka")) && !want_kvmap(v, "rdkafka", "librdkafka property names", p, err, &o.rdkafka)) goto out;
    if (!fk_registry_add_pool(tmp, code, &brokers, &o, err)) {
        fail_at(err, p, k, err->msg);
        goto out;
    }
    if ((v = doc_get(k, "consumerGroups"))) {
        path_push(p, ".%s", "consumerGroups", 0);
        if (!is_list(v)) { fail_at(err, p, v, "expected a list of consumer groups"); goto out; }
        first = tmp->group_count;
        for (i = 0; i < v->count; i++) {
            size_t l2 = strlen(p->text);
            path_push(p, "[%zu]", NULL, i + 1);
            if (!load_group(tmp, code, v->items[i], p, err)) goto out;
            path_cut(p, l2);
        }
        if (v->count > 1) {
            if (!(names = malloc(v->count * sizeof *names))) goto oom;
            for (i = 0; i < v->count; i++) {
                names[i].name = tmp->groups[first + i].name;
                names[i].index = i;
            }
            if (!check_unique(names, v->count, v, "consumer group", p, err)) goto out;
            free(names);
            names = NULL;
        }
        path_cut(p, len);
    }
    if ((v = doc_get(k, "topics"))) {
        path_push(p, ".%s", "topics", 0);
        if (!is_list(v)) { fail_at(err, p, v, "expected a list of topics"); goto out; }
        first = tmp->topic_count;
        for (i = 0; i < v->count; i++) {
            size_t l2 = strlen(p->text);
            path_push(p, "[%zu]", NULL, i + 1);
            if (!load_topic(tmp, code, v->items[i], p, err)) goto out;
            path_cut(p, l2);
        }
        if (v->count > 1) {
            if (!(names = malloc(v->count * sizeof *names))) goto oom;
            for (i = 0; i < v->count; i++) {
                names[i].name = tmp->topics[first + i].name;
                names[i].index = i;
            }
            if (!check_unique(names, v->count, v, "topic", p, err)) goto out;
            free(names);
            names = NULL;
        }
        path_cut(p, len);
    }
    ok = 1;
    goto out;
oom:
    fk_error_set(err, "_NO_MEMORY", "out of memory");
out:
    free(names);
    fk_pool_options_clear(&o);
    fk_strlist_clear(&brokers);
    return ok;
}

int fk_registry_init_by_doc(fk_registry *r, const fk_doc *doc, fk_error *err)
{
    fk_registry *tmp;
    path p;
    size_t i;
    int ok = 1;

    if (doc->type != FK_DOC_MAP) {
        char what[200];
        snprintf(p.text, sizeof p.text, "configuration");
        snprintf(what, sizeof what, "expected a map of pool codes to pool sections, got %s", type_name(doc));
        return fail_at(err, &p, doc, what);
    }
    if (!(tmp = fk_registry_new())) {
        fk_error_set(err, "_NO_MEMORY", "out of memory");
        return 0;
    }
    for (i = 0; i < doc->count && ok; i++) {
        const fk_doc *section = doc->items[i], *kafka;
        snprintf(p.text, sizeof p.text, "%.200s", doc->keys[i]);
        if (!*doc->keys[i]) {
            ok = fail_at(err, &p, section, "a pool code must not be empty");
            break;
        }
        if (section->type != FK_DOC_MAP) {
            ok = fail_at(err, &p, section, "expected a map of sections (kafka, mysql, ...)");
            break;
        }
        if (!(kafka = doc_get(section, "kafka"))) continue;   /* only other kinds of pools */
        path_push(&p, ".%s", "kafka", 0);
        if (fk_registry_find_pool(r, doc->keys[i])) {
            char what[300];
            snprintf(what, sizeof what, "kafka pool '%.200s' is already registered", doc->keys[i]);
            ok = fail_at(err, &p, kafka, what);
            break;
        }
        ok = load_pool(tmp, doc->keys[i], kafka, &p, err);
    }
    if (ok) ok = fk_registry_merge(r, tmp, err);
    fk_registry_free(tmp);
    return ok;
}
