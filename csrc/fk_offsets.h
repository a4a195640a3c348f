/* Offsets of many partitions looked up together: one ListOffsets request per partition
   leader (rd_kafka_offsets_for_times), not one round trip per partition in sequence. */
#ifndef FK_OFFSETS_H
#define FK_OFFSETS_H

#include "fk_internal.h"

#include <sys/types.h>

/* Which watermarks fk_offsets_watermarks fills. */
enum { FK_WM_HIGH = 1, FK_WM_LOW = 2, FK_WM_LOW_UNCOMMITTED = 4 /* low of items with offset < 0 */ };

/* Fills high and/or low of every item (see FK_WM_*), bounded by timeout_ms. 0 with err
   (starting with `what`, naming the partition) when the lookup or a partition fails. */
int fk_offsets_watermarks(rd_kafka_t *rk, fk_partitions *parts, int which, int timeout_ms,
                          const char *what, fk_error *err);
/* Replaces the offset of every item, a time in ms since the epoch, by the offset of the
   first record written at or after it: -1 when there is none (the partition's end). */
int fk_offsets_for_times(rd_kafka_t *rk, fk_partitions *parts, int timeout_ms,
                         const char *what, fk_error *err);

#endif

/* A client of a consumer group's own for these lookups, made on first use: asked on the
   group's client, they would wait at each leader behind the group's fetch, which the broker
   holds up to fetch.wait.max.ms (500 ms) when there is nothing new. A consumer without a
   group id, so it never joins anything; isolation.level is the group's. */
typedef struct fk_offsets_client {
    rd_kafka_conf_t *conf;   /* until the client is made from it */
    rd_kafka_t      *rk;
    pid_t            pid;
} fk_offsets_client;
/* opaque: what librdkafka's callbacks get (its first member is the pool code, for logs). */
int  fk_offsets_client_init(fk_offsets_client *oc, const fk_pool_spec *ps, const fk_kvlist *group_props,
                            void *opaque, fk_error *err);
/* The client, made now when needed (only on the thread that owns the group). */
rd_kafka_t *fk_offsets_client_get(fk_offsets_client *oc, const char *what, fk_error *err);
void fk_offsets_client_clear(fk_offsets_client *oc);
