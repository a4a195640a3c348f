/* libFuzzer target: arbitrary bytes through the YAML reader and the configuration validation
   into a registry, then everything freed. Build and run with `make fuzz`. */
#include "../csrc/fluxakafka.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fk_error err;
    fk_registry *r = fk_registry_new();
    fk_doc *doc = fk_yaml_parse((const char *)data, size, &err);
    if (doc) {
        if (fk_registry_init_by_doc(r, doc, &err)) (void)fk_registry_validate(r, &err);
        fk_doc_free(doc);
    }
    fk_registry_free(r);
    return 0;
}
