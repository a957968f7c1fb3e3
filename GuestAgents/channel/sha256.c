/* Minimal self-contained SHA-256 (FIPS 180-4), shared by the shims (the Perl shim digests source
 * files, the SQLite shim every statement's row changes); the x86 SHA extensions when present. */
#include <string.h>
#include "revenant_sha256.h"
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// clang-format off
static const uint32_t K[64] = {
    0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
    0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
    0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
    0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
    0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
    0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
    0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
    0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2};
// clang-format on

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block_generic(revenant_sha256 *c, const uint8_t *p)
{
    uint32_t w[64], a, b, d, e, f, g, h, cc, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0];
    b = c->h[1];
    cc = c->h[2];
    d = c->h[3];
    e = c->h[4];
    f = c->h[5];
    g = c->h[6];
    h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

#if defined(__x86_64__)
/* `n` blocks with the state in registers throughout (one load and one store of it, not one a block:
 * 7.5 MB took 9.5 ms a block at a time against OpenSSL's 5.5). */
__attribute__((target("sha,sse4.1"))) static void blocks_shani(revenant_sha256 *c, const uint8_t *p, size_t n)
{
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i STATE0, STATE1, MSG, TMP, MSG0, MSG1, MSG2, MSG3, ABEF_SAVE, CDGH_SAVE;
    TMP = _mm_loadu_si128((const __m128i *)&c->h[0]);
    STATE1 = _mm_loadu_si128((const __m128i *)&c->h[4]);
    TMP = _mm_shuffle_epi32(TMP, 0xB1);          /* CDAB */
    STATE1 = _mm_shuffle_epi32(STATE1, 0x1B);    /* EFGH */
    STATE0 = _mm_alignr_epi8(TMP, STATE1, 8);    /* ABEF */
    STATE1 = _mm_blend_epi16(STATE1, TMP, 0xF0); /* CDGH */

#define RND4(M, k) \
    MSG = _mm_add_epi32(M, _mm_loadu_si128((const __m128i *)&K[k])); \
    STATE1 = _mm_sha256rnds2_epu32(STATE1, STATE0, MSG); \
    MSG = _mm_shuffle_epi32(MSG, 0x0E); \
    STATE0 = _mm_sha256rnds2_epu32(STATE0, STATE1, MSG)

    for (; n > 0; n--, p += 64) {
        ABEF_SAVE = STATE0;
        CDGH_SAVE = STATE1;
        MSG0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), MASK);
        MSG1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), MASK);
        MSG2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), MASK);
        MSG3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), MASK);
        {
            __m128i W[4];
            int r;
            W[0] = MSG0;
            W[1] = MSG1;
            W[2] = MSG2;
            W[3] = MSG3;
#pragma GCC unroll 16
            for (r = 0; r < 16; r++) {
                __m128i cur = W[r & 3];
                RND4(cur, 4 * r);
                if (r < 12) {
                    /* schedule W[r+4] = f(W[r], W[r+1], W[r+2], W[r+3]) */
                    __m128i w0 = W[r & 3], w1 = W[(r + 1) & 3], w2 = W[(r + 2) & 3], w3 = W[(r + 3) & 3];
                    __m128i t = _mm_sha256msg1_epu32(w0, w1);
                    t = _mm_add_epi32(t, _mm_alignr_epi8(w3, w2, 4));
                    W[r & 3] = _mm_sha256msg2_epu32(t, w3);
                }
            }
        }
        STATE0 = _mm_add_epi32(STATE0, ABEF_SAVE);
        STATE1 = _mm_add_epi32(STATE1, CDGH_SAVE);
    }
#undef RND4
    TMP = _mm_shuffle_epi32(STATE0, 0x1B);       /* FEBA */
    STATE1 = _mm_shuffle_epi32(STATE1, 0xB1);    /* DCHG */
    STATE0 = _mm_blend_epi16(TMP, STATE1, 0xF0); /* DCBA */
    STATE1 = _mm_alignr_epi8(STATE1, TMP, 8);    /* ABEF */
    _mm_storeu_si128((__m128i *)&c->h[0], STATE0);
    _mm_storeu_si128((__m128i *)&c->h[4], STATE1);
}
#endif

static void blocks_generic(revenant_sha256 *c, const uint8_t *p, size_t n)
{
    for (; n > 0; n--, p += 64) block_generic(c, p);
}

#if defined(__x86_64__)
/* The SHA extensions and SSE4.1, asked of the CPU here, on first use: __builtin_cpu_supports would
 * link libgcc's constructor into every program that has this file, the VMM included, and each
 * `cpuid` it runs at start traps to the outer hypervisor on a nested host (5-6.5 us). */
static int have_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1)) return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

/* Chosen on first use; threads that race to choose store the same pointer. */
static void (*blocks_fn)(revenant_sha256 *, const uint8_t *, size_t);

static void blocks(revenant_sha256 *c, const uint8_t *p, size_t n)
{
    void (*fn)(revenant_sha256 *, const uint8_t *, size_t) = __atomic_load_n(&blocks_fn, __ATOMIC_RELAXED);
    if (!fn) {
        fn = blocks_generic;
#if defined(__x86_64__)
        if (have_shani()) fn = blocks_shani;
#endif
        __atomic_store_n(&blocks_fn, fn, __ATOMIC_RELAXED);
    }
    fn(c, p, n);
}

void revenant_sha256_init(revenant_sha256 *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->fill = 0;
}

void revenant_sha256_update(revenant_sha256 *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    c->len += n;
    if (c->fill > 0) {
        size_t k = 64 - c->fill;
        if (k > n) k = n;
        memcpy(c->buf + c->fill, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill < 64) return;
        blocks(c, c->buf, 1);
        c->fill = 0;
    }
    if (n >= 64) {
        blocks(c, p, n / 64); /* whole blocks straight from the input */
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n > 0) {
        memcpy(c->buf, p, n);
        c->fill = n;
    }
}

void revenant_sha256_final(revenant_sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->len * 8;
    int i;
    c->buf[c->fill++] = 0x80;
    if (c->fill > 56) {
        memset(c->buf + c->fill, 0, 64 - c->fill);
        blocks(c, c->buf, 1);
        c->fill = 0;
    }
    memset(c->buf + c->fill, 0, 56 - c->fill);
    for (i = 0; i < 8; i++) c->buf[56 + i] = (uint8_t)(bits >> (8 * (7 - i)));
    blocks(c, c->buf, 1);
    c->fill = 0;
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}
