/* Async SQL operations: the msgpack codec (on libmsgpack-c) for FluxaORM's FlushAsync
   records and the text forms of their typed parameters. See fk_async_sql.h. */
#include "fk_internal.h"
#include "fk_async_sql.h"

#include <msgpack.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OMITEMPTY ",omitempty"

/* ---------------------------------------------------------------- text forms ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int fk_sql_time_format(int64_t sec, int32_t nsec, char *out)
{
    int64_t days = sec / 86400, rem = sec % 86400, y;
    int m, d, n;
    if (nsec < 0 || nsec > 999999999) return 0;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    /* Go pads the year to 4 digits after its sign and writes longer years whole */
    n = snprintf(out, FK_SQL_TEXT_MAX, "%s%04lld-%02d-%02dT%02d:%02d:%02d", y < 0 ? "-" : "",
                 (long long)(y < 0 ? -y : y), m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (nsec) {
        /* nine digits, trailing zeros dropped (Go's RFC3339Nano) */
        int end;
        n += snprintf(out + n, (size_t)(FK_SQL_TEXT_MAX - n), ".%09d", (int)nsec);
        for (end = n; out[end - 1] == '0'; end--) {}
        n = end;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return 1;
}

static int digits(const char *s, size_t n, int *out)
{
    size_t i;
    int v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* The year of an RFC 3339 text: an optional '-' and 4 to 12 digits (Go's time.Format writes
   years beyond 9999 and before 0000 that way). Returns the length read, 0 when invalid. */
static size_t parse_year(const char *s, size_t len, int64_t *year)
{
    size_t i = s[0] == '-', first = i;
    int64_t y = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i - first == 12) return 0;
        y = y * 10 + (s[i] - '0');
    }
    if (i - first < 4) return 0;
    *year = first ? -y : y;
    return i;
}

int fk_sql_time_parse(const char *s, size_t len, int64_t *sec, int32_t *nsec)
{
    int mo, d, h, mi, se, frac = 0, off = 0;
    int64_t y, t;
    size_t i = len ? parse_year(s, len, &y) : 0;
    if (i == 0) return 0;
    s += i;
    len -= i;
    /* s is "-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" */
    if (len < 16 || s[0] != '-' || s[3] != '-' || (s[6] != 'T' && s[6] != 't') || s[9] != ':' || s[12] != ':')
        return 0;
    if (!digits(s + 1, 2, &mo) || !digits(s + 4, 2, &d) || !digits(s + 7, 2, &h) || !digits(s + 10, 2, &mi) ||
        !digits(s + 13, 2, &se))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59) return 0;
    i = 15;
    if (s[i] == '.') {
        int n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
            if (n >= 9) return 0;
            frac = frac * 10 + (s[i] - '0');
        }
        if (n == 0) return 0;
        for (; n < 9; n++) frac *= 10;
    }
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59) return 0;
        off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    } else {
        return 0;
    }
    /* 12-digit years reach past the int64 seconds */
    if (__builtin_mul_overflow(days_from_civil(y, mo, d), (int64_t)86400, &t) ||
        __builtin_add_overflow(t, (int64_t)(h * 3600 + mi * 60 + se - off), &t))
        return 0;
    *sec = t;
    *nsec = frac;
    return 1;
}

/* Whether an n-digit decimal reads back as v (finite, > 0); then *m x 10^*q is the nearest
   such. Only the nearest n-digit decimals below and above v are worth reading back: when
   neither does, no n-digit decimal does. The nearest of all (%.*e's) goes first, as Go
   picks it when several read back. */
static int digits_read_back(double v, int n, unsigned long long *m, int *q)
{
    static const unsigned long long pow10[18] = { 1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
        10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
        10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL };
    char buf[48], *p;
    unsigned long long cm[3] = { 0, 0, 0 };
    int cq[3], k;
    snprintf(buf, sizeof buf, "%.*e", n - 1, v);
    for (p = buf; *p != 'e'; p++)
        if (*p != '.') cm[0] = cm[0] * 10 + (unsigned long long)(*p - '0');
    cq[0] = atoi(p + 1) - (n - 1);   /* v ~ cm[0] x 10^cq[0] */
    cm[1] = cm[0] + 1, cq[1] = cq[0];
    if (cm[0] == pow10[n - 1]) cm[2] = pow10[n] - 1, cq[2] = cq[0] - 1;   /* below 10^k the grid is finer */
    else cm[2] = cm[0] - 1, cq[2] = cq[0];
    for (k = 0; k < 3; k++) {
        snprintf(buf, sizeof buf, "%llue%d", cm[k], cq[k]);
        if (strtod(buf, NULL) == v) {
            *m = cm[k];
            *q = cq[k];
            return 1;
        }
    }
    return 0;
}

/* The fewest significant digits that read back as v (finite, > 0): v ~ 0.D x 10^dp with D
   the nd digits. When n digits can, n + 1 can, so the count is searched by halves; 17
   always can. */
static void shortest_digits(double v, char *out, int *nd, int *dp)
{
    unsigned long long m = 0, mm;
    int lo = 1, hi = 17, q = 0, qq, len;
    digits_read_back(v, 17, &m, &q);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (digits_read_back(v, mid, &mm, &qq)) {
            hi = mid;
            m = mm;
            q = qq;
        } else {
            lo = mid + 1;
        }
    }
    len = snprintf(out, 24, "%llu", m);
    for (; len > 1 && out[len - 1] == '0'; len--) q++;
    *nd = len;
    *dp = len + q;
}

size_t fk_sql_float_format(double v, char fmt, char *out)
{
    char d[24];
    int nd = 0, dp = 0, exp, i;
    size_t n = 0;
    if (isnan(v)) return (size_t)sprintf(out, "NaN");
    if (isinf(v)) return (size_t)sprintf(out, v > 0 ? "+Inf" : "-Inf");
    if (signbit(v)) out[n++] = '-';
    if (v != 0) shortest_digits(fabs(v), d, &nd, &dp);
    exp = dp - 1;
    if (fmt == 'g' && nd > 0 && (exp < -4 || exp >= 6)) {
        /* Go's %e of the shortest digits: d.ddde-07, at least two exponent digits */
        out[n++] = d[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, d + 1, (size_t)nd - 1);
            n += (size_t)nd - 1;
        }
        return n + (size_t)sprintf(out + n, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    /* the digits laid out without exponent: zeros up to the point, or "0." and zeros */
    if (dp <= 0) out[n++] = '0';
    for (i = 0; i < dp; i++) out[n++] = i < nd ? d[i] : '0';
    if (nd > dp) {
        out[n++] = '.';
        for (i = dp < 0 ? dp : 0; i < 0; i++) out[n++] = '0';
        for (i = dp > 0 ? dp : 0; i < nd; i++) out[n++] = d[i];
    }
    out[n] = '\0';
    return n;
}

/* A NUL-terminated copy of a short text, for strtoll and friends. */
static int short_copy(const char *text, size_t len, char *buf, size_t cap)
{
    if (len == 0 || len >= cap || memchr(text, '\0', len)) return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return 1;
}

int fk_sql_param_valid(char type, const char *text, size_t len, fk_error *err)
{
    char buf[400], *end;
    const char *why = NULL;
    int64_t sec;
    int32_t nsec;
    switch (type) {
    case FK_SQL_STRING:
        return 1;
    case FK_SQL_INT:
    case FK_SQL_UINT:
        if (!short_copy(text, len, buf, 32) || (type == FK_SQL_UINT && buf[0] == '-') ||
            !((buf[0] >= '0' && buf[0] <= '9') || (buf[0] == '-' && buf[1] >= '0' && buf[1] <= '9'))) {
            why = type == FK_SQL_INT ? "is not a decimal integer" : "is not an unsigned decimal integer";
            break;
        }
        errno = 0;
        if (type == FK_SQL_INT) (void)strtoll(buf, &end, 10);
        else (void)strtoull(buf, &end, 10);
        if (*end) why = "is not a decimal integer";
        else if (errno == ERANGE) why = type == FK_SQL_INT ? "is out of the int64 range" : "is out of the uint64 range";
        break;
    case FK_SQL_FLOAT:
        if (!short_copy(text, len, buf, sizeof buf) || buf[0] == ' ' || buf[0] == '\t') {
            why = "is not a number";
            break;
        }
        (void)strtod(buf, &end);
        if (*end) why = "is not a number";
        break;
    case FK_SQL_BOOL:
        if (len != 1 || (text[0] != '1' && text[0] != '0')) why = "is not \"1\" or \"0\"";
        break;
    case FK_SQL_TIME:
        if (!fk_sql_time_parse(text, len, &sec, &nsec)) why = "is not an RFC 3339 time";
        break;
    default:
        if (err) fk_error_set(err, "_INVALID_ARG", "type '%c' is unknown (known: s, i, u, f, b, t)",
                              type >= 32 && type < 127 ? type : '?');
        return 0;
    }
    if (why && err)
        fk_error_set(err, "_INVALID_ARG", "value '%.60s' of type '%c' %s", short_copy(text, len, buf, 61) ? buf : "?",
                     type, why);
    return why == NULL;
}

/* ---------------------------------------------------------------- encoding ---- */

typedef struct packer {
    msgpack_packer pk;
    int            failed;   /* a write failed (out of memory) */
} packer;

static void put_str(packer *p, const char *s, size_t len)
{
    p->failed |= msgpack_pack_str(&p->pk, len) != 0;
    p->failed |= msgpack_pack_str_body(&p->pk, s, len) != 0;
}
#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static void put_param(packer *p, const fk_sql_param *prm)
{
    char t = prm->is_null ? 0 : prm->type;
    p->failed |= msgpack_pack_map(&p->pk, 3) != 0;
    PUT_LIT(p, "n" OMITEMPTY);
    p->failed |= (prm->is_null ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk)) != 0;
    PUT_LIT(p, "t" OMITEMPTY);
    put_str(p, &t, t ? 1 : 0);
    PUT_LIT(p, "v" OMITEMPTY);
    put_str(p, prm->is_null ? "" : prm->value.ptr, prm->is_null ? 0 : prm->value.len);
}

static int check_param(const fk_sql_param *prm, fk_error *err, const char *what, size_t op, size_t i,
                       size_t j)
{
    if (prm->is_null || fk_sql_param_valid(prm->type, prm->value.ptr, prm->value.len, err)) return 1;
    {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        fk_error_set(err, "_INVALID_ARG", "async SQL operation %zu: %s[%zu] parameter %zu: %.300s", op + 1,
                     what, i + 1, j + 1, msg);
    }
    return 0;
}

static int check_ops(const fk_async_op *ops, size_t n, fk_error *err)
{
    size_t k, i, j;
    if (n == 0) {
        fk_error_set(err, "_INVALID_ARG", "async SQL encode: no operation given");
        return 0;
    }
    for (k = 0; k < n; k++) {
        const fk_async_op *op = &ops[k];
        if (op->pool.len != ops[0].pool.len || memcmp(op->pool.ptr, ops[0].pool.ptr, op->pool.len) != 0) {
            fk_error_set(err, "_INVALID_ARG", "async SQL operation %zu: pool differs from the record's first operation", k + 1);
            return 0;
        }
        for (i = 0; i < op->query_count; i++)
            for (j = 0; j < op->queries[i].param_count; j++)
                if (!check_param(&op->queries[i].params[j], err, "queries", k, i, j)) return 0;
        for (i = 0; i < op->event_count; i++)
            for (j = 0; j < op->events[i].change_count; j++)
                if (!check_param(&op->events[i].changes[j].param, err, "events", k, i, j)) return 0;
    }
    return 1;
}

char *fk_async_sql_encode(const fk_async_op *ops, size_t n, size_t *len, fk_error *err)
{
    msgpack_sbuffer sb;
    packer p;
    size_t k, i, j, queries = 0, events = 0, redis = 0;
    int has_events = 0, has_redis = 0;

    if (!check_ops(ops, n, err)) return NULL;
    for (k = 0; k < n; k++) {
        queries += ops[k].query_count;
        events += ops[k].event_count;
        redis += ops[k].redis_count;
        has_events |= ops[k].has_events;
        has_redis |= ops[k].has_redis;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p.pk, &sb, msgpack_sbuffer_write);
    p.failed = 0;

    p.failed |= msgpack_pack_map(&p.pk, 4) != 0;
    PUT_LIT(&p, "pool");
    put_str(&p, ops[0].pool.ptr, ops[0].pool.len);
    PUT_LIT(&p, "queries");
    p.failed |= msgpack_pack_array(&p.pk, queries) != 0;
    for (k = 0; k < n; k++) {
        for (i = 0; i < ops[k].query_count; i++) {
            const fk_sql_query *q = &ops[k].queries[i];
            p.failed |= msgpack_pack_map(&p.pk, 2) != 0;
            PUT_LIT(&p, "q");
            put_str(&p, q->sql.ptr, q->sql.len);
            PUT_LIT(&p, "p");
            p.failed |= msgpack_pack_array(&p.pk, q->param_count) != 0;
            for (j = 0; j < q->param_count; j++) put_param(&p, &q->params[j]);
        }
    }
    /* shamaton/msgpack 1.x keeps the tag option in the key and writes nil slices and maps */
    PUT_LIT(&p, "events" OMITEMPTY);
    if (has_events) p.failed |= msgpack_pack_array(&p.pk, events) != 0;
    else p.failed |= msgpack_pack_nil(&p.pk) != 0;
    for (k = 0; k < n; k++) {
        for (i = 0; i < ops[k].event_count; i++) {
            const fk_sql_event *e = &ops[k].events[i];
            p.failed |= msgpack_pack_map(&p.pk, 4) != 0;
            PUT_LIT(&p, "ci");
            p.failed |= msgpack_pack_uint64(&p.pk, e->cache_index) != 0;
            PUT_LIT(&p, "id");
            p.failed |= msgpack_pack_uint64(&p.pk, e->id) != 0;
            PUT_LIT(&p, "ft");
            p.failed |= msgpack_pack_uint64(&p.pk, e->type) != 0;
            PUT_LIT(&p, "ch" OMITEMPTY);
            if (!e->has_changes) {
                p.failed |= msgpack_pack_nil(&p.pk) != 0;
                continue;
            }
            p.failed |= msgpack_pack_map(&p.pk, e->change_count) != 0;
            for (j = 0; j < e->change_count; j++) {
                put_str(&p, e->changes[j].column.ptr, e->changes[j].column.len);
                put_param(&p, &e->changes[j].param);
            }
        }
    }
    PUT_LIT(&p, "redis" OMITEMPTY);
    if (has_redis) p.failed |= msgpack_pack_array(&p.pk, redis) != 0;
    else p.failed |= msgpack_pack_nil(&p.pk) != 0;
    for (k = 0; k < n; k++) {
        for (i = 0; i < ops[k].redis_count; i++) {
            const fk_sql_redis *r = &ops[k].redis[i];
            p.failed |= msgpack_pack_map(&p.pk, 3) != 0;
            PUT_LIT(&p, "p");
            put_str(&p, r->pool.ptr, r->pool.len);
            PUT_LIT(&p, "c");
            put_str(&p, r->command.ptr, r->command.len);
            PUT_LIT(&p, "a" OMITEMPTY);
            if (!r->has_args) {
                p.failed |= msgpack_pack_nil(&p.pk) != 0;
                continue;
            }
            p.failed |= msgpack_pack_array(&p.pk, r->arg_count) != 0;
            for (j = 0; j < r->arg_count; j++) put_str(&p, r->args[j].ptr, r->args[j].len);
        }
    }
    if (p.failed) {
        msgpack_sbuffer_destroy(&sb);
        fk_error_set(err, "_NO_MEMORY", "async SQL encode: out of memory");
        return NULL;
    }
    *len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

/* ---------------------------------------------------------------- decoding ---- */

struct fk_async_decoder {
    msgpack_zone zone;   /* the msgpack objects and the op's arrays; cleared per decode */
    fk_async_op  op;
};

/* Where the decoder is, as frames ("queries", 2) ("p", 1), formatted only for an error. */
#define DEC_DEPTH 4

typedef struct decoder {
    msgpack_zone *zone;
    fk_error     *err;
    struct { const char *field; size_t index; } frames[DEC_DEPTH];   /* index 0: none */
    int           depth;
} decoder;

static int bad(decoder *d, const char *what)
{
    char where[200];
    size_t n = 0;
    int k;
    where[0] = '\0';
    for (k = 0; k < d->depth && n < sizeof where; k++) {
        n += (size_t)snprintf(where + n, sizeof where - n, "%s%s", k ? "." : "", d->frames[k].field);
        if (d->frames[k].index && n < sizeof where)
            n += (size_t)snprintf(where + n, sizeof where - n, "[%zu]", d->frames[k].index);
    }
    fk_error_set(d->err, "_BAD_MSG", "async SQL record cannot be decoded: %s%s%.300s", where,
                 where[0] ? ": " : "", what);
    return 0;
}

static int push_frame(decoder *d, const char *field)
{
    if (d->depth == DEC_DEPTH) return bad(d, "nested too deep");
    d->frames[d->depth].field = field;
    d->frames[d->depth].index = 0;
    d->depth++;
    return 1;
}

/* The key's name without FluxaORM's ",omitempty" suffix; 0 when not a string. */
static int key_name(const msgpack_object *k, const char **name, size_t *len)
{
    size_t n;
    if (k->type != MSGPACK_OBJECT_STR) return 0;
    *name = k->via.str.ptr;
    n = k->via.str.size;
    if (n > sizeof OMITEMPTY - 1 && memcmp(*name + n - (sizeof OMITEMPTY - 1), OMITEMPTY, sizeof OMITEMPTY - 1) == 0)
        n -= sizeof OMITEMPTY - 1;
    *len = n;
    return 1;
}

static int key_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static int want_text(decoder *d, const msgpack_object *o, fk_bytes *out, const char *what)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        out->ptr = o->via.str.ptr;
        out->len = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        out->ptr = o->via.bin.ptr;
        out->len = o->via.bin.size;
    } else if (o->type == MSGPACK_OBJECT_NIL) {
        out->ptr = "";
        out->len = 0;
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a string", what);
        return bad(d, msg);
    }
    return 1;
}

/* An unsigned integer up to max (nil: 0, as the Go reader takes it). */
static int want_uint(decoder *d, const msgpack_object *o, uint64_t max, uint64_t *out, const char *what)
{
    char msg[96];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max) *out = o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NIL) *out = 0;
    else {
        snprintf(msg, sizeof msg, "%s must be an unsigned integer up to %llu", what, (unsigned long long)max);
        return bad(d, msg);
    }
    return 1;
}

static void *zalloc(decoder *d, size_t n, size_t size)
{
    void *p;
    if (n == 0) return NULL;
    if (n > SIZE_MAX / size || !(p = msgpack_zone_malloc(d->zone, n * size))) {
        fk_error_set(d->err, "_NO_MEMORY", "async SQL decode: out of memory");
        return NULL;
    }
    memset(p, 0, n * size);
    return p;
}

/* Calls field() for every string key of the map o, its ",omitempty" suffix dropped (other
   keys are skipped: a newer writer may add fields). */
typedef int (*field_fn)(decoder *d, const char *name, size_t len, const msgpack_object *v, void *out);

static int each_field(decoder *d, const msgpack_object *o, const char *not_a_map, field_fn field, void *out)
{
    uint32_t i;
    if (o->type != MSGPACK_OBJECT_MAP) return bad(d, not_a_map);
    for (i = 0; i < o->via.map.size; i++) {
        const char *name;
        size_t len;
        if (key_name(&o->via.map.ptr[i].key, &name, &len) &&
            !field(d, name, len, &o->via.map.ptr[i].val, out))
            return 0;
    }
    return 1;
}

/* The array (or nil: no items, *present 0) `field`, each item decoded by item() into an
   array of `size`-byte elements allocated in the zone. */
typedef int (*item_fn)(decoder *d, const msgpack_object *o, void *out);

static int each_item(decoder *d, const msgpack_object *o, const char *field, size_t size, item_fn item,
                     void **items, size_t *count, int *present)
{
    uint32_t i;
    char msg[96];
    if (present) *present = o->type == MSGPACK_OBJECT_ARRAY;
    if (o->type == MSGPACK_OBJECT_NIL) return 1;
    if (!push_frame(d, field)) return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(msg, sizeof msg, "'%s' must be an array", field);
        return bad(d, msg);
    }
    if (o->via.array.size && !(*items = zalloc(d, o->via.array.size, size))) return 0;
    for (i = 0; i < o->via.array.size; i++) {
        d->frames[d->depth - 1].index = i + 1;
        if (!item(d, &o->via.array.ptr[i], (char *)*items + i * size)) return 0;
    }
    *count = o->via.array.size;
    d->depth--;
    return 1;
}
#define EACH_ITEM(d, o, field, array, item, count, present) \
    each_item((d), (o), (field), sizeof *(array), (item), (void **)&(array), (count), (present))

typedef struct param_fields { fk_sql_param *out; fk_bytes type; } param_fields;

static int param_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    param_fields *pf = arg;
    if (key_is(name, len, "n")) {
        if (v->type == MSGPACK_OBJECT_BOOLEAN) pf->out->is_null = v->via.boolean;
        else if (v->type != MSGPACK_OBJECT_NIL) return bad(d, "parameter field 'n' must be a boolean");
    } else if (key_is(name, len, "t")) {
        return want_text(d, v, &pf->type, "parameter field 't'");
    } else if (key_is(name, len, "v")) {
        return want_text(d, v, &pf->out->value, "parameter field 'v'");
    }
    return 1;
}

static int decode_param(decoder *d, const msgpack_object *o, void *item)
{
    param_fields pf;
    pf.out = item;
    pf.type.ptr = "";
    pf.type.len = 0;
    pf.out->value.ptr = "";
    if (!each_field(d, o, "a parameter must be a map {n, t, v}", param_field, &pf)) return 0;
    if (pf.out->is_null) {
        pf.out->type = 0;
        pf.out->value.len = 0;
        return 1;
    }
    if (pf.type.len != 1) return bad(d, "parameter type 't' must be one of s, i, u, f, b, t");
    pf.out->type = pf.type.ptr[0];
    if (!fk_sql_param_valid(pf.out->type, pf.out->value.ptr, pf.out->value.len, d->err)) {
        char msg[sizeof d->err->msg];
        snprintf(msg, sizeof msg, "parameter %.300s", d->err->msg);
        return bad(d, msg);
    }
    return 1;
}

typedef struct query_fields { fk_sql_query *out; int have_sql; } query_fields;

static int query_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    query_fields *qf = arg;
    if (key_is(name, len, "q")) {
        if (v->type != MSGPACK_OBJECT_STR && v->type != MSGPACK_OBJECT_BIN) return bad(d, "'q' must be a string");
        qf->have_sql = 1;
        return want_text(d, v, &qf->out->sql, "'q'");
    }
    if (key_is(name, len, "p"))
        return EACH_ITEM(d, v, "p", qf->out->params, decode_param, &qf->out->param_count, NULL);
    return 1;
}

static int decode_query(decoder *d, const msgpack_object *o, void *item)
{
    query_fields qf;
    qf.out = item;
    qf.have_sql = 0;
    if (!each_field(d, o, "a query must be a map {q, p}", query_field, &qf)) return 0;
    return qf.have_sql || bad(d, "the query text 'q' is missing");
}

static int change_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    fk_sql_event *e = arg;
    fk_sql_change *c = &e->changes[e->change_count++];
    c->column.ptr = name;
    c->column.len = len;
    return decode_param(d, v, &c->param);
}

static int event_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    fk_sql_event *e = arg;
    uint64_t ft = 0;
    if (key_is(name, len, "ci")) return want_uint(d, v, UINT64_MAX, &e->cache_index, "'ci'");
    if (key_is(name, len, "id")) return want_uint(d, v, UINT64_MAX, &e->id, "'id'");
    if (key_is(name, len, "ft")) {
        if (!want_uint(d, v, 255, &ft, "'ft'")) return 0;
        e->type = (unsigned)ft;
    } else if (key_is(name, len, "ch") && v->type != MSGPACK_OBJECT_NIL) {
        uint32_t i;
        if (v->type != MSGPACK_OBJECT_MAP) return bad(d, "'ch' must be a map of column names to parameters");
        for (i = 0; i < v->via.map.size; i++)
            if (v->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) return bad(d, "'ch' keys must be column names");
        e->has_changes = 1;
        if (v->via.map.size && !(e->changes = zalloc(d, v->via.map.size, sizeof *e->changes))) return 0;
        /* column names are kept whole: key_name's suffix rule is for field names only */
        for (i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            if (!push_frame(d, "ch")) return 0;
            if (!change_field(d, k->via.str.ptr, k->via.str.size, &v->via.map.ptr[i].val, e)) return 0;
            d->depth--;
        }
    }
    return 1;
}

static int decode_event(decoder *d, const msgpack_object *o, void *item)
{
    return each_field(d, o, "an event must be a map {ci, id, ft, ch}", event_field, item);
}

/* A Redis argument as text. FluxaORM's own are strings; numbers and booleans (which
   fluxakafka wrote before it wrote []string) become the text the encoder makes of them. */
static int decode_arg(decoder *d, const msgpack_object *o, void *item)
{
    fk_bytes *out = item;
    char buf[FK_SQL_FLOAT_MAX];
    size_t n;
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: return want_text(d, o, out, "argument");
    case MSGPACK_OBJECT_BOOLEAN: out->ptr = o->via.boolean ? "1" : "0"; out->len = 1; return 1;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: n = (size_t)sprintf(buf, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: n = (size_t)sprintf(buf, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: n = fk_sql_float_format(o->via.f64, 'f', buf); break;
    default: return bad(d, "a Redis argument must be a string");
    }
    if (!(out->ptr = zalloc(d, n, 1))) return 0;
    memcpy((char *)out->ptr, buf, n);
    out->len = n;
    return 1;
}

static int redis_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    fk_sql_redis *r = arg;
    if (key_is(name, len, "p")) return want_text(d, v, &r->pool, "'p'");
    if (key_is(name, len, "c")) return want_text(d, v, &r->command, "'c'");
    if (key_is(name, len, "a")) return EACH_ITEM(d, v, "a", r->args, decode_arg, &r->arg_count, &r->has_args);
    return 1;
}

static int decode_redis(decoder *d, const msgpack_object *o, void *item)
{
    return each_field(d, o, "a Redis command must be a map {p, c, a}", redis_field, item);
}

typedef struct op_fields { fk_async_op *op; int have_pool; } op_fields;

static int op_field(decoder *d, const char *name, size_t len, const msgpack_object *v, void *arg)
{
    op_fields *of = arg;
    fk_async_op *op = of->op;
    if (key_is(name, len, "pool")) {
        if (v->type != MSGPACK_OBJECT_STR) return bad(d, "'pool' must be a string");
        of->have_pool = 1;
        return want_text(d, v, &op->pool, "'pool'");
    }
    if (key_is(name, len, "queries"))
        return EACH_ITEM(d, v, "queries", op->queries, decode_query, &op->query_count, NULL);
    if (key_is(name, len, "events"))
        return EACH_ITEM(d, v, "events", op->events, decode_event, &op->event_count, &op->has_events);
    if (key_is(name, len, "redis"))
        return EACH_ITEM(d, v, "redis", op->redis, decode_redis, &op->redis_count, &op->has_redis);
    return 1;
}

static int decode_op(decoder *d, const msgpack_object *o, fk_async_op *op)
{
    op_fields of;
    of.op = op;
    of.have_pool = 0;
    if (!each_field(d, o, "the value is not a msgpack map", op_field, &of)) return 0;
    return of.have_pool || bad(d, "the key 'pool' is missing");
}

fk_async_decoder *fk_async_decoder_new(void)
{
    fk_async_decoder *d = calloc(1, sizeof *d);
    if (d && !msgpack_zone_init(&d->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
        free(d);
        return NULL;
    }
    return d;
}

const fk_async_op *fk_async_decoder_decode(fk_async_decoder *dec, const void *data, size_t len,
                                           fk_error *err)
{
    decoder d;
    size_t off = 0;
    msgpack_object obj;
    msgpack_unpack_return ret;

    msgpack_zone_clear(&dec->zone);
    memset(&dec->op, 0, sizeof dec->op);
    d.err = err;
    d.depth = 0;
    d.zone = &dec->zone;
    if (!data || len == 0) {
        bad(&d, "the value is empty");
        return NULL;
    }
    ret = msgpack_unpack(data, len, &off, &dec->zone, &obj);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
        fk_error_set(err, "_NO_MEMORY", "async SQL decode: out of memory");
        return NULL;
    }
    if (ret == MSGPACK_UNPACK_EXTRA_BYTES) {
        bad(&d, "bytes follow the msgpack value");
        return NULL;
    }
    if (ret != MSGPACK_UNPACK_SUCCESS) {
        bad(&d, ret == MSGPACK_UNPACK_CONTINUE ? "the msgpack value is truncated" : "the value is not valid msgpack");
        return NULL;
    }
    if (!decode_op(&d, &obj, &dec->op)) return NULL;
    return &dec->op;
}

void fk_async_decoder_free(fk_async_decoder *d)
{
    if (!d) return;
    msgpack_zone_destroy(&d->zone);
    free(d);
}

/* ---------------------------------------------------------------- consumer group ---- */

int fk_async_sql_group_spec(fk_group_spec *out, const char *pool, const char *name, const char *topic)
{
    fk_group_spec_init(out);
    if (!fk_set_string(&out->name, name ? name : FK_ASYNC_SQL_CONSUMER_GROUP_NAME) ||
        !fk_set_string(&out->pool, pool) ||
        !fk_strlist_push(&out->topics, topic ? topic : FK_ASYNC_SQL_TOPIC_NAME)) {
        fk_group_spec_clear(out);
        return 0;
    }
    return 1;
}
