/* Schema management: compare what the registry declares with the live cluster and turn the
   differences into alters; perform one alter and wait until the broker shows its effect. */
#include "fk_internal.h"
#include "fk_admin_call.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ADMIN_TIMEOUT_MS 30000
#define SETTLE_TIMEOUT_MS 30000

/* ---------------------------------------------------------------- small helpers ---- */

typedef struct strbuf { char *s; size_t len, cap; int oom; } strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom) return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if (b->s && (size_t)n < room) { b->len += (size_t)n; return; }
        {
            size_t ncap = (b->cap ? b->cap : 64) + (size_t)n + 64;
            char *ns = realloc(b->s, ncap);
            if (!ns) { b->oom = 1; return; }
            b->s = ns;
            b->cap = ncap;
        }
    }
}

static int is_internal(const char *name) { return strncmp(name, "__", 2) == 0; }

const char *fk_alter_kind_name(fk_alter_kind k)
{
    static const char *const names[] = { "create_topic", "add_partitions", "partitions_warning",
                                         "replication_warning", "alter_topic_config",
                                         "delete_topic", "delete_group" };
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "unknown";
}

int fk_alter_is_warning(const fk_alter *a)
{
    return a->kind == FK_ALTER_PARTITIONS_WARNING || a->kind == FK_ALTER_REPLICATION_WARNING;
}

void fk_alter_clear(fk_alter *a)
{
    free(a->pool);
    free(a->name);
    free(a->description);
    free(a->refusal);
    free(a->refusal_code);
    fk_kvlist_clear(&a->configs);
    fk_kvlist_clear(&a->old_values);
    memset(a, 0, sizeof *a);
}

int fk_alter_copy(fk_alter *dst, const fk_alter *src)
{
    memset(dst, 0, sizeof *dst);
    dst->kind = src->kind;
    dst->partitions = src->partitions;
    dst->replication_factor = src->replication_factor;
    if (!fk_set_string(&dst->pool, src->pool) || !fk_set_string(&dst->name, src->name) ||
        !fk_set_string(&dst->description, src->description) ||
        !fk_set_string(&dst->refusal, src->refusal) || !fk_set_string(&dst->refusal_code, src->refusal_code) ||
        !fk_kvlist_copy(&dst->configs, &src->configs) ||
        !fk_kvlist_copy(&dst->old_values, &src->old_values)) {
        fk_alter_clear(dst);
        return 0;
    }
    return 1;
}

void fk_alter_list_clear(fk_alter_list *l)
{
    size_t i;
    for (i = 0; i < l->count; i++) fk_alter_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Appends an alter whose description is built from fmt; takes ownership of `a`'s fields. */
static fk_alter *push_alter(fk_alter_list *l, fk_alter *a, fk_error *err)
{
    if (!fk_grow((void **)&l->items, &l->cap, l->count, sizeof *l->items)) {
        fk_alter_clear(a);
        fk_error_set(err, "_NO_MEMORY", "get_kafka_alters: out of memory");
        return NULL;
    }
    l->items[l->count] = *a;
    memset(a, 0, sizeof *a);
    return &l->items[l->count++];
}

/* ---------------------------------------------------------------- config values ---- */

/* Kafka topic configs say "uncompressed" where users (and the reference) say "none". */
static const char *normalized_value(const char *key, const char *value)
{
    if (strcmp(key, "compression.type") == 0 && strcmp(value, "none") == 0) return "uncompressed";
    return value;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits a comma list into trimmed, sorted items; returns count (max cap). */
static size_t split_list(const char *v, char *storage, size_t storage_len, char **items, size_t cap)
{
    size_t n = 0;
    char *p;
    snprintf(storage, storage_len, "%s", v);
    for (p = strtok(storage, ","); p && n < cap; p = strtok(NULL, ",")) {
        char *end;
        while (isspace((unsigned char)*p)) p++;
        end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1])) *--end = '\0';
        if (*p) items[n++] = p;
    }
    qsort(items, n, sizeof *items, cmp_str);
    return n;
}

static int parse_number(const char *s, long double *out)
{
    char *end;
    errno = 0;
    if (!*s) return 0;
    *out = strtold(s, &end);
    return errno == 0 && *end == '\0';
}

/* Equal as the broker means them: list order, number spelling and case of booleans do not
   matter. */
static int config_values_equal(const char *key, const char *declared, const char *current)
{
    long double a, b;
    if (!current) return 0;
    declared = normalized_value(key, declared);
    if (strcmp(declared, current) == 0) return 1;
    if (strchr(declared, ',') || strchr(current, ',')) {
        char sa[1024], sb[1024];
        char *ia[64], *ib[64];
        size_t na = split_list(declared, sa, sizeof sa, ia, 64);
        size_t nb = split_list(current, sb, sizeof sb, ib, 64), i;
        if (na != nb) return 0;
        for (i = 0; i < na; i++)
            if (strcmp(ia[i], ib[i]) != 0) return 0;
        return 1;
    }
    if (parse_number(declared, &a) && parse_number(current, &b)) return a == b;
    if ((strcasecmp(declared, "true") == 0 || strcasecmp(declared, "false") == 0))
        return strcasecmp(declared, current) == 0;
    return 0;
}

/* ---------------------------------------------------------------- admin requests ---- */

typedef fk_admin_call admin_call;

static void admin_begin(admin_call *c, rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    fk_admin_call_begin(c, rk, op, ADMIN_TIMEOUT_MS);
}

#define admin_end fk_admin_call_end

/* The first request of a plan: bounded by the pool's connect timeout, so that a wrong
   address fails in seconds and the error names the brokers tried. */
static const struct rd_kafka_metadata *all_metadata(rd_kafka_t *rk, const fk_pool_spec *spec, fk_error *err)
{
    const struct rd_kafka_metadata *md = NULL;
    int timeout_ms = fk_connect_timeout_ms(spec);
    char what[300];
    rd_kafka_resp_err_t e;
    snprintf(what, sizeof what, "cannot read the topics of kafka pool '%s'", spec->code);
    e = fk_admin_metadata(rk, &md, timeout_ms, what, err);
    if (e && e != RD_KAFKA_RESP_ERR__TIMED_OUT) return NULL;
    if (e) {
        char brokers[300];
        fk_brokers_text(spec, brokers, sizeof brokers);
        fk_error_set_rd(err, e, "cannot read the topics of kafka pool '%s': brokers %s could not be reached within %d s (connect_timeout)",
                        spec->code, brokers, (timeout_ms + 999) / 1000);
        return NULL;
    }
    return md;
}

static const rd_kafka_metadata_topic_t *find_topic(const struct rd_kafka_metadata *md, const char *name)
{
    int i;
    for (i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return &md->topics[i];
    return NULL;
}

static int list_groups(rd_kafka_t *rk, const char *pool, fk_strlist *out, fk_error *err)
{
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_ListConsumerGroups_result_t *res;
    const rd_kafka_ConsumerGroupListing_t **valid;
    size_t n, i;
    char what[300];

    snprintf(what, sizeof what, "cannot list the consumer groups of kafka pool '%s'", pool);
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(rk, c.options, c.queue);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_event_ListConsumerGroups_result(ev);
    valid = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    for (i = 0; i < n; i++)
        if (!fk_strlist_push(out, rd_kafka_ConsumerGroupListing_group_id(valid[i]))) {
            rd_kafka_event_destroy(ev);
            fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
            return 0;
        }
    {
        size_t ne;
        const rd_kafka_error_t **errors = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
        if (ne > 0) {
            /* a partial list would turn missing groups into wrong conclusions: refuse */
            fk_error_set(err, rd_kafka_error_name(errors[0]), "%s: %s", what, rd_kafka_error_string(errors[0]));
            rd_kafka_event_destroy(ev);
            return 0;
        }
    }
    rd_kafka_event_destroy(ev);
    return 1;
}

/* Describes the configs of `count` topics in one request. For each topic i, fills
   values[i] with every config (name -> value) and, when overrides is not NULL, overrides[i]
   with the topic's own dynamic overrides. */
static int describe_topics(rd_kafka_t *rk, const char *pool, const char **names, size_t count,
                           fk_kvlist *values, fk_kvlist *overrides, fk_error *err)
{
    admin_call c;
    rd_kafka_event_t *ev;
    rd_kafka_ConfigResource_t **req;
    const rd_kafka_ConfigResource_t **res;
    size_t i, n;
    char what[300];
    int ok = 1;

    if (count == 0) return 1;
    snprintf(what, sizeof what, "cannot read the topic configs of kafka pool '%s'", pool);
    if (!(req = calloc(count, sizeof *req))) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
        return 0;
    }
    for (i = 0; i < count; i++) req[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names[i]);
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, req, count, c.options, c.queue);
    rd_kafka_ConfigResource_destroy_array(req, count);
    free(req);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    for (i = 0; i < n && ok; i++) {
        const char *name = rd_kafka_ConfigResource_name(res[i]);
        const rd_kafka_ConfigEntry_t **entries;
        size_t j, k, ne;
        for (k = 0; k < count && strcmp(names[k], name) != 0; k++) {}
        if (k == count) continue;
        if (rd_kafka_ConfigResource_error(res[i])) {
            fk_error_set(err, rd_kafka_err2name(rd_kafka_ConfigResource_error(res[i])),
                         "%s: topic '%s': %s", what, name, rd_kafka_ConfigResource_error_string(res[i]));
            ok = 0;
            break;
        }
        entries = rd_kafka_ConfigResource_configs(res[i], &ne);
        for (j = 0; j < ne; j++) {
            const char *ename = rd_kafka_ConfigEntry_name(entries[j]);
            const char *evalue = rd_kafka_ConfigEntry_value(entries[j]);
            if (!fk_kvlist_set(&values[k], ename, evalue ? evalue : "")) ok = 0;
            if (overrides &&
                rd_kafka_ConfigEntry_source(entries[j]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) {
                if (rd_kafka_ConfigEntry_is_sensitive(entries[j])) {
                    /* its value is hidden from us, so it could not be sent back unchanged */
                    fk_error_set(err, "POLICY_VIOLATION",
                                 "topic '%s' has a sensitive config override '%s' that cannot be preserved",
                                 name, ename);
                    ok = 0;
                    break;
                }
                if (!fk_kvlist_set(&overrides[k], ename, evalue ? evalue : "")) ok = 0;
            }
        }
        if (!ok && !err->msg[0]) fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
    }
    rd_kafka_event_destroy(ev);
    return ok;
}

/* The NewTopic of a create alter; NULL with err (starting with `what`) when librdkafka
   refuses its counts or a config. */
static rd_kafka_NewTopic_t *new_topic_of(const fk_alter *a, const char *what, fk_error *err)
{
    char errstr[512];
    size_t i;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(a->name, a->partitions > 0 ? a->partitions : -1,
                                                    a->replication_factor > 0 ? a->replication_factor : -1,
                                                    errstr, sizeof errstr);
    if (!nt) {
        fk_error_set(err, "INVALID_REQUEST", "%s: %s", what, errstr);
        return NULL;
    }
    for (i = 0; i < a->configs.count; i++) {
        if (rd_kafka_NewTopic_set_config(nt, a->configs.keys[i], a->configs.values[i])) {
            rd_kafka_NewTopic_destroy(nt);
            fk_error_set(err, "INVALID_CONFIG", "%s: config '%s' was refused", what, a->configs.keys[i]);
            return NULL;
        }
    }
    return nt;
}

/* ---------------------------------------------------------------- planning ---- */

typedef struct pool_state {
    fk_pool                         *pool;
    rd_kafka_t                      *rk;            /* the pool's admin client */
    const struct rd_kafka_metadata  *md;
    fk_strlist                       groups;
    char                            *cluster_id;
    int                              managed;
    fk_topic_spec                   *declared;      /* registered + async flush topics */
    size_t                           declared_count;
} pool_state;

static void pool_state_clear(pool_state *s)
{
    size_t i;
    if (s->md) rd_kafka_metadata_destroy(s->md);
    fk_strlist_clear(&s->groups);
    if (s->cluster_id) rd_kafka_mem_free(NULL, s->cluster_id);
    for (i = 0; i < s->declared_count; i++) fk_topic_spec_clear(&s->declared[i]);
    free(s->declared);
    memset(s, 0, sizeof *s);
}

static int declare_topics(const fk_registry *r, const char *pool, pool_state *s)
{
    size_t i, n = 0, cap = r->topic_count + 2;
    s->declared = calloc(cap, sizeof *s->declared);
    if (!s->declared) return 0;
    for (i = 0; i < r->topic_count; i++) {
        if (strcmp(r->topics[i].pool, pool) != 0) continue;
        if (!fk_topic_spec_copy(&s->declared[n], &r->topics[i])) return 0;
        s->declared_count = ++n;
    }
    if (r->async_flush_pool && strcmp(r->async_flush_pool, pool) == 0) {
        const char *names[2] = { FK_ASYNC_SQL_TOPIC_NAME, FK_ASYNC_SQL_DEAD_LETTER_TOPIC_NAME };
        for (i = 0; i < 2; i++) {
            size_t k;
            for (k = 0; k < n && strcmp(s->declared[k].name, names[i]) != 0; k++) {}
            if (k < n) continue;   /* registered explicitly: that declaration wins */
            fk_topic_spec_init(&s->declared[n]);
            if (!fk_set_string(&s->declared[n].name, names[i]) || !fk_set_string(&s->declared[n].pool, pool))
                return 0;
            s->declared[n].partitions = r->async_flush_partitions > 0 ? r->async_flush_partitions : 1;
            s->declared_count = ++n;
        }
    }
    s->managed = n > 0;
    return 1;
}

/* Two pools may point at one cluster: what either registers is protected from the other's
   deletions. Pools whose cluster id is unknown are compared by their broker lists. */
static int same_cluster(const pool_state *a, const pool_state *b)
{
    const fk_pool_spec *sa = fk_pool_spec_of(a->pool), *sb = fk_pool_spec_of(b->pool);
    size_t i;
    if (a == b) return 1;
    if (a->cluster_id && b->cluster_id) return strcmp(a->cluster_id, b->cluster_id) == 0;
    for (i = 0; i < sa->brokers.count; i++)
        if (fk_strlist_contains(&sb->brokers, sa->brokers.items[i])) return 1;
    return 0;
}

static int topic_protected(pool_state *states, size_t n, size_t self, const char *topic)
{
    size_t i, j;
    if (is_internal(topic)) return 1;
    if (fk_strlist_match(&fk_pool_spec_of(states[self].pool)->options.ignored_topics, topic)) return 1;
    for (i = 0; i < n; i++) {
        if (!same_cluster(&states[self], &states[i])) continue;
        for (j = 0; j < states[i].declared_count; j++)
            if (strcmp(states[i].declared[j].name, topic) == 0) return 1;
    }
    return 0;
}

static int group_protected(const fk_registry *r, pool_state *states, size_t n, size_t self,
                           const char *group)
{
    size_t i, j;
    if (is_internal(group)) return 1;
    if (fk_strlist_match(&fk_pool_spec_of(states[self].pool)->options.ignored_consumer_groups, group))
        return 1;
    for (i = 0; i < n; i++) {
        const char *code = fk_pool_spec_of(states[i].pool)->code;
        if (!same_cluster(&states[self], &states[i])) continue;
        for (j = 0; j < r->group_count; j++)
            if (strcmp(r->groups[j].pool, code) == 0 && strcmp(r->groups[j].name, group) == 0) return 1;
        if (r->async_flush_pool && strcmp(r->async_flush_pool, code) == 0 &&
            strcmp(group, FK_ASYNC_SQL_CONSUMER_GROUP_NAME) == 0)
            return 1;
    }
    return 0;
}

static int read_state(fk_pool *p, rd_kafka_t *rk, pool_state *s, const fk_registry *r, fk_error *err)
{
    const char *code = fk_pool_spec_of(p)->code;
    s->pool = p;
    s->rk = rk;
    if (!declare_topics(r, code, s)) {
        fk_error_set(err, "_NO_MEMORY", "get_kafka_alters: out of memory");
        return 0;
    }
    if (!(s->md = all_metadata(rk, fk_pool_spec_of(p), err))) return 0;
    s->cluster_id = rd_kafka_clusterid(rk, ADMIN_TIMEOUT_MS);
    return list_groups(rk, code, &s->groups, err);
}

static void describe_create(strbuf *b, const fk_topic_spec *t, const char *pool)
{
    size_t i;
    sb_printf(b, "Create topic '%s' in pool '%s' with ", t->name, pool);
    if (t->partitions > 0) sb_printf(b, "%d partition%s", (int)t->partitions, t->partitions == 1 ? "" : "s");
    else sb_printf(b, "the broker's default partitions");
    if (t->replication_factor > 0) sb_printf(b, ", replication factor %d", (int)t->replication_factor);
    for (i = 0; i < t->configs.count; i++)
        sb_printf(b, "%s%s=%s", i == 0 ? ", configs " : ", ", t->configs.keys[i], t->configs.values[i]);
}

static int plan_oom(fk_error *err)
{
    fk_error_set(err, "_NO_MEMORY", "get_kafka_alters: out of memory");
    return 0;
}

/* Appends a, described by b, about `name` in pool `code`; takes a's fields and b's text (both
   freed on failure). */
static int add_alter(fk_alter_list *out, fk_alter *a, strbuf *b, const char *code, const char *name,
                     fk_error *err)
{
    int ok = !b->oom && fk_set_string(&a->description, b->s) && fk_set_string(&a->pool, code) &&
             fk_set_string(&a->name, name);
    free(b->s);
    if (!ok) {
        fk_alter_clear(a);
        return plan_oom(err);
    }
    return push_alter(out, a, err) != NULL;
}

static int plan_create(const fk_topic_spec *t, const char *code, fk_alter_list *out, fk_error *err)
{
    fk_alter a = { 0 };
    strbuf b = { 0 };
    size_t j;
    a.kind = FK_ALTER_CREATE_TOPIC;
    a.partitions = t->partitions > 0 ? t->partitions : -1;
    a.replication_factor = t->replication_factor > 0 ? t->replication_factor : -1;
    if (!fk_kvlist_copy(&a.configs, &t->configs)) {
        fk_alter_clear(&a);
        return plan_oom(err);
    }
    for (j = 0; j < a.configs.count; j++)
        if (!fk_set_string(&a.configs.values[j], normalized_value(a.configs.keys[j], a.configs.values[j]))) {
            fk_alter_clear(&a);
            return plan_oom(err);
        }
    describe_create(&b, t, code);
    return add_alter(out, &a, &b, code, t->name, err);
}

/* More partitions declared than exist: add them; fewer: only a warning (Kafka cannot remove). */
static int plan_partitions(const fk_topic_spec *t, const rd_kafka_metadata_topic_t *live, const char *code,
                           fk_alter_list *out, fk_error *err)
{
    fk_alter a = { 0 };
    strbuf b = { 0 };
    if (t->partitions <= 0 || t->partitions == live->partition_cnt) return 1;
    if (t->partitions > live->partition_cnt) {
        a.kind = FK_ALTER_ADD_PARTITIONS;
        sb_printf(&b, "Increase partitions of topic '%s' in pool '%s': %d -> %d (warning: keys move to "
                  "other partitions: a key's new records may land on another partition than its old "
                  "ones, so its order across the change is lost)",
                  t->name, code, live->partition_cnt, (int)t->partitions);
    } else {
        a.kind = FK_ALTER_PARTITIONS_WARNING;
        sb_printf(&b, "Warning: topic '%s' in pool '%s' has %d partitions but %d are declared; "
                  "Kafka cannot decrease partitions, nothing will be done",
                  t->name, code, live->partition_cnt, (int)t->partitions);
    }
    a.partitions = t->partitions;
    return add_alter(out, &a, &b, code, t->name, err);
}

static int plan_replication(const fk_topic_spec *t, const rd_kafka_metadata_topic_t *live, const char *code,
                            fk_alter_list *out, fk_error *err)
{
    fk_alter a = { 0 };
    strbuf b = { 0 };
    if (t->replication_factor <= 0 || live->partition_cnt <= 0 ||
        t->replication_factor == live->partitions[0].replica_cnt)
        return 1;
    a.kind = FK_ALTER_REPLICATION_WARNING;
    a.replication_factor = t->replication_factor;
    sb_printf(&b, "Warning: topic '%s' in pool '%s' has replication factor %d but %d is declared; "
              "it cannot be changed through the admin API, nothing will be done",
              t->name, code, live->partitions[0].replica_cnt, (int)t->replication_factor);
    return add_alter(out, &a, &b, code, t->name, err);
}

/* Declared topics the broker lacks are created; the others are compared by their counts. */
static int plan_topics(const pool_state *s, const char *code, fk_alter_list *out, fk_error *err)
{
    size_t i;
    for (i = 0; i < s->declared_count; i++) {
        const fk_topic_spec *t = &s->declared[i];
        const rd_kafka_metadata_topic_t *live = find_topic(s->md, t->name);
        if (!(live ? plan_partitions(t, live, code, out, err) && plan_replication(t, live, code, out, err)
                   : plan_create(t, code, out, err)))
            return 0;
    }
    return 1;
}

/* One alter with every declared config of t whose value on the broker (have) differs. */
static int plan_config_alter(const fk_topic_spec *t, const fk_kvlist *have, const char *code,
                             fk_alter_list *out, fk_error *err)
{
    fk_alter a = { 0 };
    strbuf b = { 0 };
    size_t j;
    sb_printf(&b, "Alter topic '%s' in pool '%s' config", t->name, code);
    for (j = 0; j < t->configs.count; j++) {
        const char *k = t->configs.keys[j], *want = t->configs.values[j], *now = fk_kvlist_get(have, k);
        if (config_values_equal(k, want, now)) continue;
        sb_printf(&b, "%s %s: %s -> %s", a.configs.count ? "," : "", k, now ? now : "(unset)",
                  normalized_value(k, want));
        if (!fk_kvlist_set(&a.configs, k, normalized_value(k, want)) ||
            !fk_kvlist_set(&a.old_values, k, now ? now : "")) {
            fk_alter_clear(&a);
            free(b.s);
            return plan_oom(err);
        }
    }
    if (a.configs.count == 0) {
        free(b.s);
        return 1;
    }
    a.kind = FK_ALTER_TOPIC_CONFIG;
    return add_alter(out, &a, &b, code, t->name, err);
}

/* The configs of the declared topics that exist: one DescribeConfigs for all of them. */
static int plan_configs(const pool_state *s, const char *code, fk_alter_list *out, fk_error *err)
{
    const fk_topic_spec **topics = calloc(s->declared_count + 1, sizeof *topics);
    const char **names = calloc(s->declared_count + 1, sizeof *names);
    fk_kvlist *values = NULL;
    size_t n = 0, i;
    int ok = topics && names ? 1 : plan_oom(err);
    for (i = 0; ok && i < s->declared_count; i++) {
        if (!s->declared[i].configs.count || !find_topic(s->md, s->declared[i].name)) continue;
        topics[n] = &s->declared[i];
        names[n++] = s->declared[i].name;
    }
    if (ok && n) {
        ok = (values = calloc(n, sizeof *values)) ? describe_topics(s->rk, code, names, n, values, NULL, err)
                                                  : plan_oom(err);
        for (i = 0; ok && i < n; i++) ok = plan_config_alter(topics[i], &values[i], code, out, err);
    }
    for (i = 0; values && i < n; i++) fk_kvlist_clear(&values[i]);
    free(values);
    free(names);
    free(topics);
    return ok;
}

/* ---------------------------------------------------------------- broker checks ---- */

/* Keeps the broker's refusal (e, msg) of the alter of `kind` named `name` among out's items
   from `from` on; nothing when e is 0. */
static int note_refusal(fk_alter_list *out, size_t from, fk_alter_kind kind, const char *name,
                        rd_kafka_resp_err_t e, const char *msg, fk_error *err)
{
    size_t i;
    if (!e) return 1;
    for (i = from; i < out->count; i++) {
        fk_alter *a = &out->items[i];
        if (a->kind != kind || strcmp(a->name, name) != 0) continue;
        if (!fk_set_string(&a->refusal, msg && *msg ? msg : rd_kafka_err2str(e)) ||
            !fk_set_string(&a->refusal_code, rd_kafka_err2name(e)))
            return plan_oom(err);
    }
    return 1;
}

/* Sends items (NewTopics to create, or ConfigResources to alter) of pool `code` in one
   validate-only request: the broker checks them and changes nothing. Its result event. */
static rd_kafka_event_t *validate(rd_kafka_t *rk, rd_kafka_admin_op_t op, void *items, size_t n,
                                  const char *code, fk_error *err)
{
    char errstr[256], what[300];
    admin_call c;
    snprintf(what, sizeof what, "cannot check the %s of kafka pool '%s' with the broker",
             op == RD_KAFKA_ADMIN_OP_CREATETOPICS ? "new topics" : "config changes", code);
    admin_begin(&c, rk, op);
    rd_kafka_AdminOptions_set_validate_only(c.options, 1, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS) rd_kafka_CreateTopics(rk, items, n, c.options, c.queue);
    else rd_kafka_AlterConfigs(rk, items, n, c.options, c.queue);
    return admin_end(&c, what, err);
}

static int creates_refused(rd_kafka_t *rk, rd_kafka_NewTopic_t **nts, size_t count, const char *code,
                           fk_alter_list *out, size_t from, fk_error *err)
{
    rd_kafka_event_t *ev = validate(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, nts, count, code, err);
    const rd_kafka_topic_result_t **res;
    size_t n, i;
    int ok = ev != NULL;
    if (!ok) return 0;
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (i = 0; i < n && ok; i++)
        ok = note_refusal(out, from, FK_ALTER_CREATE_TOPIC, rd_kafka_topic_result_name(res[i]),
                          rd_kafka_topic_result_error(res[i]), rd_kafka_topic_result_error_string(res[i]), err);
    rd_kafka_event_destroy(ev);
    return ok;
}

/* The topics to create (out's items from `from` on), in one validate-only CreateTopics. */
static int check_creates(rd_kafka_t *rk, const char *code, fk_alter_list *out, size_t from, fk_error *err)
{
    rd_kafka_NewTopic_t **nts = calloc(out->count - from + 1, sizeof *nts);
    size_t n = 0, i;
    int ok = nts ? 1 : plan_oom(err);
    for (i = from; ok && i < out->count; i++) {
        fk_alter *a = &out->items[i];
        fk_error local;
        if (a->kind != FK_ALTER_CREATE_TOPIC) continue;
        /* refused before it could be sent: as the broker's refusal, it fails at apply */
        if (!(nts[n] = new_topic_of(a, a->name, &local)))
            ok = fk_set_string(&a->refusal, local.msg) && fk_set_string(&a->refusal_code, local.code) ? 1 : plan_oom(err);
        else
            n++;
    }
    if (ok && n) ok = creates_refused(rk, nts, n, code, out, from, err);
    for (i = 0; i < n; i++) rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    return ok;
}

static int configs_refused(rd_kafka_t *rk, rd_kafka_ConfigResource_t **crs, size_t count, const char *code,
                           fk_alter_list *out, size_t from, fk_error *err)
{
    rd_kafka_event_t *ev = validate(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, crs, count, code, err);
    const rd_kafka_ConfigResource_t **res;
    size_t n, i;
    int ok = ev != NULL;
    if (!ok) return 0;
    res = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    for (i = 0; i < n && ok; i++)
        ok = note_refusal(out, from, FK_ALTER_TOPIC_CONFIG, rd_kafka_ConfigResource_name(res[i]),
                          rd_kafka_ConfigResource_error(res[i]), rd_kafka_ConfigResource_error_string(res[i]), err);
    rd_kafka_event_destroy(ev);
    return ok;
}

/* The config changes (out's items from `from` on), in one validate-only AlterConfigs. Only
   the changed keys are sent: the topic's other overrides are on the broker, valid already. */
static int check_configs(rd_kafka_t *rk, const char *code, fk_alter_list *out, size_t from, fk_error *err)
{
    rd_kafka_ConfigResource_t **crs = calloc(out->count - from + 1, sizeof *crs);
    size_t n = 0, i, j;
    int ok = crs ? 1 : plan_oom(err);
    for (i = from; ok && i < out->count; i++) {
        const fk_alter *a = &out->items[i];
        if (a->kind != FK_ALTER_TOPIC_CONFIG) continue;
        crs[n] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, a->name);
        for (j = 0; j < a->configs.count; j++)
            rd_kafka_ConfigResource_set_config(crs[n], a->configs.keys[j], a->configs.values[j]);
        n++;
    }
    if (ok && n) ok = configs_refused(rk, crs, n, code, out, from, err);
    if (crs) rd_kafka_ConfigResource_destroy_array(crs, n);
    free(crs);
    return ok;
}

/* One alter per name, sorted so that a plan reads the same every time. */
static int plan_deletions(const char **names, size_t n, fk_alter_kind kind, const char *what, const char *code,
                          fk_alter_list *out, fk_error *err)
{
    size_t i;
    qsort(names, n, sizeof *names, cmp_str);
    for (i = 0; i < n; i++) {
        fk_alter a = { 0 };
        strbuf b = { 0 };
        a.kind = kind;
        sb_printf(&b, "Delete %s '%s' in pool '%s' (not registered)", what, names[i], code);
        if (!add_alter(out, &a, &b, code, names[i], err)) return 0;
    }
    return 1;
}

/* Topics on the broker that no pool on the same cluster registered. */
static int plan_topic_deletions(pool_state *states, size_t n, size_t self, const char *code,
                                fk_alter_list *out, fk_error *err)
{
    const struct rd_kafka_metadata *md = states[self].md;
    const char **victims = calloc((size_t)md->topic_cnt + 1, sizeof *victims);
    size_t count = 0;
    int t, ok;
    if (!victims) return plan_oom(err);
    for (t = 0; t < md->topic_cnt; t++)
        if (md->topics[t].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
            !topic_protected(states, n, self, md->topics[t].topic))
            victims[count++] = md->topics[t].topic;
    ok = plan_deletions(victims, count, FK_ALTER_DELETE_TOPIC, "topic", code, out, err);
    free(victims);
    return ok;
}

/* Consumer groups on the broker that nobody registered. */
static int plan_group_deletions(const fk_registry *r, pool_state *states, size_t n, size_t self, const char *code,
                                fk_alter_list *out, fk_error *err)
{
    const fk_strlist *groups = &states[self].groups;
    const char **victims = calloc(groups->count + 1, sizeof *victims);
    size_t count = 0, i;
    int ok;
    if (!victims) return plan_oom(err);
    for (i = 0; i < groups->count; i++)
        if (!group_protected(r, states, n, self, groups->items[i])) victims[count++] = groups->items[i];
    ok = plan_deletions(victims, count, FK_ALTER_DELETE_GROUP, "consumer group", code, out, err);
    free(victims);
    return ok;
}

/* A pool's alters: topics to create or grow, configs (those two checked by the broker), then
   deletions (topics, then groups). */
static int plan_pool(const fk_registry *r, pool_state *states, size_t n, size_t self,
                     fk_alter_list *out, fk_error *err)
{
    pool_state *s = &states[self];
    const char *code = fk_pool_spec_of(s->pool)->code;
    size_t from = out->count;
    if (s->managed && !(plan_topics(s, code, out, err) && plan_configs(s, code, out, err) &&
                        check_creates(s->rk, code, out, from, err) && check_configs(s->rk, code, out, from, err) &&
                        plan_topic_deletions(states, n, self, code, out, err)))
        return 0;
    return plan_group_deletions(r, states, n, self, code, out, err);
}

/* admins[i]: the admin client of pool i */
static int plan(fk_engine *e, rd_kafka_t *const *admins, fk_alter_list *out, fk_error *err)
{
    const fk_registry *r = fk_engine_registry(e);
    size_t n = fk_engine_pool_count(e), i;
    pool_state *states = calloc(n + 1, sizeof *states);
    size_t first_new = out->count;
    int ok = 1;

    if (!states) {
        fk_error_set(err, "_NO_MEMORY", "get_kafka_alters: out of memory");
        return 0;
    }
    for (i = 0; i < n && ok; i++) ok = read_state(fk_engine_pool_at(e, i), admins[i], &states[i], r, err);
    for (i = 0; i < n && ok; i++) ok = plan_pool(r, states, n, i, out, err);
    for (i = 0; i < n; i++) pool_state_clear(&states[i]);
    free(states);
    if (!ok) {
        /* all or nothing: a half plan would read as "nothing else to do" */
        while (out->count > first_new) fk_alter_clear(&out->items[--out->count]);
    }
    return ok;
}

int fk_get_alters(fk_engine *e, fk_alter_list *out, fk_error *err)
{
    size_t n = fk_engine_pool_count(e), i;
    rd_kafka_t **admins = calloc(n + 1, sizeof *admins);
    int ok = admins != NULL;
    if (!ok) fk_error_set(err, "_NO_MEMORY", "get_kafka_alters: out of memory");
    for (i = 0; i < n && ok; i++) ok = (admins[i] = fk_pool_admin(fk_engine_pool_at(e, i), err)) != NULL;
    if (ok) ok = plan(e, admins, out, err);
    free(admins);
    return ok;
}

/* ---------------------------------------------------------------- execution ---- */

typedef int (*settled_fn)(const struct rd_kafka_metadata *md, const fk_alter *a);

static int topic_ready(const struct rd_kafka_metadata *md, const fk_alter *a)
{
    const rd_kafka_metadata_topic_t *t = find_topic(md, a->name);
    int i;
    if (!t || t->err || t->partition_cnt == 0) return 0;
    if (a->partitions > 0 && t->partition_cnt < a->partitions) return 0;
    for (i = 0; i < t->partition_cnt; i++)
        if (t->partitions[i].leader < 0 || t->partitions[i].err) return 0;
    return 1;
}

static int topic_gone(const struct rd_kafka_metadata *md, const fk_alter *a)
{
    return find_topic(md, a->name) == NULL;
}

/* Polls metadata until settled(md, a) holds; the broker applies admin requests
   asynchronously and the next plan must not see a half-done change. */
static int wait_settled(rd_kafka_t *rk, const fk_alter *a, settled_fn settled, const char *what,
                        fk_error *err)
{
    long long deadline = fk_now_ms() + SETTLE_TIMEOUT_MS;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int done = settled(md, a);
            rd_kafka_metadata_destroy(md);
            if (done) return 1;
        }
        if (fk_job_stopping(err)) return 0;
        if (fk_now_ms() > deadline) {
            fk_error_set_rd(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "%s: the broker accepted it but did not show it within %d s",
                            what, SETTLE_TIMEOUT_MS / 1000);
            return 0;
        }
        rd_kafka_poll(rk, 100);
    }
}

static int topic_result_ok(const rd_kafka_topic_result_t **res, size_t n, rd_kafka_resp_err_t harmless,
                           const char *what, fk_error *err)
{
    size_t i;
    for (i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != harmless) {
            const char *msg = rd_kafka_topic_result_error_string(res[i]);
            fk_error_set(err, rd_kafka_err2name(e), "%s: %s", what, msg ? msg : rd_kafka_err2str(e));
            err->rd_err = e;
            return 0;
        }
    }
    return 1;
}

static int exec_create(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_result_t **res;
    size_t n;
    int ok;
    rd_kafka_NewTopic_t *nt = new_topic_of(a, what, err);
    if (!nt) return 0;
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, c.options, c.queue);
    rd_kafka_NewTopic_destroy(nt);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    ok = topic_result_ok(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, what, err);
    rd_kafka_event_destroy(ev);
    return ok && wait_settled(rk, a, topic_ready, what, err);
}

static int exec_add_partitions(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    char errstr[512];
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_result_t **res;
    size_t n;
    int ok;
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(a->name, (size_t)a->partitions, errstr, sizeof errstr);
    if (!np) {
        fk_error_set(err, "INVALID_REQUEST", "%s: %s", what, errstr);
        return 0;
    }
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(rk, &np, 1, c.options, c.queue);
    rd_kafka_NewPartitions_destroy(np);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    ok = topic_result_ok(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, what, err);
    rd_kafka_event_destroy(ev);
    return ok && wait_settled(rk, a, topic_ready, what, err);
}

static int delete_topic_once(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_result_t **res;
    size_t n;
    int ok;
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(a->name);
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, &dt, 1, c.options, c.queue);
    rd_kafka_DeleteTopic_destroy(dt);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    /* already gone is what was asked for */
    ok = topic_result_ok(res, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, what, err);
    rd_kafka_event_destroy(ev);
    return ok && wait_settled(rk, a, topic_gone, what, err);
}

static int exec_delete_topic(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    /* A broker with auto.create.topics.enable can re-create a topic in the moment it is
       deleted (a metadata request racing the deletion). Check that it stays gone, and delete
       it again if it came back. */
    int attempt;
    for (attempt = 0; attempt < 3; attempt++) {
        long long quiet_until;
        int back = 0;
        if (!delete_topic_once(rk, a, what, err)) return 0;
        quiet_until = fk_now_ms() + 300;
        while (!back && fk_now_ms() < quiet_until) {
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_poll(rk, 200);
            if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                back = find_topic(md, a->name) != NULL;
                rd_kafka_metadata_destroy(md);
            }
        }
        if (!back) return 1;
    }
    fk_error_set(err, "TOPIC_ALREADY_EXISTS",
                 "%s: the topic keeps coming back after deletion (a client is still producing to or "
                 "consuming from it and the broker auto-creates topics)", what);
    return 0;
}

static int exec_delete_group(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_group_result_t **res;
    size_t n, i;
    int ok = 1;
    rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(a->name);
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(rk, &dg, 1, c.options, c.queue);
    rd_kafka_DeleteGroup_destroy(dg);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    for (i = 0; i < n && ok; i++) {
        const rd_kafka_error_t *ge = rd_kafka_group_result_error(res[i]);
        /* gone already (a group without members loses itself with its last offsets, e.g.
           when its topic was deleted): the plan's goal is reached */
        if (!ge || rd_kafka_error_code(ge) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) continue;
        if (rd_kafka_error_code(ge) == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP)
            fk_error_set(err, "NON_EMPTY_GROUP", "%s: the group has active members; stop them first", what);
        else
            fk_error_set(err, rd_kafka_error_name(ge), "%s: %s", what, rd_kafka_error_string(ge));
        err->rd_err = rd_kafka_error_code(ge);
        ok = 0;
    }
    rd_kafka_event_destroy(ev);
    return ok;
}

static int exec_config(rd_kafka_t *rk, const fk_alter *a, const char *what, fk_error *err)
{
    fk_kvlist values = { 0 }, overrides = { 0 };
    rd_kafka_ConfigResource_t *cr;
    admin_call c;
    rd_kafka_event_t *ev;
    const rd_kafka_ConfigResource_t **res;
    const char *name = a->name;
    size_t n, i;
    int ok;
    long long deadline;

    /* librdkafka 2.0.2's AlterConfigs replaces the topic's whole set of overrides: read the
       ones it has now and send them back with the change */
    if (!describe_topics(rk, a->pool, &name, 1, &values, &overrides, err)) {
        fk_kvlist_clear(&values);
        fk_kvlist_clear(&overrides);
        return 0;
    }
    for (i = 0; i < a->configs.count; i++)
        if (!fk_kvlist_set(&overrides, a->configs.keys[i], a->configs.values[i])) {
            fk_kvlist_clear(&values);
            fk_kvlist_clear(&overrides);
            fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
            return 0;
        }
    cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, a->name);
    for (i = 0; i < overrides.count; i++)
        rd_kafka_ConfigResource_set_config(cr, overrides.keys[i], overrides.values[i]);
    fk_kvlist_clear(&values);
    fk_kvlist_clear(&overrides);
    admin_begin(&c, rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(rk, &cr, 1, c.options, c.queue);
    rd_kafka_ConfigResource_destroy(cr);
    if (!(ev = admin_end(&c, what, err))) return 0;
    res = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    ok = 1;
    for (i = 0; i < n && ok; i++)
        if (rd_kafka_ConfigResource_error(res[i])) {
            fk_error_set(err, rd_kafka_err2name(rd_kafka_ConfigResource_error(res[i])), "%s: %s", what,
                         rd_kafka_ConfigResource_error_string(res[i]));
            err->rd_err = rd_kafka_ConfigResource_error(res[i]);
            ok = 0;
        }
    rd_kafka_event_destroy(ev);
    if (!ok) return 0;

    /* wait until a describe shows every new value */
    deadline = fk_now_ms() + SETTLE_TIMEOUT_MS;
    for (;;) {
        fk_kvlist now = { 0 };
        int settled = describe_topics(rk, a->pool, &name, 1, &now, NULL, err);
        for (i = 0; settled && i < a->configs.count; i++)
            if (!config_values_equal(a->configs.keys[i], a->configs.values[i], fk_kvlist_get(&now, a->configs.keys[i])))
                settled = 0;
        fk_kvlist_clear(&now);
        if (settled) return 1;
        if (fk_job_stopping(err)) return 0;
        if (fk_now_ms() > deadline) {
            fk_error_set_rd(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "%s: the broker accepted it but did not show it within %d s",
                            what, SETTLE_TIMEOUT_MS / 1000);
            return 0;
        }
        rd_kafka_poll(rk, 100);
    }
}

static int exec_on(rd_kafka_t *rk, const fk_alter *a, fk_error *err)
{
    char what[400];
    snprintf(what, sizeof what, "%s (%s '%s' in pool '%s') failed", fk_alter_kind_name(a->kind),
             a->kind == FK_ALTER_DELETE_GROUP ? "consumer group" : "topic", a->name, a->pool);
    switch (a->kind) {
    case FK_ALTER_CREATE_TOPIC:   return exec_create(rk, a, what, err);
    case FK_ALTER_ADD_PARTITIONS: return exec_add_partitions(rk, a, what, err);
    case FK_ALTER_TOPIC_CONFIG:   return exec_config(rk, a, what, err);
    case FK_ALTER_DELETE_TOPIC:   return exec_delete_topic(rk, a, what, err);
    case FK_ALTER_DELETE_GROUP:   return exec_delete_group(rk, a, what, err);
    default:                      return 1;
    }
}

/* The pool an alter is for, or NULL with err */
static fk_pool *pool_of_alter(fk_engine *e, const fk_alter *a, fk_error *err)
{
    fk_pool *p = fk_engine_pool(e, a->pool);
    if (!p) fk_error_set(err, NULL, "alter of unknown kafka pool '%s'", a->pool);
    return p;
}

int fk_alter_exec(fk_engine *e, const fk_alter *a, fk_error *err)
{
    fk_pool *p;
    rd_kafka_t *rk;
    if (fk_alter_is_warning(a)) return 1;
    if (!(p = pool_of_alter(e, a, err)) || !(rk = fk_pool_admin(p, err))) return 0;
    return exec_on(rk, a, err);
}

/* ------------------------------------------------------------------ as jobs ---- */

typedef struct admin_job {
    fk_job         job;
    fk_engine     *engine;
    fk_alter       alter;          /* exec: a copy, so the caller's may go meanwhile */
    fk_pool      **held;           /* pools whose admin client the job holds (every pool for a plan) */
    rd_kafka_t   **admins;         /* their admin clients, same order */
    size_t         held_count;
    fk_alter_list  alters;         /* plan: the answer */
} admin_job;

static void release_held(admin_job *j)
{
    size_t i;
    for (i = 0; i < j->held_count; i++) fk_pool_admin_release(j->held[i]);
    j->held_count = 0;
}

static void job_run(fk_job *job)
{
    admin_job *j = (admin_job *)job;
    job->ok = job->ops->kind == FK_JOB_ALTER_EXEC ? exec_on(j->admins[0], &j->alter, &job->err)
                                                  : plan(j->engine, j->admins, &j->alters, &job->err);
    /* released last: closing a pool waits for its holders, so the engine outlives the work */
    release_held(j);
}

static void job_destroy(fk_job *job)
{
    admin_job *j = (admin_job *)job;
    release_held(j);   /* never started */
    fk_alter_list_clear(&j->alters);
    fk_alter_clear(&j->alter);
    free(j->held);
    free(j->admins);
}

static const fk_job_ops plan_ops = { FK_JOB_GET_ALTERS, job_run, NULL, job_destroy };
static const fk_job_ops exec_ops = { FK_JOB_ALTER_EXEC, job_run, NULL, job_destroy };

static fk_job *job_start(fk_engine *e, const fk_alter *a, fk_error *err)
{
    const char *what = a ? "exec" : "get_kafka_alters";
    size_t n = a ? 1 : fk_engine_pool_count(e);
    admin_job *j = (admin_job *)fk_job_new(a ? &exec_ops : &plan_ops, sizeof *j, what, err);
    if (!j) return NULL;
    if (!(j->held = calloc(n + 1, sizeof *j->held)) || !(j->admins = calloc(n + 1, sizeof *j->admins)) ||
        (a && !fk_alter_copy(&j->alter, a))) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
        fk_job_free(&j->job);
        return NULL;
    }
    j->engine = e;
    if (a && fk_alter_is_warning(a)) {   /* nothing to do: answered at once */
        j->job.ok = 1;
        return &j->job;
    }
    while (j->held_count < n) {
        fk_pool *p = a ? pool_of_alter(e, a, err) : fk_engine_pool_at(e, j->held_count);
        rd_kafka_t *rk = p ? fk_pool_admin_hold(p, err) : NULL;
        if (!rk) {
            fk_job_free(&j->job);
            return NULL;
        }
        j->held[j->held_count] = p;
        j->admins[j->held_count++] = rk;
    }
    return fk_job_start(&j->job, err);
}

fk_job *fk_get_alters_start(fk_engine *e, fk_error *err) { return job_start(e, NULL, err); }

fk_job *fk_alter_exec_start(fk_engine *e, const fk_alter *a, fk_error *err)
{
    return job_start(e, a, err);
}

int fk_job_take_alters(fk_job *job, fk_alter_list *out)
{
    admin_job *j = (admin_job *)job;
    if (job->ops != &plan_ops || !job->ended || !job->ok) return 0;
    *out = j->alters;
    memset(&j->alters, 0, sizeof j->alters);
    return 1;
}
