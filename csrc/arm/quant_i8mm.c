/* int8 by SMMLA (ARMv8.6 i8mm): one instruction multiplies a 2 x 8 block of A (two rows, 8 values of K) by the
 * transpose of a 2 x 8 block of W into a 2 x 2 int32 tile, twice SDOT's products per instruction. The packed
 * layout (quant.h) keeps K in groups of 4, the 16 rows of a panel side by side; two consecutive groups, zipped
 * by 32-bit lanes, give W's 2 x 8 blocks:
 *     zip1(group g rows 0-3, group g+1 rows 0-3) = [row 0: k 4g..4g+7 | row 1: k 4g..4g+7]
 * so the layout is SDOT's. A tile: 4 rows of A x 1 panel, 16 accumulators of [2 rows x 2 outputs]; an odd last
 * row goes to the SDOT kernel (SMMLA would compute a second, empty row). Compiled with
 * -march=armv8.2-a+dotprod+i8mm (setup.py) and run only after arm/isa.c found i8mm and asimddp. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_MATMUL_INT8) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "quant_kernel.h"

FR_Q_DECLARE_RUN(int8_dotprod)

#define FR_Q_PAIRS 2   /* row pairs of A per tile */

/* The 8 signed W blocks of groups g and g + 1 (`second` 0: g is the last group, its partner is zero). */
static inline __attribute__((always_inline)) void fr_q_blocks(const uint8_t *group, int second, int8x16_t b[8])
{
    const uint8x16_t flip = vdupq_n_u8(0x80);
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        const int32x4_t g0 = vreinterpretq_s32_u8(veorq_u8(vld1q_u8(group + 16 * v), flip));
        const int32x4_t g1 = second ? vreinterpretq_s32_u8(veorq_u8(vld1q_u8(group + 64 + 16 * v), flip))
                                    : vdupq_n_s32(0);
        b[2 * v] = vreinterpretq_s8_s32(vzip1q_s32(g0, g1));       /* W rows 4v, 4v + 1 */
        b[2 * v + 1] = vreinterpretq_s8_s32(vzip2q_s32(g0, g1));   /* W rows 4v + 2, 4v + 3 */
    }
}

/* 8 values of a row of A from value k (4 when only one group is left, the rest zero). */
static inline __attribute__((always_inline)) int8x8_t fr_q_a8(const uint8_t *row, ptrdiff_t k, int second)
{
    if (second) return vld1_s8((const int8_t *)row + k);
    return vreinterpret_s8_s32(vset_lane_s32(fr_q_load32(row + k), vdup_n_s32(0), 0));
}

/* Rows [m0, m0 + 2 pairs) of C for panel p: pairs is 1 or 2 (a constant once inlined). */
static inline __attribute__((always_inline)) void fr_q_tile(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t m0,
                                                            const int pairs, ptrdiff_t p, int accumulate,
                                                            float *C, ptrdiff_t ldc)
{
    const ptrdiff_t groups = A->Kp / 4, panel_bytes = groups * 64;
    const uint8_t *wp = (const uint8_t *)W->panels + p * panel_bytes;
    int32x4_t acc[FR_Q_PAIRS][8];
#pragma GCC unroll 2
    for (int q = 0; q < pairs; q++)
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) acc[q][j] = vdupq_n_s32(0);
    for (ptrdiff_t g = 0; g < groups; g += 2) {
        const int second = g + 1 < groups;
        int8x16_t b[8];
        fr_q_blocks(wp + g * 64, second, b);
#pragma GCC unroll 2
        for (int q = 0; q < pairs; q++) {
            const uint8_t *row = (const uint8_t *)A->data + (m0 + 2 * q) * A->row_bytes;
            const int8x16_t a = vcombine_s8(fr_q_a8(row, 4 * g, second), fr_q_a8(row + A->row_bytes, 4 * g, second));
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) acc[q][j] = vmmlaq_s32(acc[q][j], a, b[j]);
        }
    }
    const ptrdiff_t n0 = p * FR_Q_PANEL, n_count = W->N - n0 < FR_Q_PANEL ? W->N - n0 : FR_Q_PANEL;
    for (int q = 0; q < pairs; q++) {
        int32_t upper[FR_Q_PANEL], lower[FR_Q_PANEL];   /* the pair's first and second row */
        for (int j = 0; j < 8; j++) {
            vst1_s32(upper + 2 * j, vget_low_s32(acc[q][j]));
            vst1_s32(lower + 2 * j, vget_high_s32(acc[q][j]));
        }
        const ptrdiff_t m = m0 + 2 * q;
        fr_q_store(upper, A, m, W->scale + n0, n_count, accumulate, C + m * ldc + n0);
        fr_q_store(lower, A, m + 1, W->scale + n0, n_count, accumulate, C + (m + 1) * ldc + n0);
    }
}

void qp_run_int8_i8mm(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t panel_begin, ptrdiff_t panel_end,
                      int accumulate, float *C, ptrdiff_t ldc)
{
    const ptrdiff_t even = A->M / 2 * 2;
    for (ptrdiff_t p = panel_begin; p < panel_end; p++) {
        ptrdiff_t m = 0;
        for (; m + 2 * FR_Q_PAIRS <= even; m += 2 * FR_Q_PAIRS) fr_q_tile(A, W, m, FR_Q_PAIRS, p, accumulate, C, ldc);
        if (m < even) fr_q_tile(A, W, m, 1, p, accumulate, C, ldc);
    }
    if (even < A->M) {   /* the odd last row: A's view from that row */
        fr_qprep last = *A;
        last.M = 1;
        last.data = (const uint8_t *)A->data + even * A->row_bytes;
        last.ascale = A->ascale + even;
        last.asum = A->asum != NULL ? A->asum + even : NULL;
        qp_run_int8_dotprod(&last, W, panel_begin, panel_end, accumulate, C + even * ldc, ldc);
    }
}
#endif
