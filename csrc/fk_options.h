/*
 * fk_options.h - the one description of every option of a pool, a consumer group and a topic.
 *
 * Each option is one row: its name in Lua option tables (and builder methods), its name in
 * configuration documents, what kind of value it takes, its range or choices, its default,
 * the librdkafka property it maps to, where it is stored, and its documentation. The YAML
 * loader (fk_config.c), the binding's option reader, getters and builder methods, the
 * "did you mean" of unknown names, init/copy/clear of the option structs, the properties set
 * on the producers and docs/API.md's option table all walk these rows: adding an option is
 * adding a field to its struct and a row here.
 */
#ifndef FK_OPTIONS_H
#define FK_OPTIONS_H

#include "fluxakafka.h"

typedef enum fk_option_kind {
    FK_OPT_STRING,    /* text */
    FK_OPT_INT,       /* a whole number in [min, max] */
    FK_OPT_MS,        /* a duration in [min, max] ms: integer milliseconds in documents (the
                         names end in Ms), seconds (fractions allowed) in Lua */
    FK_OPT_BOOL,
    FK_OPT_ENUM,      /* one of `choices` */
    FK_OPT_STRINGS,   /* a list of strings */
    FK_OPT_KV,        /* a map of names to scalar values */
    FK_OPT_NESTED,    /* a section holding the options of `sub` (tls, sasl) */
    FK_OPT_START,     /* where a consumer group starts: earliest, latest or a timestamp */
    FK_OPT_FUNCTION,  /* a callback, read by the binding's own layer */
    FK_OPT_STRUCTURE  /* document structure the loader reads itself (brokers, consumerGroups) */
} fk_option_kind;

/* How the value is stored at `offset` in the options struct. */
typedef enum fk_field_type {
    FK_FIELD_NONE,     /* not stored in the struct (FUNCTION, STRUCTURE, START, sasl) */
    FK_FIELD_INT,      /* int (also an enum: choice index + 1, 0 = unset) */
    FK_FIELD_INT16,
    FK_FIELD_DOUBLE,
    FK_FIELD_STRING,   /* char *, owned */
    FK_FIELD_STRINGS,  /* fk_strlist */
    FK_FIELD_KV        /* fk_kvlist; an INT or ENUM row stored here sets one entry, named by
                          `rdkafka` (a topic config such as retention.ms) */
} fk_field_type;

enum {
    FK_OPT_REQUIRED   = 1 << 0,  /* documents must give it; in a section: the key the others need */
    FK_OPT_SECRET     = 1 << 1,  /* overwritten when freed, never quoted */
    FK_OPT_NOT_EMPTY  = 1 << 2,  /* Lua refuses "" too (documents always do) */
    FK_OPT_FLAT       = 1 << 3,  /* a section whose keys sit in the parent map in documents */
    FK_OPT_BINDING    = 1 << 4,  /* read by the binding's own layer: the core neither reads nor
                                    accepts it, but documents it */
    FK_OPT_TOPIC_NAME = 1 << 5,  /* must be a valid Kafka topic name */
    FK_OPT_PRODUCER   = 1 << 6,  /* set `rdkafka` on the pool's producers when set */
    FK_OPT_CLIENTS    = 1 << 7   /* set `rdkafka` on every client of the pool when set */
};

typedef struct fk_option {
    const char *lua;             /* Lua option table key / builder method; NULL: none */
    const char *yaml;            /* configuration document key; NULL: none */
    fk_option_kind kind;
    fk_field_type type;
    size_t offset;
    long long min, max;          /* INT and MS (in ms) */
    const char *const *choices;  /* ENUM, NULL-terminated */
    const struct fk_option *sub; /* NESTED; its field, when INT, says the section is on and
                                    lets Lua turn it on with `true` */
    int flags;
    double init;                 /* numbers: the value of a new struct */
    double if_zero;              /* numbers: the value in effect when 0 is stored (0: 0) */
    const char *if_unset;        /* strings and choices: the value in effect when unset */
    const char *rdkafka;         /* the librdkafka property (or topic config) it maps to */
    const char *noun;            /* KV: what the names are; STRINGS: what one item is; ENUM:
                                    what a value is (then messages say "unknown <noun>" and
                                    list the known ones), the builder method's argument */
    const char *zero;            /* what 0 means, in words (builder messages) */
    const char *doc;             /* docs/API.md: what it does */
    const char *default_doc;     /* docs/API.md's default when not derived from the numbers */
} fk_option;

typedef enum fk_spelling { FK_NAME_LUA, FK_NAME_YAML } fk_spelling;

/* Each table ends with a row without names. */
extern const fk_option fk_pool_option_rows[];
extern const fk_option fk_group_option_rows[];
extern const fk_option fk_topic_option_rows[];

int fk_option_end(const fk_option *row);
/* The row's name in spelling s; NULL when it has none there or the core does not read it
   there (FK_OPT_BINDING). A YAML-flat section has no YAML name of its own. */
const char *fk_option_name(const fk_option *row, fk_spelling s);
/* The row named `name` in spelling s (documents: also the keys of flat sections), or NULL. */
const fk_option *fk_option_find(const fk_option *rows, const char *name, fk_spelling s);
/* Fills names (and aliases, the other spelling of each; may be NULL) with the names rows
   accept in spelling s, in table order; returns how many (at most cap - 1, NULL-terminated). */
size_t fk_option_names(const fk_option *rows, fk_spelling s, const char **names, const char **aliases,
                       size_t cap);
/* The accepted name a misspelt `name` most likely means (also from the other spelling). */
const char *fk_option_suggest(const fk_option *rows, const char *name, fk_spelling s);
/* Writes items as "<pre>a<post><sep><pre>b<post><last_sep><pre>c<post>" into buf. */
void fk_option_join(char *buf, size_t len, const char *const *items, size_t n, const char *sep,
                    const char *last_sep, const char *pre, const char *post);
/* The accepted names of rows in spelling s, joined as fk_option_join does. */
void fk_option_join_names(char *buf, size_t len, const fk_option *rows, fk_spelling s, const char *sep,
                          const char *last_sep, const char *pre, const char *post);
/* The row's choices, "a, b<last_sep>c" (each quoted when one holds a comma). */
void fk_option_choices_text(char *buf, size_t len, const fk_option *row, const char *last_sep);
int  fk_option_choice(const fk_option *row, const char *name);   /* index, or -1 */

/* Values. base is the options struct the rows describe. */
void       *fk_option_field(const fk_option *row, void *base);
int         fk_option_is_set(const fk_option *row, const void *base);
double      fk_option_number(const fk_option *row, const void *base);  /* as stored */
double      fk_option_effective(const fk_option *row, const void *base); /* 0 -> if_zero */
/* Strings and choices; NULL when unset (effective: if_unset then). */
const char *fk_option_text(const fk_option *row, const void *base);
/* 0 on out of memory. set_text of a choice takes one of the row's choices. */
int         fk_option_set_number(const fk_option *row, void *base, double value);
int         fk_option_set_text(const fk_option *row, void *base, const char *value);

/* A struct the rows describe: defaults, deep copy (0 on out of memory, dst cleared) and
   freeing what it owns. size is the struct's size. */
void fk_options_init(const fk_option *rows, void *base, size_t size);
int  fk_options_copy(const fk_option *rows, void *dst, const void *src, size_t size);
void fk_options_clear(const fk_option *rows, void *base);

/* Sets the `rdkafka` property of every set row flagged with `flag` (FK_OPT_PRODUCER or
   FK_OPT_CLIENTS), sections only when on. */
struct rd_kafka_conf_s;
int fk_options_apply(struct rd_kafka_conf_s *conf, const fk_option *rows, const void *base, int flag,
                     fk_error *err);

/* docs/API.md's table of the rows with a Lua name (malloc'd markdown; NULL: out of memory). */
char *fk_options_doc(const fk_option *rows);

#endif
