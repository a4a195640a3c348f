/* libFuzzer target: arbitrary bytes through the YAML reader and the configuration validation
   into a registry that already holds one pool, then everything freed. A document that loads
   is loaded a second time (it must then fail: its pools are registered) and the registry
   validated. Build and run with `make fuzz` (fuzz/Makefile). */
#include "../csrc/fluxakafka.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fk_error err;
    fk_registry *r = fk_registry_new();
    fk_strlist brokers = { 0 };
    fk_doc *doc;

    if (!r) return 0;
    if (fk_strlist_push(&brokers, "localhost:9092")) (void)fk_registry_add_pool(r, "existing", &brokers, NULL, &err);
    fk_strlist_clear(&brokers);
    doc = fk_yaml_parse((const char *)data, size, &err);
    if (doc) {
        if (fk_registry_init_by_doc(r, doc, &err)) {
            (void)fk_registry_init_by_doc(r, doc, &err);
            (void)fk_registry_validate(r, &err);
        }
        fk_doc_free(doc);
    }
    fk_registry_free(r);
    return 0;
}
