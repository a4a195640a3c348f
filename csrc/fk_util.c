/* Errors, owned string containers and the copy/clear functions of the specifications. */
#include "fk_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void fk_error_clear(fk_error *e)
{
    if (!e) return;
    e->rd_err = 0;
    e->code[0] = '\0';
    e->msg[0] = '\0';
}

void fk_error_set(fk_error *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    if (!e) return;
    e->rd_err = 0;
    snprintf(e->code, sizeof e->code, "%s", code ? code : "INVALID_ARG");
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    fk_mask_secrets(e->msg);
}

void fk_error_set_rd(fk_error *e, int rd_err, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    if (!e) return;
    e->rd_err = rd_err;
    snprintf(e->code, sizeof e->code, "%s", rd_kafka_err2name((rd_kafka_resp_err_t)rd_err));
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    if (n < sizeof e->msg)
        snprintf(e->msg + n, sizeof e->msg - n, ": %s",
                 rd_kafka_err2str((rd_kafka_resp_err_t)rd_err));
    fk_mask_secrets(e->msg);
}

void fk_error_append(fk_error *e, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    if (!e) return;
    n = strlen(e->msg);
    if (n + 1 >= sizeof e->msg) return;
    va_start(ap, fmt);
    vsnprintf(e->msg + n, sizeof e->msg - n, fmt, ap);
    va_end(ap);
}

const char *fk_librdkafka_version(void)
{
    return rd_kafka_version_str();
}

/* getpid() is a system call; produce asks on every record whether it still runs in the
   process that made its client. The answer is cached and refreshed in a fork child. */
static pid_t           cached_pid;
static pthread_once_t  pid_once = PTHREAD_ONCE_INIT;

static void refresh_pid(void) { cached_pid = getpid(); }

static void init_pid(void)
{
    cached_pid = getpid();
    pthread_atfork(NULL, NULL, refresh_pid);
}

pid_t fk_process_id(void)
{
    pthread_once(&pid_once, init_pid);
    return cached_pid;
}

const char *fk_err_name(int rd_err) { return rd_kafka_err2name((rd_kafka_resp_err_t)rd_err); }
const char *fk_err_description(int rd_err) { return rd_kafka_err2str((rd_kafka_resp_err_t)rd_err); }

char *fk_strdup(const char *s)
{
    size_t n;
    char *d;
    if (!s) return NULL;
    n = strlen(s) + 1;
    d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Copies src into *dst (freeing what *dst held). NULL copies as NULL. 0 on out-of-memory. */
int fk_set_string(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && !(copy = fk_strdup(src))) return 0;
    free(*dst);
    *dst = copy;
    return 1;
}

/* Overwrites a secret before freeing it, so it does not linger in freed heap memory. */
void fk_free_secret(char *s)
{
    if (!s) return;
    volatile char *v = s;
    while (*v) *v++ = '\0';
    free(s);
}

int fk_grow(void **items, size_t *cap, size_t count, size_t item_size)
{
    size_t ncap;
    void *n;
    if (count < *cap) return 1;
    ncap = *cap ? *cap * 2 : 4;
    n = realloc(*items, ncap * item_size);
    if (!n) return 0;
    *items = n;
    *cap = ncap;
    return 1;
}

/* ---- fk_strlist ---- */

int fk_strlist_push(fk_strlist *l, const char *s)
{
    char *copy;
    if (!fk_grow((void **)&l->items, &l->cap, l->count, sizeof *l->items)) return 0;
    if (!(copy = fk_strdup(s ? s : ""))) return 0;
    l->items[l->count++] = copy;
    return 1;
}

int fk_strlist_contains(const fk_strlist *l, const char *s)
{
    size_t i;
    for (i = 0; i < l->count; i++)
        if (strcmp(l->items[i], s) == 0) return 1;
    return 0;
}

/* `*` matches any run of characters (also none); every other character matches itself. */
int fk_glob_match(const char *pattern, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pattern == '*') {
            star = pattern++;
            resume = s;
        } else if (*pattern == *s) {
            pattern++;
            s++;
        } else if (star) {
            pattern = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*') pattern++;
    return *pattern == '\0';
}

void fk_brokers_text(const fk_pool_spec *spec, char *buf, size_t len)
{
    size_t i, n = 0;
    buf[0] = '\0';
    for (i = 0; i < spec->brokers.count && n + 1 < len; i++) {
        int w = snprintf(buf + n, len - n, "%s%s", i ? "," : "", spec->brokers.items[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
}

int fk_strlist_match(const fk_strlist *patterns, const char *s)
{
    size_t i;
    for (i = 0; i < patterns->count; i++)
        if (fk_glob_match(patterns->items[i], s)) return 1;
    return 0;
}

/* A key folded for comparison: lower case, without '_', '-' or '.', without a trailing "ms"
   (so client_id ~ clientID and producerLingerMs ~ producer_linger). */
static void fold_key(const char *key, char *out, size_t cap)
{
    size_t n = 0;
    for (; *key && n + 1 < cap; key++) {
        char c = *key;
        if (c == '_' || c == '-' || c == '.') continue;
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    if (n > 2 && strcmp(out + n - 2, "ms") == 0) out[n - 2] = '\0';
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, row[65];
    if (la > 64 || lb > 64) return (size_t)-1;
    for (j = 0; j <= lb; j++) row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

const char *fk_suggest(const char *key, const char *const *known, const char *const *aliases)
{
    char fk[128], fc[128];
    const char *best = NULL;
    size_t best_d = 3, i, d;
    fold_key(key, fk, sizeof fk);
    for (i = 0; known[i]; i++) {
        fold_key(known[i], fc, sizeof fc);
        if (strcmp(fk, fc) == 0) return known[i];
    }
    /* the other spelling of the same option (a YAML key given as a Lua option, ...) */
    for (i = 0; aliases && known[i]; i++) {
        if (!aliases[i] || !*aliases[i]) continue;
        fold_key(aliases[i], fc, sizeof fc);
        if (strcmp(fk, fc) == 0) return known[i];
    }
    for (i = 0; known[i]; i++) {
        fold_key(known[i], fc, sizeof fc);
        d = edit_distance(fk, fc);
        if (d < best_d && d * 3 <= strlen(fc)) {
            best_d = d;
            best = known[i];
        }
    }
    return best;
}

int fk_strlist_copy(fk_strlist *dst, const fk_strlist *src)
{
    size_t i;
    for (i = 0; i < src->count; i++)
        if (!fk_strlist_push(dst, src->items[i])) return 0;
    return 1;
}

void fk_strlist_clear(fk_strlist *l)
{
    size_t i;
    for (i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

/* ---- fk_kvlist ---- */

int fk_kvlist_set(fk_kvlist *l, const char *key, const char *value)
{
    size_t i;
    char *k, *v;
    for (i = 0; i < l->count; i++)
        if (strcmp(l->keys[i], key) == 0) return fk_set_string(&l->values[i], value);
    if (!fk_grow((void **)&l->keys, &l->cap, l->count, sizeof *l->keys)) return 0;
    {
        /* values grows in lock step with keys */
        char **nv = realloc(l->values, l->cap * sizeof *l->values);
        if (!nv) return 0;
        l->values = nv;
    }
    k = fk_strdup(key);
    v = fk_strdup(value ? value : "");
    if (!k || !v) { free(k); free(v); return 0; }
    l->keys[l->count] = k;
    l->values[l->count] = v;
    l->count++;
    return 1;
}

const char *fk_kvlist_get(const fk_kvlist *l, const char *key)
{
    size_t i;
    for (i = 0; i < l->count; i++)
        if (strcmp(l->keys[i], key) == 0) return l->values[i];
    return NULL;
}

int fk_kvlist_copy(fk_kvlist *dst, const fk_kvlist *src)
{
    size_t i;
    for (i = 0; i < src->count; i++)
        if (!fk_kvlist_set(dst, src->keys[i], src->values[i])) return 0;
    return 1;
}

void fk_kvlist_clear(fk_kvlist *l)
{
    size_t i;
    for (i = 0; i < l->count; i++) { free(l->keys[i]); free(l->values[i]); }
    free(l->keys);
    free(l->values);
    l->keys = l->values = NULL;
    l->count = l->cap = 0;
}

/* ---- partition lists ---- */

int fk_partitions_add(fk_partitions *l, const char *topic, int32_t partition, int64_t offset)
{
    fk_partition *p;
    if (!fk_grow((void **)&l->items, &l->cap, l->count, sizeof *l->items)) return 0;
    p = &l->items[l->count];
    memset(p, 0, sizeof *p);
    if (!(p->topic = fk_strdup(topic ? topic : ""))) return 0;
    p->partition = partition;
    p->offset = offset;
    l->count++;
    return 1;
}

void fk_partitions_clear(fk_partitions *l)
{
    size_t i;
    for (i = 0; i < l->count; i++) free(l->items[i].topic);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

static void *thread_main(void *arg)
{
    fk_thread *t = arg;
    t->fn(t->arg);
    pthread_mutex_lock(&t->lock);
    __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int fk_thread_start(fk_thread *t, void (*fn)(void *), void *arg)
{
    pthread_condattr_t attr;
    t->fn = fn;
    t->arg = arg;
    t->done = 0;
    /* monotonic: a bounded wait must not stretch when the wall clock is set back */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, &attr);
    pthread_condattr_destroy(&attr);
    t->running = pthread_create(&t->id, NULL, thread_main, t) == 0;
    if (!t->running) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
    }
    return t->running;
}

int fk_thread_ended(fk_thread *t)
{
    if (!t->running) return 1;
    if (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) return 0;
    fk_thread_join(t);
    return 1;
}

int fk_thread_wait(fk_thread *t, int timeout_ms)
{
    struct timespec until;
    if (!t->running || timeout_ms == 0) return fk_thread_ended(t);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->lock);
    while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) {
        if (timeout_ms < 0) pthread_cond_wait(&t->cond, &t->lock);
        else if (pthread_cond_timedwait(&t->cond, &t->lock, &until) != 0) break;
    }
    pthread_mutex_unlock(&t->lock);
    return fk_thread_ended(t);
}

void fk_thread_join(fk_thread *t)
{
    if (!t->running) return;
    pthread_join(t->id, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    t->running = 0;
}
