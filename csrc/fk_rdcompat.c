/* Newer librdkafka calls looked up at run time (see fk_rdcompat.h). */
#define _GNU_SOURCE   /* dladdr, RTLD_NOLOAD */
#include "fk_rdcompat.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

static void *library;
static pthread_once_t library_once = PTHREAD_ONCE_INIT;

/* Lua loads a module with RTLD_LOCAL, so the librdkafka it was linked to is not in the
   global scope that dlsym(RTLD_DEFAULT, ...) searches: it is opened again by the file that
   holds one of its functions. */
static void find_library(void)
{
    Dl_info info;
    if (dladdr((void *)rd_kafka_version, &info) && info.dli_fname)
        library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!library) library = RTLD_DEFAULT;
}

void *fk_rd_symbol(const char *name, int min_version)
{
    if (rd_kafka_version() < min_version) return NULL;
    pthread_once(&library_once, find_library);
    return dlsym(library, name);
}

typedef int (*group_type_fn)(const rd_kafka_ConsumerGroupDescription_t *);
static group_type_fn group_type;
static pthread_once_t group_type_once = PTHREAD_ONCE_INIT;

static void find_group_type(void)
{
    /* POSIX guarantees that dlsym's answer converts to a function pointer */
    *(void **)&group_type = fk_rd_symbol("rd_kafka_ConsumerGroupDescription_type", 0x020a0000);
}

const char *fk_rd_group_type(const rd_kafka_ConsumerGroupDescription_t *d)
{
    pthread_once(&group_type_once, find_group_type);
    if (!group_type) return NULL;
    switch (group_type(d)) {   /* rd_kafka_consumer_group_type_t (2.10): 1 consumer, 2 classic */
    case 1: return "consumer";
    case 2: return "classic";
    default: return NULL;
    }
}
