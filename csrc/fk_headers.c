/* Header keys of consumed records. Kafka counts the bytes of a header key, but librdkafka's
   rd_kafka_header_get_all hands the key out as a bare C string: a key holding a NUL byte
   would read short. */
#include "fk_internal.h"

#include <stddef.h>
#include <string.h>

/* How librdkafka keeps one header (unchanged from 0.11.4 to 2.15): a single allocation whose
   fields come first and whose key bytes, NUL-terminated, end it (followed by the value bytes
   and their NUL, unless the value is null). get_all returns pointers to `key` and `value`. */
typedef struct rd_header_record {
    size_t      serialized_size;   /* varint(key length) + key + varint(value length) + value */
    size_t      value_size;
    size_t      key_size;
    const char *value;
    char        key[1];
} rd_header_record;

/* The bytes of a zigzag varint of n, as librdkafka counts them for serialized_size. */
static size_t zigzag_varint_len(size_t n)
{
    unsigned long long z = (unsigned long long)n << 1;
    size_t len = 1;
    while (z >= 0x80) {
        z >>= 7;
        len++;
    }
    return len;
}

static int layout_checked(void)
{
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        int v = rd_kafka_version();
        k = v >= 0x000b0400 && v < 0x03000000;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}

/* The stored key length is read only when every field around it agrees with what get_all
   returned and with each other: the value pointer and size are the very fields get_all
   read, the serialized size is computed from both lengths, and a present value starts right
   after the key's NUL. Anything else (another layout) falls back to the C string length. */
size_t fk_header_key_len(const char *key, const void *value, size_t value_len)
{
    size_t shown = strlen(key);
    const rd_header_record *h;
    if (!layout_checked()) return shown;
    h = (const rd_header_record *)(const void *)(key - offsetof(rd_header_record, key));
    if (h->value != value || h->value_size != value_len || h->key_size <= shown) return shown;
    if (h->serialized_size != h->key_size + value_len + zigzag_varint_len(h->key_size) +
                              zigzag_varint_len(value_len))
        return shown;
    if (value ? (const char *)value != key + h->key_size + 1 : key[h->key_size] != '\0') return shown;
    return h->key_size;
}
