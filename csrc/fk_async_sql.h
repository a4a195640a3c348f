/*
 * fk_async_sql.h - async SQL operations (the records FluxaORM's FlushAsync produces to
 * _fluxa_async_sql): their msgpack codec and the text forms of their typed parameters.
 * No Lua here; csrc/lua/lfk_async_sql.c binds it.
 *
 * Wire format: FluxaORM's flush_async.go (Kafka version) as its msgpack library,
 * shamaton/msgpack v1.2.1, writes it. That library writes a Go struct as a map of every
 * field in field order (omitempty is not honoured) keyed by the whole tag, comma included:
 *   pool                string
 *   queries             array of { q = SQL text, p = array of parameters (never nil) }
 *   events,omitempty    nil or array of { ci = uint64 cache index, id = uint64 entity id,
 *                       ft = uint8 1|2|3, "ch,omitempty" = nil or map column -> parameter }
 *   redis,omitempty     nil or array of { p = pool, c = command, "a,omitempty" = nil or
 *                       array of strings }
 *   parameter           { "n,omitempty" = true for NULL, "t,omitempty" = "s"|"i"|"u"|"f"|
 *                       "b"|"t", "v,omitempty" = the value as text }; NULL is n=true, t="", v=""
 * Integers take msgpack's smallest form (unsigned forms for values >= 0), strings never bin.
 * The encoder writes exactly that, byte for byte as FluxaORM does for the same operation
 * (spec/async_sql_spec.lua compares with the Go library). The decoder also reads the keys
 * without ",omitempty" (a writer that honours omitempty, where an absent key means the
 * zero value).
 */
#ifndef FK_ASYNC_SQL_H
#define FK_ASYNC_SQL_H

#include "fluxakafka.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes owned elsewhere (the caller's strings when encoding, the record when decoding). */
typedef struct fk_bytes {
    const char *ptr;
    size_t      len;
} fk_bytes;

/* Parameter types, as their wire letters. */
#define FK_SQL_STRING 's'
#define FK_SQL_INT    'i'
#define FK_SQL_UINT   'u'
#define FK_SQL_FLOAT  'f'
#define FK_SQL_BOOL   'b'
#define FK_SQL_TIME   't'

typedef struct fk_sql_param {
    int      is_null;
    char     type;     /* one of the letters above; 0 for NULL */
    fk_bytes value;    /* decimal integer, float text, "1"/"0", RFC 3339 UTC time, or the string */
} fk_sql_param;

typedef struct fk_sql_query {
    fk_bytes      sql;
    fk_sql_param *params;
    size_t        param_count;
} fk_sql_query;

typedef struct fk_sql_change {
    fk_bytes     column;
    fk_sql_param param;
} fk_sql_change;

typedef struct fk_sql_event {
    uint64_t       cache_index;
    uint64_t       id;
    unsigned       type;          /* 0..255 on the wire; FluxaORM's 1 insert, 2 update, 3 delete */
    fk_sql_change *changes;       /* NULL with has_changes 0: no "ch" map (msgpack nil) */
    size_t         change_count;
    int            has_changes;
} fk_sql_event;

/* A Redis command; its arguments are strings (FluxaORM's []string). */
typedef struct fk_sql_redis {
    fk_bytes  pool;
    fk_bytes  command;
    fk_bytes *args;
    size_t    arg_count;
    int       has_args;   /* 0: nil on the wire */
} fk_sql_redis;

typedef struct fk_async_op {
    fk_bytes      pool;
    fk_sql_query *queries;  size_t query_count;
    fk_sql_event *events;   size_t event_count;  int has_events;  /* 0: nil on the wire */
    fk_sql_redis *redis;    size_t redis_count;  int has_redis;
} fk_async_op;

/* Encodes ops[0..n) as one record value: their queries, events and redis commands
   concatenated in order (every op must name the same pool). Checks each parameter's text
   against its type. Returns a malloc'ed buffer (free() it) and its length, or NULL with err
   naming what is wrong. */
char *fk_async_sql_encode(const fk_async_op *ops, size_t n, size_t *len, fk_error *err);

/* A decoder keeps its memory from one record to the next. fk_async_decoder_decode decodes
   one record value; the operation it returns references `data` (keep it alive and
   unchanged) and the decoder, and is valid until the next decode or the free. NULL with err
   saying what is wrong (code "_BAD_MSG"). fk_async_decoder_new returns NULL when out of
   memory. */
typedef struct fk_async_decoder fk_async_decoder;
fk_async_decoder  *fk_async_decoder_new(void);
const fk_async_op *fk_async_decoder_decode(fk_async_decoder *d, const void *data, size_t len,
                                           fk_error *err);
void               fk_async_decoder_free(fk_async_decoder *d);

/* 1 when text is a valid value of the parameter type (see fk_sql_param.value), else 0
   with err saying why (err may be NULL). */
int fk_sql_param_valid(char type, const char *text, size_t len, fk_error *err);

/* Text forms, in buffers of FK_SQL_TEXT_MAX bytes.
   Times: UTC RFC 3339 as Go's time.Format writes it: the year has at least 4 digits and a
   '-' when negative ("10000-01-01T00:00:00Z", "-0001-12-31T23:59:59Z"); a fraction of a
   second (nsec > 0) is written as Go's RFC3339Nano does ("...T12:00:00.25Z"), none as
   RFC3339 does. Any int64 seconds can be written; 0 only for nsec outside 0..999999999. */
#define FK_SQL_TEXT_MAX 48
int fk_sql_time_format(int64_t sec, int32_t nsec, char *out);
/* Parses RFC 3339 (any offset, up to 9 fraction digits, years of 4 to 12 digits with an
   optional '-') into UTC unix seconds and nanoseconds. 0 when invalid or out of range. */
int fk_sql_time_parse(const char *text, size_t len, int64_t *sec, int32_t *nsec);
/* A double as Go's strconv.FormatFloat(v, fmt, -1, 64) writes it: the fewest digits that
   read back as v, fmt 'g' (FluxaORM's float parameters: "0.1", "1e+06", "1.5e-07") or 'f'
   (go-redis's float arguments: no exponent, so up to FK_SQL_FLOAT_MAX bytes), NaN as
   "NaN" and infinities as "+Inf"/"-Inf". Returns the length. */
#define FK_SQL_FLOAT_MAX 400
size_t fk_sql_float_format(double v, char fmt, char *out);

/* The consumer group the async SQL consumer joins by default for the pool that has async
   flush registered: FK_ASYNC_SQL_CONSUMER_GROUP_NAME on FK_ASYNC_SQL_TOPIC_NAME, manual
   commits. `name`/`topic` NULL take those defaults. 0 on out of memory. */
int fk_async_sql_group_spec(fk_group_spec *out, const char *pool, const char *name,
                            const char *topic);

#endif
