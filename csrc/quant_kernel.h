/* Inside the reduced-precision products (quant.h): what quant.c shares with the kernel files (quant_c.c and each
 * architecture's folder): A as prepared for a kernel, the kernel variants' table, and the kernels' epilogue.
 *
 * Each architecture's folder defines fr_q_variants (per format, best first, the plain C kernel last) and
 * fr_q_cpu_features (the bits the variants need, as the CPU and OS provide them, capped by FASTRNN_ISA);
 * quant.c keeps the usable ones and runs the chosen one. */
#ifndef FASTRNN_QUANT_KERNEL_H
#define FASTRNN_QUANT_KERNEL_H

#include <stdint.h>
#include <string.h>

#include "arch.h"
#include "quant.h"

/* A prepared for a variant: M rows of Kp elements (QP_ABYTES each) at data, row_bytes apart; for int8 the
 * per-row scales, and the per-row sums of the quantized values when the variant's weights carry the +128. */
typedef struct {
    ptrdiff_t M, Kp, row_bytes;
    const void *data;
    const float *ascale;     /* int8: [M] dequantization scale of each row of A; else NULL */
    const int32_t *asum;     /* int8 vpdpbusd: [M] sum of each row's quantized values; else NULL */
    int32_t *sums;           /* int8: where those sums are written (every int8 kernel computes them) */
} fr_qprep;

/* How a variant wants A prepared: int8 with the row sums that undo W's +128 (FR_QA_INT8_TILE: in rows padded with
 * zeros to a multiple of FR_Q_TILE_ROW_BYTES, for AMX), int8 alone, bfloat16 (rows of Kp values: a multiple of
 * 32, so whole AMX tile rows too), float32. */
enum { FR_QA_INT8_OFFSET, FR_QA_INT8_TILE, FR_QA_INT8, FR_QA_BF16, FR_QA_F32 };
#define FR_Q_TILE_ROW_BYTES 64

/* A kernel: C (+)= A W^T over W's panels [panel_begin, panel_end) (quant_product.inc). */
typedef void (*fr_q_run_fn)(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t panel_begin, ptrdiff_t panel_end,
                            int accumulate, float *C, ptrdiff_t ldc);

typedef struct {
    const char *name;
    int needs;          /* the architecture's CPU feature bits */
    int prep;           /* FR_QA_* */
    fr_q_run_fn run;
} fr_q_variant;

#define FR_Q_MAX_VARIANTS 5
extern const fr_q_variant fr_q_variants[3][FR_Q_MAX_VARIANTS];
int fr_q_cpu_features(void);

/* The kernels of quant_product.inc, by the suffix their file gives QP_NAME. */
#define FR_Q_DECLARE_RUN(sfx)                                                                                 \
    void qp_run_##sfx(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t panel_begin, ptrdiff_t panel_end,    \
                      int accumulate, float *C, ptrdiff_t ldc);
FR_Q_DECLARE_RUN(int8_c)
FR_Q_DECLARE_RUN(bf16_c)
FR_Q_DECLARE_RUN(f16_c)

/* The shared epilogue: lanes [n_count] of row m (int32 sums for int8, float32 otherwise), scaled by W's row
 * scales sw (and A's for int8), stored into or added to c [n_count]. */
static inline void fr_q_store(const void *lanes, const fr_qprep *A, ptrdiff_t m, const float *sw,
                              ptrdiff_t n_count, int accumulate, float *c)
{
    float v[FR_Q_PANEL];
    if (A->ascale != NULL) {
        int32_t s[FR_Q_PANEL];
        memcpy(s, lanes, sizeof s);
        const int32_t offset = A->asum != NULL ? 128 * A->asum[m] : 0;
        for (int n = 0; n < FR_Q_PANEL; n++) v[n] = (float)(s[n] - offset) * A->ascale[m];
    } else {
        memcpy(v, lanes, sizeof v);
    }
    if (accumulate)
        for (ptrdiff_t n = 0; n < n_count; n++) c[n] += v[n] * sw[n];
    else
        for (ptrdiff_t n = 0; n < n_count; n++) c[n] = v[n] * sw[n];
}

static inline int32_t fr_q_load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline float fr_q_loadf(const void *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

#endif
