/* Configuration documents: a small tree (fk_doc), a libyaml reader for it, and the one
   validation that turns a tree into registrations. */
#include "fk_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 64

/* ---------------------------------------------------------------- tree ---- */

fk_doc *fk_doc_new(fk_doc_type type, int line, int column)
{
    fk_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->type = type;
    d->line = line;
    d->column = column;
    return d;
}

fk_doc *fk_doc_new_scalar(fk_scalar_kind kind, const char *text, int line, int column)
{
    fk_doc *d = fk_doc_new(FK_DOC_SCALAR, line, column);
    if (!d) return NULL;
    d->kind = kind;
    if (!(d->text = fk_strdup(text ? text : ""))) {
        free(d);
        return NULL;
    }
    return d;
}

static int grow_doc(fk_doc *d)
{
    size_t cap = d->cap;
    if (!fk_grow((void **)&d->items, &cap, d->count, sizeof *d->items)) return 0;
    if (d->type == FK_DOC_MAP) {
        char **k = realloc(d->keys, cap * sizeof *k);
        if (!k) return 0;
        d->keys = k;
    }
    d->cap = cap;
    return 1;
}

int fk_doc_append(fk_doc *seq, fk_doc *item)
{
    if (!item || !grow_doc(seq)) {
        fk_doc_free(item);
        return 0;
    }
    seq->items[seq->count++] = item;
    return 1;
}

int fk_doc_put(fk_doc *map, const char *key, fk_doc *item)
{
    size_t i;
    char *k;
    for (i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0) {
            fk_doc_free(item);
            return 0;
        }
    if (!item || !grow_doc(map) || !(k = fk_strdup(key))) {
        fk_doc_free(item);
        return 0;
    }
    map->keys[map->count] = k;
    map->items[map->count++] = item;
    return 1;
}

void fk_doc_free(fk_doc *d)
{
    size_t i;
    if (!d) return;
    for (i = 0; i < d->count; i++) {
        fk_doc_free(d->items[i]);
        if (d->keys) free(d->keys[i]);
    }
    free(d->items);
    free(d->keys);
    free(d->text);
    free(d);
}

static const fk_doc *doc_get(const fk_doc *map, const char *key)
{
    size_t i;
    for (i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

/* ---------------------------------------------------------------- YAML ---- */

typedef struct yaml_reader {
    yaml_parser_t parser;
    fk_error     *err;
} yaml_reader;

static void yaml_fail(yaml_reader *y, const yaml_mark_t *mark, const char *what)
{
    fk_error_set(y->err, "_INVALID_ARG", "YAML: %s (line %d, column %d)", what,
                 (int)mark->line + 1, (int)mark->column + 1);
}

static int next_event(yaml_reader *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->parser, ev)) return 1;
    fk_error_set(y->err, "_INVALID_ARG", "YAML syntax error: %s%s%s (line %d, column %d)",
                 y->parser.problem ? y->parser.problem : "invalid document",
                 y->parser.context ? " " : "", y->parser.context ? y->parser.context : "",
                 (int)y->parser.problem_mark.line + 1, (int)y->parser.problem_mark.column + 1);
    return 0;
}

static fk_scalar_kind plain_kind(const char *s)
{
    char *end;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || strcmp(s, "True") == 0 ||
        strcmp(s, "False") == 0 || strcmp(s, "TRUE") == 0 || strcmp(s, "FALSE") == 0)
        return FK_SCALAR_BOOL;
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return FK_SCALAR_NULL;
    errno = 0;
    (void)strtod(s, &end);
    if (*end == '\0' && errno == 0) return FK_SCALAR_NUMBER;
    return FK_SCALAR_TEXT;
}

/* Reads the node that starts with ev (consumed); NULL on error. */
static fk_doc *read_node(yaml_reader *y, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    fk_doc *d = NULL;

    if (depth > MAX_DEPTH) {
        yaml_fail(y, &ev->start_mark, "the document is nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        yaml_fail(y, &ev->start_mark, "anchors and aliases are not supported in configuration documents");
        return NULL;
    case YAML_SCALAR_EVENT: {
        const char *text = (const char *)ev->data.scalar.value;
        fk_scalar_kind kind = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_kind(text) : FK_SCALAR_TEXT;
        if (ev->data.scalar.anchor) {
            yaml_fail(y, &ev->start_mark, "anchors and aliases are not supported in configuration documents");
            return NULL;
        }
        if (strlen(text) != ev->data.scalar.length) {
            yaml_fail(y, &ev->start_mark, "a value contains a NUL character");
            return NULL;
        }
        if (!(d = fk_doc_new_scalar(kind, text, line, col))) goto oom;
        return d;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        if ((is_map && ev->data.mapping_start.anchor) || (!is_map && ev->data.sequence_start.anchor)) {
            yaml_fail(y, &ev->start_mark, "anchors and aliases are not supported in configuration documents");
            return NULL;
        }
        if (!(d = fk_doc_new(is_map ? FK_DOC_MAP : FK_DOC_SEQUENCE, line, col))) goto oom;
        for (;;) {
            yaml_event_t child;
            fk_doc *key = NULL, *value;
            if (!next_event(y, &child)) goto fail;
            if (child.type == YAML_SEQUENCE_END_EVENT || child.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&child);
                return d;
            }
            if (is_map) {
                yaml_event_t val;
                if (child.type != YAML_SCALAR_EVENT) {
                    yaml_fail(y, &child.start_mark, "map keys must be plain strings");
                    yaml_event_delete(&child);
                    goto fail;
                }
                key = read_node(y, &child, depth + 1);
                yaml_event_delete(&child);
                if (!key) goto fail;
                if (!next_event(y, &val)) {
                    fk_doc_free(key);
                    goto fail;
                }
                value = read_node(y, &val, depth + 1);
                yaml_event_delete(&val);
                if (!value) {
                    fk_doc_free(key);
                    goto fail;
                }
                if (strcmp(key->text, "<<") == 0) {
                    fk_error_set(y->err, "_INVALID_ARG", "YAML: merge keys (<<) are not supported (line %d, column %d)",
                                 key->line, key->column);
                    fk_doc_free(key);
                    fk_doc_free(value);
                    goto fail;
                }
                if (!fk_doc_put(d, key->text, value)) {
                    fk_error_set(y->err, "_INVALID_ARG", "YAML: key '%.200s' appears twice in one map (line %d, column %d)",
                                 key->text, key->line, key->column);
                    fk_doc_free(key);
                    goto fail;
                }
                fk_doc_free(key);
            } else {
                value = read_node(y, &child, depth + 1);
                yaml_event_delete(&child);
                if (!value || !fk_doc_append(d, value)) goto fail;
            }
        }
    }
    default:
        yaml_fail(y, &ev->start_mark, "unexpected YAML event");
        return NULL;
    }
oom:
    fk_error_set(y->err, "_NO_MEMORY", "YAML: out of memory");
fail:
    fk_doc_free(d);
    return NULL;
}

fk_doc *fk_yaml_parse(const char *text, size_t len, fk_error *err)
{
    yaml_reader y;
    yaml_event_t ev;
    fk_doc *root = NULL;
    int done = 0;

    memset(&y, 0, sizeof y);
    y.err = err;
    if (!yaml_parser_initialize(&y.parser)) {
        fk_error_set(err, "_NO_MEMORY", "YAML: cannot initialise the parser");
        return NULL;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
    while (!done) {
        if (!next_event(&y, &ev)) goto fail;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) {
                yaml_fail(&y, &ev.start_mark, "only one document is allowed");
                yaml_event_delete(&ev);
                goto fail;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            if (root) {
                yaml_fail(&y, &ev.start_mark, "unexpected content after the document");
                yaml_event_delete(&ev);
                goto fail;
            }
            root = read_node(&y, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                goto fail;
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    if (!root) root = fk_doc_new(FK_DOC_MAP, 1, 1);   /* an empty document registers nothing */
    if (!root) fk_error_set(err, "_NO_MEMORY", "YAML: out of memory");
    return root;
fail:
    fk_doc_free(root);
    yaml_parser_delete(&y.parser);
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
    if (d->type != FK_DOC_SCALAR || (d->kind != FK_SCALAR_NUMBER && d->kind != FK_SCALAR_TEXT)) {
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
static int check_keys(const fk_doc *map, const char *const *known, path *p, fk_error *err)
{
    size_t i, k;
    for (i = 0; i < map->count; i++) {
        int found = 0;
        for (k = 0; known[k] && !found; k++) found = strcmp(map->keys[i], known[k]) == 0;
        if (!found) {
            char what[300];
            const char *hint = NULL;
            for (k = 0; known[k] && !hint; k++)
                if (strcasecmp(map->keys[i], known[k]) == 0) hint = known[k];
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
    "consumerGroups", "ignoredTopics", "ignoredConsumerGroups", "topics", NULL
};
static const char *const group_keys[] = {
    "name", "topics", "sessionTimeoutMs", "rebalanceTimeoutMs", "fetchMaxBytes", "autoCommitIntervalMs", NULL
};
static const char *const topic_keys[] = { "name", "partitions", "replicationFactor", "configs", NULL };
static const char *const tls_keys[] = { "caFile", "certFile", "keyFile", "keyPassword", "verify", NULL };

#define INT_MAX_ 2147483647LL

static int load_group(fk_registry *tmp, const char *pool, const fk_doc *g, path *p, fk_error *err)
{
    fk_group_spec spec;
    const fk_doc *v;
    size_t len = strlen(p->text);
    long long n;
    int ok = 0;
    const char *s;

    if (g->type != FK_DOC_MAP) return fail_at(err, p, g, "expected a map with name and topics");
    if (!check_keys(g, group_keys, p, err)) return 0;
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
    GROUP_INT("sessionTimeoutMs", session_timeout_ms, INT_MAX_)
    GROUP_INT("rebalanceTimeoutMs", rebalance_timeout_ms, INT_MAX_)
    GROUP_INT("fetchMaxBytes", fetch_max_bytes, 2147483135LL)
    GROUP_INT("autoCommitIntervalMs", auto_commit_interval_ms, INT_MAX_)
#undef GROUP_INT
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
    size_t len = strlen(p->text), i;
    long long n;
    int ok = 0;
    const char *s;

    if (t->type != FK_DOC_MAP) return fail_at(err, p, t, "expected a map with a name");
    if (!check_keys(t, topic_keys, p, err)) return 0;
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
    if ((v = doc_get(t, "configs"))) {
        path_push(p, ".%s", "configs", 0);
        if (v->type != FK_DOC_MAP) { fail_at(err, p, v, "expected a map of config names to values"); goto out; }
        for (i = 0; i < v->count; i++) {
            size_t l2 = strlen(p->text);
            const fk_doc *c = v->items[i];
            path_push(p, ".%s", v->keys[i], 0);
            if (c->type != FK_DOC_SCALAR || c->kind == FK_SCALAR_NULL) {
                fail_at(err, p, c, "expected a value (string or number)");
                goto out;
            }
            path_cut(p, l2);
            if (!fk_kvlist_set(&spec.configs, v->keys[i], c->text)) goto oom;
        }
        path_cut(p, len);
    }
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
    if (!check_keys(d, tls_keys, p, err)) return 0;
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
    size_t len = strlen(p->text), i;
    long long n;
    int ok = 0;
    const char *s;

    if (k->type != FK_DOC_MAP) return fail_at(err, p, k, "expected a map");
    if (!check_keys(k, kafka_keys, p, err)) return 0;
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
    if (!fk_registry_add_pool(tmp, code, &brokers, &o, err)) {
        fail_at(err, p, k, err->msg);
        goto out;
    }
    if ((v = doc_get(k, "consumerGroups"))) {
        path_push(p, ".%s", "consumerGroups", 0);
        if (!is_list(v)) { fail_at(err, p, v, "expected a list of consumer groups"); goto out; }
        for (i = 0; i < v->count; i++) {
            size_t l2 = strlen(p->text);
            path_push(p, "[%zu]", NULL, i + 1);
            if (!load_group(tmp, code, v->items[i], p, err)) goto out;
            path_cut(p, l2);
        }
        path_cut(p, len);
    }
    if ((v = doc_get(k, "topics"))) {
        path_push(p, ".%s", "topics", 0);
        if (!is_list(v)) { fail_at(err, p, v, "expected a list of topics"); goto out; }
        for (i = 0; i < v->count; i++) {
            size_t l2 = strlen(p->text);
            path_push(p, "[%zu]", NULL, i + 1);
            if (!load_topic(tmp, code, v->items[i], p, err)) goto out;
            path_cut(p, l2);
        }
        path_cut(p, len);
    }
    ok = 1;
    goto out;
oom:
    fk_error_set(err, "_NO_MEMORY", "out of memory");
out:
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
        fk_error_set(err, "_INVALID_ARG", "configuration: expected a map of pool codes to pool sections, got %s",
                     type_name(doc));
        return 0;
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
        ok = load_pool(tmp, doc->keys[i], kafka, &p, err);
    }
    if (ok) ok = fk_registry_merge(r, tmp, err);
    fk_registry_free(tmp);
    return ok;
}
