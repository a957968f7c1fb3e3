/* Minimal self-contained SHA-256 (FIPS 180-4), used to digest source files once each. */
#ifndef REVENANT_SHA256_H
#define REVENANT_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t fill;
} revenant_sha256;

void revenant_sha256_init(revenant_sha256 *c);
void revenant_sha256_update(revenant_sha256 *c, const void *data, size_t n);
void revenant_sha256_final(revenant_sha256 *c, uint8_t out[32]);
#endif
