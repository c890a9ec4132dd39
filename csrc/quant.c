/* Products with reduced-precision weights (quant.h): packing, the prepared copy of A, and the run-time choice
 * among the kernel variants (quant_kernel.h) that the architecture's folder lists for each format (x86/quant_cpu.c)
 * and the CPU runs; the variants themselves are quant_product.inc instantiated once per format and instruction
 * set, one file per instruction set (quant_c.c, x86/quant_avx2.c, x86/quant_avx512.c). Each is used only when the
 * CPU reports its instructions, so no -march flag is needed and gcc and clang both build it.
 * vpmaddubsw adds pairs of u8 x s8 products into int16 with saturation; the avx2 int8 kernel multiplies |w|
 * (at most 128) by a * sign(w) (|a| <= 127), so a pair is at most 32512 and never saturates: every int8
 * variant computes the same exact int32 sums. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastrnn.h"
#include "quant_kernel.h"

ptrdiff_t fr_quant_group(int format)
{
    return format == FR_Q_INT8 ? 4 : format == FR_Q_BF16 ? 2 : 1;
}

/* bfloat16 pads K to 32 values, one 64-byte row of an AMX tile, so that no tile reads past its panel: a W tile
 * of garbage bfloat16 (NaN, infinity) would poison the sums even where A is zero. */
ptrdiff_t fr_quant_padded_k(int format, ptrdiff_t K)
{
    const ptrdiff_t g = format == FR_Q_BF16 ? 32 : fr_quant_group(format);
    return (K + g - 1) / g * g;
}

static ptrdiff_t fr_q_panels(ptrdiff_t N)
{
    return (N + FR_Q_PANEL - 1) / FR_Q_PANEL;
}

static ptrdiff_t fr_q_weight_bytes(int format)
{
    return format == FR_Q_INT8 ? 1 : 2;
}

/* int8 panels are followed by this slack: the AMX kernel's last W tile of a row reads up to 15 groups of 64 bytes
 * past a panel's end (x86/quant_amx.inc), whose integers the zeros of A cancel. */
#define FR_Q_INT8_SLACK 1024

ptrdiff_t fr_quant_packed_bytes(int format, ptrdiff_t N, ptrdiff_t K)
{
    return fr_q_panels(N) * FR_Q_PANEL * fr_quant_padded_k(format, K) * fr_q_weight_bytes(format) +
           (format == FR_Q_INT8 ? FR_Q_INT8_SLACK : 0);
}

void fr_quant_pack(int format, const void *W, ptrdiff_t N, ptrdiff_t K, ptrdiff_t ldw, void *out)
{
    const ptrdiff_t g = fr_quant_group(format), Kp = fr_quant_padded_k(format, K);
    const ptrdiff_t panels = fr_q_panels(N);
    if (format == FR_Q_INT8) {
        const int8_t *w = W;
        uint8_t *o = out;
        for (ptrdiff_t p = 0; p < panels; p++)
            for (ptrdiff_t k0 = 0; k0 < Kp; k0 += g)
                for (ptrdiff_t r = 0; r < FR_Q_PANEL; r++)
                    for (ptrdiff_t j = 0; j < g; j++) {
                        const ptrdiff_t n = p * FR_Q_PANEL + r, k = k0 + j;
                        *o++ = (uint8_t)((n < N && k < K ? w[n * ldw + k] : 0) + 128);
                    }
    } else {
        const uint16_t *w = W;
        uint16_t *o = out;
        for (ptrdiff_t p = 0; p < panels; p++)
            for (ptrdiff_t k0 = 0; k0 < Kp; k0 += g)
                for (ptrdiff_t r = 0; r < FR_Q_PANEL; r++)
                    for (ptrdiff_t j = 0; j < g; j++) {
                        const ptrdiff_t n = p * FR_Q_PANEL + r, k = k0 + j;
                        *o++ = n < N && k < K ? w[n * ldw + k] : 0;
                    }
    }
}

/* ------------------------------------------------------------------------------------------ preparing A */
static ptrdiff_t fr_q_align(ptrdiff_t n)
{
    return (n + 63) / 64 * 64;
}

/* Bytes of one int8 row of Kp values padded for the AMX tiles (FR_QA_INT8_TILE). */
static ptrdiff_t fr_q_tile_row(ptrdiff_t Kp)
{
    return (Kp + FR_Q_TILE_ROW_BYTES - 1) / FR_Q_TILE_ROW_BYTES * FR_Q_TILE_ROW_BYTES;
}

/* Bytes of M prepared rows of Kp values in the widest preparation: float32, or int8 rows padded for the tiles. */
static ptrdiff_t fr_q_rows_bytes(ptrdiff_t M, ptrdiff_t Kp)
{
    return fr_q_align(M * (Kp * 4 > fr_q_tile_row(Kp) ? Kp * 4 : fr_q_tile_row(Kp)));
}

ptrdiff_t fr_quant_scratch_bytes(ptrdiff_t M, ptrdiff_t K)
{
    /* the rows at the largest padding of K (bfloat16's), plus the int8 scales and sums */
    return fr_q_rows_bytes(M, fr_quant_padded_k(FR_Q_BF16, K)) + 2 * fr_q_align(M * 4) + 64;
}

/* int8: each row of A to integers in [-127, 127], scale max|a| / 127 (an all-zero row: scale 0); round half to
 * even (rintf in the default rounding mode); rows ldq bytes apart, zeros past K. */
FR_SIMD static void fr_q_prep_int8(const float *A, ptrdiff_t lda, ptrdiff_t M, ptrdiff_t K, ptrdiff_t ldq,
                                   int8_t *q, float *scale, int32_t *sum)
{
    for (ptrdiff_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        int8_t *qm = q + m * ldq;
        float amax = 0.0f;
        for (ptrdiff_t k = 0; k < K; k++) {
            const float v = a[k] < 0 ? -a[k] : a[k];
            amax = v > amax ? v : amax;
        }
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        int32_t s = 0;
        if (inv <= FLT_MAX) {
            for (ptrdiff_t k = 0; k < K; k++) {
                float v = __builtin_rintf(a[k] * inv);
                v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
                qm[k] = (int8_t)v;
                s += (int32_t)v;
            }
        } else {   /* amax below 127 / FLT_MAX (subnormal activations): 127 / amax overflows float, not double */
            const double dinv = 127.0 / (double)amax;
            for (ptrdiff_t k = 0; k < K; k++) {
                double v = __builtin_rint((double)a[k] * dinv);
                v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : v;
                qm[k] = (int8_t)v;
                s += (int32_t)v;
            }
        }
        for (ptrdiff_t k = K; k < ldq; k++) qm[k] = 0;
        scale[m] = amax / 127.0f;
        sum[m] = s;
    }
}

/* bfloat16 for vdpbf16ps: each value rounded to nearest even (A is finite: the layers check it). Values above
 * the largest bfloat16 (3.3895e38) saturate to it: rounding them would carry into the exponent and give infinity,
 * and then NaN in the products (x = float32 max). */
FR_SIMD static void fr_q_prep_bf16(const float *A, ptrdiff_t lda, ptrdiff_t M, ptrdiff_t K, ptrdiff_t Kp,
                                   uint16_t *out)
{
    for (ptrdiff_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        uint16_t *o = out + m * Kp;
        for (ptrdiff_t k = 0; k < K; k++) {
            uint32_t bits;
            memcpy(&bits, &a[k], 4);
            uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
            rounded -= (rounded & 0x7F80u) == 0x7F80u;   /* carried into infinity: 0x7F7F, +-3.3895e38 */
            o[k] = (uint16_t)rounded;
        }
        for (ptrdiff_t k = K; k < Kp; k++) o[k] = 0;
    }
}

/* float32, padded with zeros to Kp. */
static void fr_q_prep_f32(const float *A, ptrdiff_t lda, ptrdiff_t M, ptrdiff_t K, ptrdiff_t Kp, float *out)
{
    for (ptrdiff_t m = 0; m < M; m++) {
        memcpy(out + m * Kp, A + m * lda, (size_t)K * sizeof(float));
        for (ptrdiff_t k = K; k < Kp; k++) out[m * Kp + k] = 0.0f;
    }
}

/* Where the prepared copy of M rows of A goes in scratch (nothing is computed yet). */
static fr_qprep fr_q_layout(int how, int format, ptrdiff_t M, ptrdiff_t K, void *scratch)
{
    const ptrdiff_t Kp = fr_quant_padded_k(format, K);
    const ptrdiff_t row_bytes = how == FR_QA_INT8_TILE ? fr_q_tile_row(Kp)
                                : how == FR_QA_BF16    ? Kp * 2
                                : how == FR_QA_F32     ? Kp * 4
                                                       : Kp;
    fr_qprep p = {M, Kp, row_bytes, scratch, NULL, NULL, NULL};
    if (how == FR_QA_INT8_OFFSET || how == FR_QA_INT8_TILE || how == FR_QA_INT8) {
        float *scale = (float *)((uint8_t *)scratch + fr_q_rows_bytes(M, Kp));
        p.ascale = scale;
        p.sums = (int32_t *)((uint8_t *)scale + fr_q_align(M * 4));
        p.asum = how == FR_QA_INT8 ? NULL : p.sums;
    }
    return p;
}

/* Prepares rows [m0, m1) of A into the layout p. */
static void fr_q_fill(int how, const fr_qprep *p, const float *A, ptrdiff_t lda, ptrdiff_t K, ptrdiff_t m0,
                      ptrdiff_t m1)
{
    const ptrdiff_t Kp = p->Kp, rows = m1 - m0;
    uint8_t *out = (uint8_t *)p->data + m0 * p->row_bytes;
    A += m0 * lda;
    if (how == FR_QA_INT8_OFFSET || how == FR_QA_INT8_TILE || how == FR_QA_INT8)
        fr_q_prep_int8(A, lda, rows, K, p->row_bytes, (int8_t *)out, (float *)p->ascale + m0, p->sums + m0);
    else if (how == FR_QA_BF16)
        fr_q_prep_bf16(A, lda, rows, K, Kp, (uint16_t *)out);
    else
        fr_q_prep_f32(A, lda, rows, K, Kp, (float *)out);
}

static struct {
    _Atomic int ready;
    int count[3];
    const fr_q_variant *usable[3][FR_Q_MAX_VARIANTS];
    _Atomic int chosen[3];
} fr_q_state;

static void fr_q_init(void)
{
    if (fr_q_state.ready) return;
    const int cpu = fr_q_cpu_features();
    for (int fmt = 0; fmt < 3; fmt++) {
        int n = 0;
        for (int i = 0; i < FR_Q_MAX_VARIANTS && fr_q_variants[fmt][i].name != NULL; i++)
            if ((fr_q_variants[fmt][i].needs & cpu) == fr_q_variants[fmt][i].needs)
                fr_q_state.usable[fmt][n++] = &fr_q_variants[fmt][i];
        fr_q_state.count[fmt] = n;   /* the same values in every racing thread */
    }
    fr_q_state.ready = 1;
}

int fr_quant_kernel_count(int format)
{
    fr_q_init();
    return fr_q_state.count[format];
}

const char *fr_quant_kernel_name(int format, int index)
{
    fr_q_init();
    return index >= 0 && index < fr_q_state.count[format] ? fr_q_state.usable[format][index]->name : NULL;
}

int fr_quant_use_kernel(int format, int index)
{
    fr_q_init();
    if (index < -1 || index >= fr_q_state.count[format]) return -1;
    fr_q_state.chosen[format] = index < 0 ? 0 : index;
    return 0;
}

int fr_quant_kernel_in_use(int format)
{
    return fr_q_state.chosen[format];
}

/* ------------------------------------------------------------------------------------ the product itself */
/* Splitting across threads pays from about this many multiply-adds (a few microseconds of work). */
#define FR_Q_MIN_PARALLEL_MACS 2.0e5

/* Preparing A is split across threads from this many elements of it (the input projection of a sequence). */
#define FR_Q_MIN_PARALLEL_PREP 65536

typedef struct {
    const fr_q_variant *v;
    fr_qprep *A;
    const fr_qmatrix *W;
    const float *src;
    ptrdiff_t lda;
    int accumulate;
    float *C;
    ptrdiff_t ldc;
} fr_q_job;

static void fr_q_prep_part(void *ctx, int index, int count)
{
    const fr_q_job *j = ctx;
    const ptrdiff_t m0 = j->A->M * index / count, m1 = j->A->M * (index + 1) / count;
    if (m1 > m0) fr_q_fill(j->v->prep, j->A, j->src, j->lda, j->W->K, m0, m1);
}

static void fr_q_part(void *ctx, int index, int count)
{
    const fr_q_job *j = ctx;
    const ptrdiff_t panels = fr_q_panels(j->W->N);
    const ptrdiff_t begin = panels * index / count, end = panels * (index + 1) / count;
    if (end > begin) j->v->run(j->A, j->W, begin, end, j->accumulate, j->C, j->ldc);
}

void fr_quant_gemm_nt(const fr_qmatrix *W, ptrdiff_t M, const float *A, ptrdiff_t lda, int accumulate, float *C,
                      ptrdiff_t ldc, void *scratch, int threads)
{
    if (M <= 0 || W->N <= 0) return;
    fr_q_init();
    const fr_q_variant *v = fr_q_state.usable[W->format][fr_q_state.chosen[W->format]];
    fr_qprep prep = fr_q_layout(v->prep, W->format, M, W->K, scratch);
    fr_q_job job = {v, &prep, W, A, lda, accumulate, C, ldc};
    if (threads <= 0)
        threads = (double)M * (double)W->N * (double)W->K >= FR_Q_MIN_PARALLEL_MACS ? fr_max_threads() : 1;
    if (threads > 1 && M * W->K >= FR_Q_MIN_PARALLEL_PREP)
        fr_parallel_run(threads, fr_q_prep_part, &job);
    else
        fr_q_fill(v->prep, &prep, A, lda, W->K, 0, M);
    const ptrdiff_t panels = fr_q_panels(W->N);
    if (threads > panels) threads = (int)panels;
    if (threads <= 1)
        v->run(&prep, W, 0, panels, accumulate, C, ldc);
    else
        fr_parallel_run(threads, fr_q_part, &job);
}
