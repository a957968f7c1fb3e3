/* The channel's integer and string encodings (Docs/channel-format.md), for the shims that write
 * records: LEB128 varints (u), zigzag for signed values (s), and strings as u length + bytes. */
#ifndef REVENANT_ENCODE_H
#define REVENANT_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t usize(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
static inline uint8_t *uput(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
static inline uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline size_t strsize(size_t len) { return usize(len) + len; }
static inline uint8_t *strput(uint8_t *p, const void *s, size_t len)
{
    p = uput(p, len);
    if (len) memcpy(p, s, len);
    return p + len;
}

#endif
