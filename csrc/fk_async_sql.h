/*
 * fk_async_sql.h - async SQL operations (the records FluxaORM's FlushAsync produces to
 * _fluxa_async_sql): their msgpack codec and the text forms of their typed parameters.
 * No Lua here; csrc/lua/lfk_async_sql.c binds it.
 *
 * Wire format (a msgpack map per record, keyed by table name):
 *   pool     string
 *   queries  array of { q = SQL text, p = array of parameters }
 *   events   optional array of { ci = cache index, id = entity id, ft = 1|2|3, ch = map column -> parameter }
 *   redis    optional array of { p = pool, c = command, a = array of arguments }
 *   parameter: { n = true when NULL, t = "s"|"i"|"u"|"f"|"b"|"t", v = the value as text }
 * FluxaORM's msgpack library writes the keys of its optional fields with the tag option in
 * them ("events,omitempty", "redis,omitempty", "n,omitempty", "t,omitempty", "v,omitempty").
 * The decoder accepts every key with or without a ",omitempty" suffix; the encoder writes
 * exactly the keys FluxaORM writes, so that FluxaORM's own reader decodes our records.
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
    int64_t        cache_index;
    uint64_t       id;
    int64_t        type;          /* 1 insert, 2 update, 3 delete */
    fk_sql_change *changes;       /* NULL with has_changes 0: no "ch" map (msgpack nil) */
    size_t         change_count;
    int            has_changes;
} fk_sql_event;

/* A Redis argument: msgpack's scalar kinds. */
typedef enum fk_sql_value_kind {
    FK_VALUE_NIL = 0, FK_VALUE_BOOL, FK_VALUE_INT, FK_VALUE_UINT, FK_VALUE_FLOAT, FK_VALUE_STRING
} fk_sql_value_kind;

typedef struct fk_sql_value {
    fk_sql_value_kind kind;
    int               b;
    int64_t           i;
    uint64_t          u;
    double            f;
    fk_bytes          s;
} fk_sql_value;

typedef struct fk_sql_redis {
    fk_bytes      pool;
    fk_bytes      command;
    fk_sql_value *args;
    size_t        arg_count;
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

/* Text forms. Times are UTC RFC 3339 with the fraction trimmed as Go's RFC3339Nano writes it
   ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.25Z"). Buffers of FK_SQL_TEXT_MAX bytes. */
#define FK_SQL_TEXT_MAX 48
int fk_sql_time_format(int64_t sec, int32_t nsec, char *out);
/* Parses RFC 3339 (any offset, up to 9 fraction digits) into UTC seconds and nanoseconds. */
int fk_sql_time_parse(const char *text, size_t len, int64_t *sec, int32_t *nsec);
/* A short decimal text that reads back as v (%.15g when that does, else up to %.17g); 0 for
   NaN and infinities. */
int fk_sql_float_format(double v, char *out);

/* The consumer group the async SQL consumer joins by default for the pool that has async
   flush registered: FK_ASYNC_SQL_CONSUMER_GROUP_NAME on FK_ASYNC_SQL_TOPIC_NAME, manual
   commits. `name`/`topic` NULL take those defaults. 0 on out of memory. */
int fk_async_sql_group_spec(fk_group_spec *out, const char *pool, const char *name,
                            const char *topic);

#endif
