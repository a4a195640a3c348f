/* Calls of librdkafka versions newer than the rdkafka.h the module was built with. The
   module may run with a newer librdkafka.so.1 than its header (a wheel's, a distribution's
   upgrade): where a newer call answers better, it is looked up once at run time, and the
   answer falls back to what the built-against version can tell. */
#ifndef FK_RDCOMPAT_H
#define FK_RDCOMPAT_H

#include <librdkafka/rdkafka.h>

/* librdkafka's function `name`, when the running librdkafka is at least `min_version`
   (rd_kafka_version()'s format) and has it; else NULL. */
void *fk_rd_symbol(const char *name, int min_version);

/* The protocol of a described group: "classic", "consumer" (KIP-848), or NULL when the
   running librdkafka cannot tell (before 2.10). */
const char *fk_rd_group_type(const rd_kafka_ConsumerGroupDescription_t *d);

#endif
