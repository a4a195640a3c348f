/*
 * fk_config.h - limits shared by the readers of configuration documents.
 *
 * The document tree (fk_doc), the YAML reader (fk_yaml_parse) and the validation
 * (fk_registry_init_by_doc) are declared in fluxakafka.h; they live in fk_doc.c, fk_yaml.c
 * and fk_config.c. A binding that builds a tree itself (the Lua table reader) applies the
 * same limits so that hostile input is refused the same way whatever its source.
 */
#ifndef FK_CONFIG_H
#define FK_CONFIG_H

#include "fluxakafka.h"

/* Deepest nesting of maps and sequences (a real configuration needs 6). Both readers
   recurse once per level, so this also bounds their stack use. */
#define FK_DOC_MAX_DEPTH     64
/* Largest YAML text accepted (also the largest file init_by_yaml_file reads). */
#define FK_DOC_MAX_BYTES     (16 * 1024 * 1024)
/* Most nodes (scalars, maps, sequences) in one document. */
#define FK_DOC_MAX_NODES     1000000
/* Most keys in one map: duplicate keys are found by comparing each new key with the earlier
   ones, so this bounds that quadratic work (1000 maps of this size take ~0.5 s). */
#define FK_DOC_MAX_MAP_KEYS  1000

#endif
