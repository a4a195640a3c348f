/* Setting librdkafka properties, and the raw ones given by the user (option `rdkafka`):
   which ones fluxakafka keeps for itself, where each one applies (producer, consumer, both),
   and their check. */
#include "fk_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fk_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, fk_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message names the property; never echo the value (may be a secret) */
        fk_error_set(err, "_INVALID_ARG", "librdkafka refused setting '%s': %s", name, errstr);
        return 0;
    }
    return 1;
}

int fk_conf_set_int(rd_kafka_conf_t *conf, const char *name, long long v, fk_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return fk_conf_set(conf, name, buf, err);
}

/* Properties fluxakafka sets from its own options or relies on. A name ending in '*' is a
   prefix. */
typedef struct owned_prop { const char *name; const char *reason; } owned_prop;

static const owned_prop owned[] = {
    { "bootstrap.servers", "use the brokers argument" },
    { "metadata.broker.list", "use the brokers argument" },
    { "client.id", "use the client_id option" },
    { "group.id", "it is the consumer group's name" },
    { "group.instance.id", "fluxakafka makes every member dynamic" },
    { "enable.auto.commit", "use auto_commit_interval" },
    { "auto.commit.interval.ms", "use auto_commit_interval" },
    { "enable.auto.offset.store", "fluxakafka stores the offsets of the records it hands out" },
    { "enable.partition.eof", "fluxakafka's poll_fetches relies on it being off" },
    { "session.timeout.ms", "use session_timeout" },
    { "group.protocol", "use group_protocol" },
    { "max.poll.interval.ms", "use rebalance_timeout" },
    { "fetch.max.bytes", "use fetch_max_bytes" },
    { "auto.offset.reset", "use start_offset" },
    { "security.protocol", "use the sasl and tls options" },
    { "sasl.*", "use the sasl option" },
    { "ssl.ca.location", "use tls.ca_file" },
    { "ssl.certificate.location", "use tls.cert_file" },
    { "ssl.key.location", "use tls.key_file" },
    { "ssl.key.password", "use tls.key_password" },
    { "ssl.keystore.*", "use the tls option" },
    { "enable.ssl.certificate.verification", "use tls.verify" },
    { "ssl.endpoint.identification.algorithm", "use tls.verify" },
    { "linger.ms", "use producer_linger" },
    { "queue.buffering.max.ms", "use producer_linger" },
    { "acks", "use required_acks" },
    { "request.required.acks", "use required_acks" },
    { "message.timeout.ms", "use delivery_timeout" },
    { "delivery.timeout.ms", "use delivery_timeout" },
    { "queue.buffering.max.messages", "use max_buffered_records" },
    { "transactional.id", "use the transactional_id option" },
    { "max.in.flight.requests.per.connection", "use max_in_flight" },
    { "max.in.flight", "use max_in_flight" },
    { "statistics.interval.ms", "use the statistics_interval option (and stats_callback)" },
    { "plugin.library.paths", "fluxakafka does not load librdkafka plugins" },
    { "interceptors", "fluxakafka owns the client's callbacks" },
    { "opaque", "fluxakafka owns the client's callbacks" },
    { "default_topic_conf", "fluxakafka owns the client's callbacks" },
    { "log.queue", "fluxakafka owns the client's logging" },
    { "log_cb", "fluxakafka owns the client's logging (see fk.set_logger)" },
    { NULL, NULL }
};

/* The reason a property is fluxakafka's own, or NULL. */
static const char *owned_reason(const char *name)
{
    size_t i, n = strlen(name);
    for (i = 0; owned[i].name; i++) {
        size_t k = strlen(owned[i].name);
        if (owned[i].name[k - 1] == '*' ? strncmp(name, owned[i].name, k - 1) == 0
                                        : strcmp(name, owned[i].name) == 0)
            return owned[i].reason;
    }
    /* every callback property: dr_cb, error_cb, rebalance_cb, ... */
    if (n > 3 && strcmp(name + n - 3, "_cb") == 0) return "fluxakafka owns the client's callbacks";
    return NULL;
}

/* librdkafka's property table (rd_kafka_conf_properties_show), read once: name -> scope. */
typedef struct scope_entry { char *name; char scope; } scope_entry;

static pthread_once_t scope_once = PTHREAD_ONCE_INIT;
static scope_entry   *scopes;
static size_t         scope_count;

static void scope_add(const char *name, char scope)
{
    size_t i;
    scope_entry *n;
    for (i = 0; i < scope_count; i++)
        if (strcmp(scopes[i].name, name) == 0) return;   /* global table comes first */
    if (!(n = realloc(scopes, (scope_count + 1) * sizeof *n))) return;
    scopes = n;
    if ((scopes[scope_count].name = fk_strdup(name)) != NULL) scopes[scope_count++].scope = scope;
}

static void scope_load(void)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    if (!text) return;
    /* rows read "name   |  C  | range | default | importance | description" */
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], *bar = strchr(line, '|'), *p;
        size_t n;
        if (!bar || !(isalnum((unsigned char)line[0]) || line[0] == '_')) continue;
        n = (size_t)(bar - line);
        while (n && line[n - 1] == ' ') n--;
        if (n == 0 || n >= sizeof name || strncmp(line, "Property", 8) == 0) continue;
        memcpy(name, line, n);
        name[n] = '\0';
        for (p = bar + 1; *p == ' '; p++) {}
        if (*p == 'C' || *p == 'P' || *p == '*') scope_add(name, *p);
    }
    free(text);
}

char fk_rdkafka_scope(const char *name)
{
    size_t i;
    pthread_once(&scope_once, scope_load);
    for (i = 0; i < scope_count; i++)
        if (strcmp(scopes[i].name, name) == 0) return scopes[i].scope;
    return 0;
}

int fk_rdkafka_check(const fk_kvlist *props, int for_group, const char *owner, fk_error *err)
{
    rd_kafka_conf_t *conf;
    size_t i;
    if (!props->count) return 1;
    if (!(conf = rd_kafka_conf_new())) {
        fk_error_set(err, "_NO_MEMORY", "%s: out of memory", owner);
        return 0;
    }
    for (i = 0; i < props->count; i++) {
        const char *k = props->keys[i], *reason = owned_reason(k);
        char errstr[512];
        if (reason) {
            fk_error_set(err, "_INVALID_ARG", "%s: rdkafka property '%s' is set by fluxakafka: %s",
                         owner, k, reason);
            break;
        }
        /* librdkafka's message names the key; the value is never echoed (may be a secret) */
        if (rd_kafka_conf_set(conf, k, props->values[i], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            fk_error_set(err, "_INVALID_ARG", "%s: rdkafka property '%s' refused by librdkafka: %s",
                         owner, k, errstr);
            break;
        }
        if (for_group && fk_rdkafka_scope(k) == 'P') {
            fk_error_set(err, "_INVALID_ARG",
                         "%s: rdkafka property '%s' is a producer property; a consumer group would ignore it "
                         "(set it in the pool's rdkafka option)", owner, k);
            break;
        }
    }
    rd_kafka_conf_destroy(conf);
    return i == props->count;
}

int fk_rdkafka_apply(rd_kafka_conf_t *conf, const fk_kvlist *props, const char *scopes_wanted,
                     fk_error *err)
{
    size_t i;
    for (i = 0; i < props->count; i++) {
        char s = fk_rdkafka_scope(props->keys[i]);
        if (s && !strchr(scopes_wanted, s)) continue;
        if (!fk_conf_set(conf, props->keys[i], props->values[i], err)) return 0;
    }
    return 1;
}
