/* Configuration documents: the one validation that turns a document tree (from YAML or from
   a binding's table) into registrations, all or nothing. */
#include "fk_internal.h"
#include "fk_config.h"
#include "fk_options.h"

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
static int check_keys(const fk_doc *map, const fk_option *rows, path *p, fk_error *err)
{
    size_t i;
    for (i = 0; i < map->count; i++) {
        char what[300];
        const char *hint;
        if (fk_option_find(rows, map->keys[i], FK_NAME_YAML)) continue;
        hint = fk_option_suggest(rows, map->keys[i], FK_NAME_YAML);
        if (hint)
            snprintf(what, sizeof what, "unknown key '%.100s' (did you mean '%s'?)", map->keys[i], hint);
        else
            snprintf(what, sizeof what, "unknown key '%.100s'", map->keys[i]);
        return fail_at(err, p, map->items[i], what);
    }
    return 1;
}

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

/* A map of names to scalar values (topic configs, raw librdkafka properties). */
static int want_kvmap(const fk_doc *v, const char *names, path *p, fk_error *err, fk_kvlist *out)
{
    size_t i;
    char what[120];
    if (v->type != FK_DOC_MAP) {
        snprintf(what, sizeof what, "expected a map of %s to values", names);
        return fail_at(err, p, v, what);
    }
    for (i = 0; i < v->count; i++) {
        size_t len = strlen(p->text);
        const fk_doc *c = v->items[i];
        path_push(p, ".%s", v->keys[i], 0);
        if (c->type != FK_DOC_SCALAR || c->kind == FK_SCALAR_NULL)
            return fail_at(err, p, c, "expected a value (string or number)");
        path_cut(p, len);
        if (!fk_kvlist_set(out, v->keys[i], c->text)) return fail_at(err, p, c, "out of memory");
    }
    return 1;
}

static int oom(fk_error *err)
{
    fk_error_set(err, "_NO_MEMORY", "out of memory");
    return 0;
}

/* The value at key, with the key added to the path; NULL (path unchanged) when absent. */
static const fk_doc *enter(const fk_doc *map, const char *key, path *p)
{
    const fk_doc *v = doc_get(map, key);
    if (v) path_push(p, ".%s", key, 0);
    return v;
}

static int load_choice(const fk_option *row, const fk_doc *v, const path *p, fk_error *err, void *base)
{
    const char *s;
    char choices[300], what[400];
    if (!want_string(v, p, err, &s)) return 0;
    if (fk_option_choice(row, s) < 0) {
        fk_option_choices_text(choices, sizeof choices, row, row->noun ? ", " : " or ");
        if (row->noun) snprintf(what, sizeof what, "unknown %s '%.60s' (known: %s)", row->noun, s, choices);
        else snprintf(what, sizeof what, "expected %s, got '%.60s'", choices, s);
        return fail_at(err, p, v, what);
    }
    return fk_option_set_text(row, base, s) || oom(err);
}

static int load_start(const fk_doc *v, const path *p, fk_error *err, fk_group_spec *g)
{
    const char *s;
    if (v->type == FK_DOC_SCALAR && v->kind == FK_SCALAR_NUMBER) {
        char *end;
        long long ms = strtoll(v->text, &end, 10);
        if (*end || ms <= 0)
            return fail_at(err, p, v, "expected earliest, latest or a timestamp (a positive whole number of "
                           "milliseconds since the epoch)");
        g->start_timestamp_ms = ms;
        return 1;
    }
    if (!want_string(v, p, err, &s)) return 0;
    if (strcmp(s, "earliest") != 0 && strcmp(s, "latest") != 0)
        return fail_at(err, p, v, "expected earliest, latest or a timestamp in milliseconds since the epoch");
    g->start_latest = strcmp(s, "latest") == 0;
    return 1;
}

static int load_rows(const fk_option *rows, const fk_doc *map, int required, path *p, fk_error *err, void *base);

/* A section in a map of its own (tls). */
static int load_section(const fk_option *row, const fk_doc *v, path *p, fk_error *err, void *base)
{
    char keys[200], what[260];
    if (v->type != FK_DOC_MAP) {
        fk_option_join_names(keys, sizeof keys, row->sub, FK_NAME_YAML, ", ", ", ", "", "");
        snprintf(what, sizeof what, "expected a map (%s)", keys);
        return fail_at(err, p, v, what);
    }
    if (!check_keys(v, row->sub, p, err)) return 0;
    if (row->type == FK_FIELD_INT) fk_option_set_number(row, base, 1);
    return load_rows(row->sub, v, 1, p, err, base);
}

/* A section whose keys sit in the pool's map (saslMechanism, saslUser, saslPassword) comes
   whole or not at all: its required key and the others need each other. */
static int check_flat(const fk_option *row, const fk_doc *map, const path *p, fk_error *err, const void *base)
{
    const char *others[16];
    const fk_option *sub, *key = NULL;
    size_t n = 0, given = 0;
    char list[200], what[300];
    for (sub = row->sub; !fk_option_end(sub) && n < 16; sub++) {
        if (sub->flags & FK_OPT_REQUIRED) {
            key = sub;
            continue;
        }
        others[n++] = sub->yaml;
        given += fk_option_is_set(sub, base) != 0;
    }
    if (!key) return 1;
    fk_option_join(list, sizeof list, others, n, ", ", " and ", "", "");
    if (!fk_option_is_set(key, base) && given)
        snprintf(what, sizeof what, "%s need %s", list, key->yaml);
    else if (fk_option_is_set(key, base) && given < n)
        snprintf(what, sizeof what, "%s needs %s", key->yaml, list);
    else
        return 1;
    return fail_at(err, p, map, what);
}

static int load_value(const fk_option *row, const fk_doc *v, path *p, fk_error *err, void *base)
{
    const char *s;
    long long n = 0;
    int b = 0;
    switch (row->kind) {
    case FK_OPT_STRING:
        if (!want_string(v, p, err, &s)) return 0;
        if ((row->flags & FK_OPT_TOPIC_NAME) && !fk_topic_name_valid(s, NULL))
            return fail_at(err, p, v, "not a valid Kafka topic name");
        return fk_option_set_text(row, base, s) || oom(err);
    case FK_OPT_INT:
    case FK_OPT_MS:
        return want_int(v, p, err, row->min, row->max, &n) && (fk_option_set_number(row, base, (double)n) || oom(err));
    case FK_OPT_BOOL:
        return want_bool(v, p, err, &b) && fk_option_set_number(row, base, b);
    case FK_OPT_ENUM:
        return load_choice(row, v, p, err, base);
    case FK_OPT_STRINGS:
        return want_strings(v, p, err, fk_option_field(row, base), row->flags & FK_OPT_REQUIRED);
    case FK_OPT_KV:
        return want_kvmap(v, row->noun, p, err, fk_option_field(row, base));
    case FK_OPT_NESTED:
        return load_section(row, v, p, err, base);
    case FK_OPT_START:
        return load_start(v, p, err, base);
    default:
        return 1;
    }
}

/* Every row of the map into base, in the table's order. `required`: refuse a missing
   required key (a flat section's key is checked by check_flat instead). */
static int load_rows(const fk_option *rows, const fk_doc *map, int required, path *p, fk_error *err, void *base)
{
    const fk_option *row;
    for (row = rows; !fk_option_end(row); row++) {
        const fk_doc *v;
        size_t len = strlen(p->text);
        char what[200];
        if (row->kind == FK_OPT_NESTED && (row->flags & FK_OPT_FLAT)) {
            if (!load_rows(row->sub, map, 0, p, err, base) || !check_flat(row, map, p, err, base)) return 0;
            continue;
        }
        if (!fk_option_name(row, FK_NAME_YAML) || row->kind == FK_OPT_STRUCTURE) continue;
        if (!(v = enter(map, row->yaml, p))) {
            if (!required || !(row->flags & FK_OPT_REQUIRED)) continue;
            snprintf(what, sizeof what, "missing required key '%s'", row->yaml);
            return fail_at(err, p, map, what);
        }
        if (!load_value(row, v, p, err, base)) return 0;
        path_cut(p, len);
    }
    return 1;
}

static int load_group(fk_registry *tmp, const char *pool, const fk_doc *g, path *p, fk_error *err)
{
    fk_group_spec spec;
    int ok;
    if (g->type != FK_DOC_MAP) return fail_at(err, p, g, "expected a map with name and topics");
    if (!check_keys(g, fk_group_option_rows, p, err)) return 0;
    fk_group_spec_init(&spec);
    ok = fk_set_string(&spec.pool, pool) ? load_rows(fk_group_option_rows, g, 1, p, err, &spec) : oom(err);
    if (ok && !(ok = fk_registry_add_group(tmp, &spec, err))) fail_at(err, p, g, err->msg);
    fk_group_spec_clear(&spec);
    return ok;
}

static int load_topic(fk_registry *tmp, const char *pool, const fk_doc *t, path *p, fk_error *err)
{
    fk_topic_spec spec;
    int ok;
    if (t->type != FK_DOC_MAP) return fail_at(err, p, t, "expected a map with a name");
    if (!check_keys(t, fk_topic_option_rows, p, err)) return 0;
    fk_topic_spec_init(&spec);
    ok = fk_set_string(&spec.pool, pool) ? load_rows(fk_topic_option_rows, t, 1, p, err, &spec) : oom(err);
    if (ok && !(ok = fk_registry_add_topic(tmp, &spec, err))) fail_at(err, p, t, err->msg);
    fk_topic_spec_clear(&spec);
    return ok;
}

/* A pool's consumerGroups (groups != 0) or topics: every item, and no name twice. */
static int load_list(fk_registry *tmp, const char *pool, const fk_doc *k, int groups, path *p, fk_error *err)
{
    const char *what = groups ? "consumer group" : "topic";
    size_t len = strlen(p->text), first = groups ? tmp->group_count : tmp->topic_count, i;
    const fk_doc *v = enter(k, groups ? "consumerGroups" : "topics", p);
    named *names;
    char msg[64];
    int ok;
    if (!v) return 1;
    if (!is_list(v)) {
        snprintf(msg, sizeof msg, "expected a list of %ss", what);
        return fail_at(err, p, v, msg);
    }
    for (i = 0; i < v->count; i++) {
        size_t item = strlen(p->text);
        path_push(p, "[%zu]", NULL, i + 1);
        if (!(groups ? load_group : load_topic)(tmp, pool, v->items[i], p, err)) return 0;
        path_cut(p, item);
    }
    if (v->count > 1) {
        if (!(names = malloc(v->count * sizeof *names))) return oom(err);
        for (i = 0; i < v->count; i++) {
            names[i].name = groups ? tmp->groups[first + i].name : tmp->topics[first + i].name;
            names[i].index = i;
        }
        ok = check_unique(names, v->count, v, what, p, err);
        free(names);
        if (!ok) return 0;
    }
    path_cut(p, len);
    return 1;
}

/* The optional code key repeats the pool code the section is listed under. */
static int load_code(const fk_doc *k, const char *code, path *p, fk_error *err)
{
    size_t len = strlen(p->text);
    const fk_doc *v = enter(k, "code", p);
    const char *s;
    if (!v) return 1;
    if (!want_string(v, p, err, &s)) return 0;
    if (strcmp(s, code) != 0) return fail_at(err, p, v, "differs from the pool code it is listed under");
    path_cut(p, len);
    return 1;
}

static int load_brokers(const fk_doc *k, fk_strlist *brokers, path *p, fk_error *err)
{
    size_t len = strlen(p->text);
    const fk_doc *v = enter(k, "brokers", p);
    if (!v) return fail_at(err, p, k, "missing required key 'brokers'");
    if (!want_strings(v, p, err, brokers, 1)) return 0;
    path_cut(p, len);
    return 1;
}

static int load_pool(fk_registry *tmp, const char *code, const fk_doc *k, path *p, fk_error *err)
{
    fk_pool_options o;
    fk_strlist brokers = { 0 };
    int ok;

    if (k->type != FK_DOC_MAP) return fail_at(err, p, k, "expected a map");
    if (!check_keys(k, fk_pool_option_rows, p, err)) return 0;
    fk_pool_options_init(&o);
    ok = load_code(k, code, p, err) && load_brokers(k, &brokers, p, err) &&
         load_rows(fk_pool_option_rows, k, 1, p, err, &o);
    if (ok && !(ok = fk_registry_add_pool(tmp, code, &brokers, &o, err))) fail_at(err, p, k, err->msg);
    ok = ok && load_list(tmp, code, k, 1, p, err) && load_list(tmp, code, k, 0, p, err);
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
