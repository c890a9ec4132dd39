/* Instantiates the packed product (gemm_kernel.inc) for every ISA and both types, and the entry points
 * (gemm_driver.inc) for both types; owns the per-thread packing scratch.
 *
 * Tiles per ISA (MR rows x NV vectors), chosen so the accumulators plus one row of B fit the registers:
 *   baseline  SSE2, 16 x 16-byte registers: 4 x 2 (no FMA: a product and a sum each)
 *   avx2      AVX2 + FMA, 16 x 32-byte: 6 x 2 = 12 accumulators (f32 6 x 16)
 *   avx512    AVX-512, 32 x 64-byte: 12 x 2 = 24 accumulators (f32 12 x 32), broadcasts folded into the FMAs
 *   neon      aarch64 NEON, 32 x 16-byte: 8 x 3 = 24 accumulators (f32 8 x 12; arm/gemm_isas.inc)
 * Blocks: KC deep so that one B panel (KC x NR) stays in a 32-48 KiB L1; MC x KC of A well inside a 1 MiB L2;
 * KC x NC of B a few MiB of the L3. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gemm.h"
#include "fastrnn.h"

#define FR_GEMM_SCRATCH_SLOTS 2

void *fr_gemm_scratch(int slot, size_t bytes)
{
    static _Thread_local struct {
        void *data;
        size_t bytes;
    } scratch[FR_GEMM_SCRATCH_SLOTS];
    if (scratch[slot].bytes < bytes) {
        const size_t rounded = (bytes + 4095) / 4096 * 4096;
        void *grown = aligned_alloc(64, rounded);
        if (grown == NULL) return NULL;
        free(scratch[slot].data);
        scratch[slot].data = grown;
        scratch[slot].bytes = rounded;
    }
    return scratch[slot].data;
}

#define FR_GK_CAT(name, isa, sfx) name##_##isa##_##sfx
#define FR_GK_NAME(name, isa, sfx) FR_GK_CAT(name, isa, sfx)   /* expands FR_GK_SFX first */

#define REAL float
#define FR_GK_SFX f32
#include "gemm_isas.inc"
#undef FR_GK_SFX
#undef REAL

#define REAL double
#define FR_GK_SFX f64
#include "gemm_isas.inc"
#undef FR_GK_SFX
#undef REAL

#define REAL float
#define FR_FN(name) name##_f32
#define FR_GD_SERIAL(isa) fr_gk_serial_##isa##_f32
#define FR_BLAS_GEMM scipy_cblas_sgemm
#define FR_BLAS_GEMV scipy_cblas_sgemv
#include "gemm_driver.inc"
#undef REAL
#undef FR_FN
#undef FR_GD_SERIAL
#undef FR_BLAS_GEMM
#undef FR_BLAS_GEMV

#define REAL double
#define FR_FN(name) name##_f64
#define FR_GD_SERIAL(isa) fr_gk_serial_##isa##_f64
#define FR_BLAS_GEMM scipy_cblas_dgemm
#define FR_BLAS_GEMV scipy_cblas_dgemv
#include "gemm_driver.inc"
