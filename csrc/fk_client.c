/* What every librdkafka client of a pool shares (its producers, admin client and consumer
   groups): the configuration with the pool's brokers, security and logging, the connect
   timeout, and how a refusal by the brokers is recognised. */
#include "fk_internal.h"
#include "fk_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fk_connect_timeout_ms(const fk_pool_spec *spec)
{
    return spec->options.connect_timeout_ms > 0 ? (int)spec->options.connect_timeout_ms : FK_DEFAULT_CONNECT_TIMEOUT_MS;
}

rd_kafka_conf_t *fk_pool_conf_new(const fk_pool_spec *spec, fk_error *err)
{
    const fk_pool_options *o = &spec->options;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i, len = 0;
    char *servers;
    int ok;

    fk_secret_remember(o->sasl_password);
    fk_secret_remember(o->tls.key_password);
    fk_log_attach(conf);
    for (i = 0; i < spec->brokers.count; i++) len += strlen(spec->brokers.items[i]) + 1;
    servers = malloc(len + 1);
    if (!servers) {
        rd_kafka_conf_destroy(conf);
        fk_error_set(err, "_NO_MEMORY", "out of memory");
        return NULL;
    }
    servers[0] = '\0';
    for (i = 0; i < spec->brokers.count; i++) {
        if (i) strcat(servers, ",");
        strcat(servers, spec->brokers.items[i]);
    }
    ok = fk_conf_set(conf, "bootstrap.servers", servers, err);
    free(servers);
    /* librdkafka doubles the pause between reconnects up to 10 s: on a link that drops now and
       then, the client would stay away for many seconds after the link came back. A second at
       most keeps a flapping link in use, well within the delivery timeout (raw properties may
       still set both). */
    if (ok) ok = fk_conf_set_int(conf, "reconnect.backoff.ms", FK_RECONNECT_BACKOFF_MS, err) &&
                 fk_conf_set_int(conf, "reconnect.backoff.max.ms", FK_RECONNECT_BACKOFF_MAX_MS, err);
    /* librdkafka's debug contexts for troubleshooting, e.g. FK_RDKAFKA_DEBUG=broker,protocol */
    if (ok && getenv("FK_RDKAFKA_DEBUG")) ok = fk_conf_set(conf, "debug", getenv("FK_RDKAFKA_DEBUG"), err);
    if (ok && o->sasl_mechanism != FK_SASL_NONE) {
        ok = fk_conf_set(conf, "security.protocol", o->tls.enabled ? "sasl_ssl" : "sasl_plaintext", err) &&
             fk_conf_set(conf, "sasl.mechanisms", fk_sasl_mechanism_name(o->sasl_mechanism), err) &&
             fk_conf_set(conf, "sasl.username", o->sasl_user, err) &&
             fk_conf_set(conf, "sasl.password", o->sasl_password, err);
    } else if (ok && o->tls.enabled) {
        ok = fk_conf_set(conf, "security.protocol", "ssl", err);
    }
    /* client.id and the tls files: the options whose rows say every client */
    if (ok) ok = fk_options_apply(conf, fk_pool_option_rows, o, FK_OPT_CLIENTS, err);
    if (ok && o->tls.enabled)
        ok = fk_conf_set(conf, "enable.ssl.certificate.verification", o->tls.verify ? "true" : "false", err) &&
             fk_conf_set(conf, "ssl.endpoint.identification.algorithm", o->tls.verify ? "https" : "none", err);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* Refused credentials and failed TLS handshakes would otherwise surface only as message
   time-outs, long after the broker said no: fail the queued records now, with the reason. */
int fk_note_refusal(int err, const char *reason, int *code, char *buf, size_t buf_len)
{
    if (err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) err = RD_KAFKA_RESP_ERR__AUTHENTICATION;
    if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION && err != RD_KAFKA_RESP_ERR__SSL) return 0;
    *code = err;
    snprintf(buf, buf_len, "%s", reason);
    fk_scram_hint(reason, buf, buf_len);
    fk_mask_secrets(buf);
    return err;
}

/* Apache Kafka 4.0 checks the nonce in a SCRAM exchange's last message exactly, and librdkafka
   before 2.6.1 sends it wrongly: the broker answers as it does to a wrong password. The loaded
   library is what counts (a newer one may be loaded than the headers built against), and the
   brokers' version is not known before the login succeeds, so the hint is conditional. */
void fk_scram_hint(const char *reason, char *buf, size_t buf_len)
{
    size_t used = strlen(buf);
    if (!reason || !strstr(reason, "SCRAM-SHA-") || rd_kafka_version() >= 0x020601ff || used >= buf_len) return;
    snprintf(buf + used, buf_len - used,
             " [if the brokers run Apache Kafka 4.0 or later: they refuse SCRAM from librdkafka before 2.6.1,"
             " and this process runs librdkafka %s; load librdkafka 2.6.1 or later"
             " (README: \"Kafka versions and librdkafka\")]", rd_kafka_version_str());
}
