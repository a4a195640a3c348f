/* The secrets of the pools' options (SASL password, TLS key password), kept so that no
   error message or log line shows them. The bottom of the core: it calls no other file of
   it, so that fk_util.c's errors can mask too. */
#include "fk_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char          **secrets;
static size_t          secret_count;

/* Remembers a secret (a copy, kept for the process lifetime) so that no log line shows it. */
void fk_secret_remember(const char *s)
{
    size_t i;
    char **n;
    if (!s || strlen(s) < 3) return;   /* masking one or two characters would garble logs */
    pthread_mutex_lock(&secrets_lock);
    for (i = 0; i < secret_count; i++)
        if (strcmp(secrets[i], s) == 0) goto out;
    if ((n = realloc(secrets, (secret_count + 1) * sizeof *n)) != NULL) {
        secrets = n;
        if ((secrets[secret_count] = strdup(s)) != NULL) secret_count++;
    }
out:
    pthread_mutex_unlock(&secrets_lock);
}

void fk_mask_secrets(char *line)
{
    size_t i;
    pthread_mutex_lock(&secrets_lock);
    for (i = 0; i < secret_count; i++) {
        size_t n = strlen(secrets[i]);
        char *hit;
        while ((hit = strstr(line, secrets[i])) != NULL) memset(hit, '*', n);
    }
    pthread_mutex_unlock(&secrets_lock);
}
