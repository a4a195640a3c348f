/* librdkafka's statistics: its stats_cb hands over a JSON text on whichever thread serves the
   client; they wait here, a few at most, until the binding takes them on its own thread. */
#include "fk_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

void fk_stats_push(fk_stats_queue *q, const char *json, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, json, len);
    copy[len] = '\0';
    pthread_mutex_lock(&stats_lock);
    if (q->count == FK_STATS_QUEUED) {   /* full: the oldest gives way */
        free(q->items[q->head]);
        q->head = (q->head + 1) % FK_STATS_QUEUED;
        q->count--;
    }
    q->items[(q->head + q->count++) % FK_STATS_QUEUED] = copy;
    pthread_mutex_unlock(&stats_lock);
}

char *fk_stats_pop(fk_stats_queue *q)
{
    char *s = NULL;
    pthread_mutex_lock(&stats_lock);
    if (q->count) {
        s = q->items[q->head];
        q->head = (q->head + 1) % FK_STATS_QUEUED;
        q->count--;
    }
    pthread_mutex_unlock(&stats_lock);
    return s;
}

void fk_stats_clear(fk_stats_queue *q)
{
    char *s;
    while ((s = fk_stats_pop(q)) != NULL) free(s);
}
