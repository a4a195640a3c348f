/* The document tree of configuration documents: maps, sequences and scalars, each node
   owning its children. Built by the YAML reader (fk_yaml.c) or by a binding. */
#include "fk_internal.h"

#include <stdlib.h>
#include <string.h>

fk_doc *fk_doc_new(fk_doc_type type, int line, int column)
{
    fk_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->type = type;
    d->line = line;
    d->column = column;
    return d;
}

fk_doc *fk_doc_new_scalar(fk_scalar_kind kind, const char *text, int line, int column)
{
    fk_doc *d = fk_doc_new(FK_DOC_SCALAR, line, column);
    if (!d) return NULL;
    d->kind = kind;
    if (!(d->text = fk_strdup(text ? text : ""))) {
        free(d);
        return NULL;
    }
    return d;
}

static int grow_doc(fk_doc *d)
{
    size_t cap = d->cap;
    if (!fk_grow((void **)&d->items, &cap, d->count, sizeof *d->items)) return 0;
    if (d->type == FK_DOC_MAP) {
        char **k = realloc(d->keys, cap * sizeof *k);
        if (!k) return 0;
        d->keys = k;
    }
    d->cap = cap;
    return 1;
}

int fk_doc_append(fk_doc *seq, fk_doc *item)
{
    if (!item || !grow_doc(seq)) {
        fk_doc_free(item);
        return 0;
    }
    seq->items[seq->count++] = item;
    return 1;
}

int fk_doc_put(fk_doc *map, const char *key, fk_doc *item)
{
    size_t i;
    char *k;
    for (i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0) {
            fk_doc_free(item);
            return 0;
        }
    if (!item || !grow_doc(map) || !(k = fk_strdup(key))) {
        fk_doc_free(item);
        return 0;
    }
    map->keys[map->count] = k;
    map->items[map->count++] = item;
    return 1;
}

void fk_doc_free(fk_doc *d)
{
    size_t i;
    if (!d) return;
    for (i = 0; i < d->count; i++) {
        fk_doc_free(d->items[i]);
        if (d->keys) free(d->keys[i]);
    }
    free(d->items);
    free(d->keys);
    free(d->text);
    free(d);
}
