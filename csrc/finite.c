/* Finite-value checks of inputs before they enter the time loops (NaN or infinity in x or a state is a caller
 * error). Branch-free over the exponent bits, so the loop vectorises and costs one read of the array. */
#include <stdint.h>
#include <string.h>

#include "fastrnn.h"

/* An IEEE value is non-finite when all its exponent bits are set. The SIMD clones are static and called through
 * a plain function: clang before 16 does not export a target_clones function under its own name. */
#define FR_DEFINE_ALL_FINITE(REAL, UINT, EXP_MASK, SFX)                                                         \
    int fr_all_finite_##SFX(const REAL *x, ptrdiff_t n);                                                        \
    FR_SIMD static int all_finite_##SFX(const REAL *x, ptrdiff_t n)                                             \
    {                                                                                                           \
        UINT bad = 0;                                                                                           \
        for (ptrdiff_t k = 0; k < n; k++) {                                                                     \
            UINT bits;                                                                                          \
            memcpy(&bits, x + k, sizeof bits);                                                                  \
            bad |= (UINT)((bits & EXP_MASK) == EXP_MASK);                                                       \
        }                                                                                                       \
        return bad == 0;                                                                                        \
    }                                                                                                           \
    int fr_all_finite_##SFX(const REAL *x, ptrdiff_t n) { return all_finite_##SFX(x, n); }

FR_DEFINE_ALL_FINITE(float, uint32_t, 0x7f800000u, f32)
FR_DEFINE_ALL_FINITE(double, uint64_t, 0x7ff0000000000000ull, f64)
