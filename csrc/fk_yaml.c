/* The YAML reader: libyaml's event parser into an fk_doc tree. One document; anchors,
   aliases, merge keys and custom tags are refused; nesting, size and map widths are bounded
   (fk_config.h). */
#include "fk_internal.h"
#include "fk_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct yaml_reader {
    yaml_parser_t parser;
    fk_error     *err;
    size_t        nodes;   /* nodes made so far (FK_DOC_MAX_NODES) */
} yaml_reader;

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static void yaml_fail(yaml_reader *y, const yaml_mark_t *mark, const char *what)
{
    fk_error_set(y->err, "_INVALID_ARG", "YAML: %s (line %d, column %d)", what,
                 (int)mark->line + 1, (int)mark->column + 1);
}

static int next_event(yaml_reader *y, yaml_event_t *ev)
{
    const unsigned char *text, *end, *at;
    if (yaml_parser_parse(&y->parser, ev)) return 1;
    fk_error_set(y->err, "_INVALID_ARG", "YAML syntax error: %s%s%s (line %d, column %d)",
                 y->parser.problem ? y->parser.problem : "invalid document",
                 y->parser.context ? " " : "", y->parser.context ? y->parser.context : "",
                 (int)y->parser.problem_mark.line + 1, (int)y->parser.problem_mark.column + 1);
    /* libyaml says "cannot start any token" for a tab; say what it is */
    text = y->parser.input.string.start;
    end = y->parser.input.string.end;
    at = text + y->parser.problem_mark.index;
    if (text && at < end && at >= text) {
        const unsigned char *line = at;
        while (line > text && line[-1] != '\n') line--;
        for (; line < end && *line != '\n'; line++)
            if (*line == '\t') {
                fk_error_append(y->err, ": line %d contains a tab character; YAML indents with spaces only",
                                (int)y->parser.problem_mark.line + 1);
                break;
            }
    }
    return 0;
}

static fk_scalar_kind plain_kind(const char *s)
{
    char *end;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || strcmp(s, "True") == 0 ||
        strcmp(s, "False") == 0 || strcmp(s, "TRUE") == 0 || strcmp(s, "FALSE") == 0)
        return FK_SCALAR_BOOL;
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return FK_SCALAR_NULL;
    errno = 0;
    (void)strtod(s, &end);
    if (*end == '\0' && errno == 0) return FK_SCALAR_NUMBER;
    return FK_SCALAR_TEXT;
}

/* The kind of a scalar from its style and tag; -1 (error set) for a tag we do not know.
   `!!str 5` is text; the other core tags (`!!int 5`) read the text as if it were plain; the
   non-specific tag `! 5` is text, as YAML says. */
static int scalar_kind(yaml_reader *y, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag) {
        if (strcmp(tag, "!") == 0 || strcmp(tag, YAML_TAG_PREFIX "str") == 0) return FK_SCALAR_TEXT;
        if (strcmp(tag, YAML_TAG_PREFIX "int") == 0 || strcmp(tag, YAML_TAG_PREFIX "float") == 0 ||
            strcmp(tag, YAML_TAG_PREFIX "bool") == 0 || strcmp(tag, YAML_TAG_PREFIX "null") == 0)
            return plain_kind(text);
    } else {
        return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_kind(text) : FK_SCALAR_TEXT;
    }
    {
        char what[200];
        snprintf(what, sizeof what, "the tag '%.100s' is not supported in configuration documents", tag);
        yaml_fail(y, &ev->start_mark, what);
    }
    return -1;
}

static int collection_tag_ok(yaml_reader *y, const yaml_event_t *ev, const char *tag, const char *core)
{
    char what[200];
    if (!tag || strcmp(tag, "!") == 0 || strcmp(tag, core) == 0) return 1;
    snprintf(what, sizeof what, "the tag '%.100s' is not supported in configuration documents", tag);
    yaml_fail(y, &ev->start_mark, what);
    return 0;
}

static const char no_anchors[] =
    "anchors, aliases and merge keys are not supported in configuration documents";

/* Reads the node that starts with ev (the caller deletes ev); NULL on error. */
static fk_doc *read_node(yaml_reader *y, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    fk_doc *d = NULL;

    if (depth > FK_DOC_MAX_DEPTH) {
        yaml_fail(y, &ev->start_mark, "the document is nested too deeply");
        return NULL;
    }
    if (++y->nodes > FK_DOC_MAX_NODES) {
        yaml_fail(y, &ev->start_mark, "the document has too many values");
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        yaml_fail(y, &ev->start_mark, no_anchors);
        return NULL;
    case YAML_SCALAR_EVENT: {
        const char *text = (const char *)ev->data.scalar.value;
        int kind;
        if (ev->data.scalar.anchor) {
            yaml_fail(y, &ev->start_mark, no_anchors);
            return NULL;
        }
        if (strlen(text) != ev->data.scalar.length) {
            yaml_fail(y, &ev->start_mark, "a value contains a NUL character");
            return NULL;
        }
        if ((kind = scalar_kind(y, ev)) < 0) return NULL;
        if (!(d = fk_doc_new_scalar((fk_scalar_kind)kind, text, line, col))) goto oom;
        return d;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        if ((is_map && ev->data.mapping_start.anchor) || (!is_map && ev->data.sequence_start.anchor)) {
            yaml_fail(y, &ev->start_mark, no_anchors);
            return NULL;
        }
        if (is_map ? !collection_tag_ok(y, ev, (const char *)ev->data.mapping_start.tag, YAML_TAG_PREFIX "map")
                   : !collection_tag_ok(y, ev, (const char *)ev->data.sequence_start.tag, YAML_TAG_PREFIX "seq"))
            return NULL;
        if (!(d = fk_doc_new(is_map ? FK_DOC_MAP : FK_DOC_SEQUENCE, line, col))) goto oom;
        for (;;) {
            yaml_event_t child;
            fk_doc *key = NULL, *value;
            if (!next_event(y, &child)) goto fail;
            if (child.type == YAML_SEQUENCE_END_EVENT || child.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&child);
                return d;
            }
            if (is_map) {
                yaml_event_t val;
                if (child.type != YAML_SCALAR_EVENT) {
                    yaml_fail(y, &child.start_mark,
                              child.type == YAML_ALIAS_EVENT ? no_anchors : "map keys must be plain strings");
                    yaml_event_delete(&child);
                    goto fail;
                }
                key = read_node(y, &child, depth + 1);
                yaml_event_delete(&child);
                if (!key) goto fail;
                if (strcmp(key->text, "<<") == 0) {
                    fk_error_set(y->err, "_INVALID_ARG", "YAML: %s (line %d, column %d)", no_anchors,
                                 key->line, key->column);
                    fk_doc_free(key);
                    goto fail;
                }
                if (d->count >= FK_DOC_MAX_MAP_KEYS) {
                    fk_error_set(y->err, "_INVALID_ARG", "YAML: a map has more than %d keys (line %d, column %d)",
                                 FK_DOC_MAX_MAP_KEYS, key->line, key->column);
                    fk_doc_free(key);
                    goto fail;
                }
                if (!next_event(y, &val)) {
                    fk_doc_free(key);
                    goto fail;
                }
                value = read_node(y, &val, depth + 1);
                yaml_event_delete(&val);
                if (!value) {
                    fk_doc_free(key);
                    goto fail;
                }
                if (!fk_doc_put(d, key->text, value)) {
                    size_t i;
                    int dup = 0;
                    for (i = 0; i < d->count && !dup; i++) dup = strcmp(d->keys[i], key->text) == 0;
                    if (dup)
                        fk_error_set(y->err, "_INVALID_ARG",
                                     "YAML: key '%.200s' appears twice in one map (line %d, column %d)",
                                     key->text, key->line, key->column);
                    else
                        fk_error_set(y->err, "_NO_MEMORY", "YAML: out of memory");
                    fk_doc_free(key);
                    goto fail;
                }
                fk_doc_free(key);
            } else {
                value = read_node(y, &child, depth + 1);
                yaml_event_delete(&child);
                if (!value) goto fail;
                if (!fk_doc_append(d, value)) goto oom;
            }
        }
    }
    default:
        yaml_fail(y, &ev->start_mark, "unexpected YAML event");
        return NULL;
    }
oom:
    fk_error_set(y->err, "_NO_MEMORY", "YAML: out of memory");
fail:
    fk_doc_free(d);
    return NULL;
}

fk_doc *fk_yaml_parse(const char *text, size_t len, fk_error *err)
{
    yaml_reader y;
    yaml_event_t ev;
    fk_doc *root = NULL;
    int done = 0, documents = 0;

    if (len > FK_DOC_MAX_BYTES) {
        fk_error_set(err, "_INVALID_ARG", "YAML: the document is larger than %d MiB",
                     FK_DOC_MAX_BYTES / (1024 * 1024));
        return NULL;
    }
    memset(&y, 0, sizeof y);
    y.err = err;
    if (!yaml_parser_initialize(&y.parser)) {
        fk_error_set(err, "_NO_MEMORY", "YAML: cannot initialise the parser");
        return NULL;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
    while (!done) {
        if (!next_event(&y, &ev)) goto fail;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                yaml_fail(&y, &ev.start_mark, "only one document is allowed");
                yaml_event_delete(&ev);
                goto fail;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            if (root) {
                yaml_fail(&y, &ev.start_mark, "unexpected content after the document");
                yaml_event_delete(&ev);
                goto fail;
            }
            root = read_node(&y, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                goto fail;
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    if (!root) root = fk_doc_new(FK_DOC_MAP, 1, 1);   /* an empty document registers nothing */
    if (!root) fk_error_set(err, "_NO_MEMORY", "YAML: out of memory");
    return root;
fail:
    fk_doc_free(root);
    yaml_parser_delete(&y.parser);
    return NULL;
}
