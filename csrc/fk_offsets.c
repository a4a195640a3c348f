/* Offsets of many partitions together (see fk_offsets.h). A ListOffsets request answers a
   time with an offset; the times -1 and -2 ask for a partition's end and beginning, the
   watermarks. */
#include "fk_offsets.h"

#include <stdlib.h>

#define ASK_HIGH RD_KAFKA_OFFSET_END        /* -1 */
#define ASK_LOW  RD_KAFKA_OFFSET_BEGINNING  /* -2 */
#define ASK_OWN  INT64_MIN                  /* the item's own offset */

/* Asks for the items chosen by `pick` (NULL: all) with the time `ask`; answer[i] gets
   item i's answer. 1, or 0 with err. */
static int ask(rd_kafka_t *rk, const fk_partitions *parts, const char *pick, int64_t ask,
               int64_t *answer, int timeout_ms, const char *what, fk_error *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)parts->count);
    rd_kafka_resp_err_t e;
    size_t i;
    int k = 0, ok = 1;
    for (i = 0; i < parts->count; i++)
        if (!pick || pick[i])
            rd_kafka_topic_partition_list_add(l, parts->items[i].topic, parts->items[i].partition)->offset =
                ask == ASK_OWN ? parts->items[i].offset : ask;
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return 1;
    }
    if ((e = rd_kafka_offsets_for_times(rk, l, timeout_ms)) != 0) {
        fk_error_set_rd(err, e, "%s", what);
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
    }
    /* librdkafka answers in place, in the order asked */
    for (i = 0; i < parts->count && ok; i++) {
        const rd_kafka_topic_partition_t *tp;
        if (pick && !pick[i]) continue;
        tp = &l->elems[k++];
        if (tp->err) {
            fk_error_set_rd(err, tp->err, "%s: '%s' [%d]", what, tp->topic, (int)tp->partition);
            ok = 0;
        }
        answer[i] = tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

int fk_offsets_watermarks(rd_kafka_t *rk, fk_partitions *parts, int which, int timeout_ms,
                          const char *what, fk_error *err)
{
    size_t i, n = parts->count;
    int64_t *answer = malloc((n ? n : 1) * sizeof *answer);
    char *pick = calloc(n ? n : 1, 1);
    int ok = answer && pick;
    if (!ok) fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
    if (ok && (which & FK_WM_HIGH) && (ok = ask(rk, parts, NULL, ASK_HIGH, answer, timeout_ms, what, err)))
        for (i = 0; i < n; i++) parts->items[i].high = answer[i];
    if (ok && (which & (FK_WM_LOW | FK_WM_LOW_UNCOMMITTED))) {
        for (i = 0; i < n; i++) pick[i] = (which & FK_WM_LOW) || parts->items[i].offset < 0;
        if ((ok = ask(rk, parts, pick, ASK_LOW, answer, timeout_ms, what, err)))
            for (i = 0; i < n; i++)
                if (pick[i]) parts->items[i].low = answer[i];
    }
    free(answer);
    free(pick);
    return ok;
}

int fk_offsets_for_times(rd_kafka_t *rk, fk_partitions *parts, int timeout_ms, const char *what,
                         fk_error *err)
{
    size_t i, n = parts->count;
    int64_t *answer = malloc((n ? n : 1) * sizeof *answer);
    int ok;
    if (!answer) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
        return 0;
    }
    if ((ok = ask(rk, parts, NULL, ASK_OWN, answer, timeout_ms, what, err)))
        for (i = 0; i < n; i++) parts->items[i].offset = answer[i];
    free(answer);
    return ok;
}

int fk_offsets_client_init(fk_offsets_client *oc, const fk_pool_spec *ps, const fk_kvlist *group_props,
                           void *opaque, fk_error *err)
{
    const char *isolation = fk_kvlist_get(group_props, "isolation.level");
    if (!(oc->conf = fk_pool_conf_new(ps, err))) return 0;
    if (!fk_rdkafka_apply(oc->conf, &ps->options.rdkafka, "C*", err) ||
        (isolation && !fk_conf_set(oc->conf, "isolation.level", isolation, err)) ||
        !fk_conf_set(oc->conf, "allow.auto.create.topics", "false", err) ||
        !fk_conf_set(oc->conf, "enable.auto.commit", "false", err)) {
        rd_kafka_conf_destroy(oc->conf);
        oc->conf = NULL;
        return 0;
    }
    rd_kafka_conf_set_opaque(oc->conf, opaque);
    return 1;
}

rd_kafka_t *fk_offsets_client_get(fk_offsets_client *oc, const char *what, fk_error *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf;
    if (oc->rk && oc->pid != fk_process_id()) oc->rk = NULL;   /* inherited through fork: abandoned */
    if (oc->rk) return oc->rk;
    if (!oc->conf || !(conf = rd_kafka_conf_dup(oc->conf))) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", what);
        return NULL;
    }
    if (!(oc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        fk_error_set(err, "_INVALID_ARG", "%s: cannot create a client: %s", what, errstr);
        return NULL;
    }
    oc->pid = fk_process_id();
    return oc->rk;
}

void fk_offsets_client_clear(fk_offsets_client *oc)
{
    if (oc->rk && oc->pid == fk_process_id()) rd_kafka_destroy(oc->rk);
    if (oc->conf) rd_kafka_conf_destroy(oc->conf);
    oc->rk = NULL;
    oc->conf = NULL;
}
