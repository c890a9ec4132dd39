/* A fast 64-bit fingerprint of a block of memory, for knowing whether packed weights are still current.
 *
 * 32 independent lanes of h = (h ^ w) * odd over the 4-byte words (each step a bijection of h, so any single
 * changed word changes its lane's result; the lanes vectorise), then the lanes and the length are mixed into
 * 64 bits. Not a cryptographic hash: it guards against stale copies, not against an adversary. One read of the
 * data, at memory bandwidth. */
#include <string.h>

#include "fastrnn.h"

#define FR_LANES 32

/* The SIMD clones are static, called through fr_fingerprint: clang before 16 does not export a target_clones
 * function under its own name. */
FR_SIMD static uint64_t fingerprint(const void *data, ptrdiff_t bytes)
{
    const unsigned char *p = data;
    uint32_t h[FR_LANES];
    for (int j = 0; j < FR_LANES; j++) h[j] = 0x9E3779B9u * (uint32_t)(j + 1);
    const ptrdiff_t blocks = bytes / (ptrdiff_t)sizeof h;
    for (ptrdiff_t i = 0; i < blocks; i++) {
        uint32_t w[FR_LANES];
        memcpy(w, p + i * (ptrdiff_t)sizeof w, sizeof w);
        for (int j = 0; j < FR_LANES; j++) h[j] = (h[j] ^ w[j]) * 0x01000193u;
    }
    uint64_t f = (uint64_t)bytes * 0x9E3779B97F4A7C15ull;
    for (ptrdiff_t i = blocks * (ptrdiff_t)sizeof h; i < bytes; i++) f = (f ^ p[i]) * 0x100000001B3ull;
    for (int j = 0; j < FR_LANES; j++) {
        f = (f ^ h[j]) * 0x100000001B3ull;
        f ^= f >> 29;
    }
    return f;
}

uint64_t fr_fingerprint(const void *data, ptrdiff_t bytes)
{
    return fingerprint(data, bytes);
}
