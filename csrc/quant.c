/* Products with reduced-precision weights (quant.h): packing, the prepared copy of A, the kernel variants of
 * quant_product.inc for each format and instruction set, and the run-time choice among them.
 *
 * Variants, best first (each used only when the CPU reports its instructions, checked with cpuid and xgetbv,
 * so no -march flag is needed and gcc and clang both build it):
 *   int8      avx512-vnni (vpdpbusd, 64-byte)  avx2 (vpmaddubsw)  c
 *   bfloat16  avx512-bf16 (vdpbf16ps)  avx512 (widened on load)  avx2 (widened on load)  c
 *   float16   avx512 (vcvtph2ps, 64-byte)  avx2-f16c  c
 * FASTRNN_ISA=avx2 or baseline caps the choice as it does the float kernels'.
 * vpmaddubsw adds pairs of u8 x s8 products into int16 with saturation; the avx2 int8 kernel multiplies |w|
 * (at most 128) by a * sign(w) (|a| <= 127), so a pair is at most 32512 and never saturates: every int8
 * variant computes the same exact int32 sums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define FR_Q_X86 1
#endif

#include "fastrnn.h"
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

ptrdiff_t fr_quant_group(int format)
{
    return format == FR_Q_INT8 ? 4 : format == FR_Q_BF16 ? 2 : 1;
}

ptrdiff_t fr_quant_padded_k(int format, ptrdiff_t K)
{
    const ptrdiff_t g = fr_quant_group(format);
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

ptrdiff_t fr_quant_packed_bytes(int format, ptrdiff_t N, ptrdiff_t K)
{
    return fr_q_panels(N) * FR_Q_PANEL * fr_quant_padded_k(format, K) * fr_q_weight_bytes(format);
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

ptrdiff_t fr_quant_scratch_bytes(int format, ptrdiff_t M, ptrdiff_t K)
{
    /* the widest preparation: float32 rows, plus the int8 scales and sums */
    return fr_q_align(M * fr_quant_padded_k(format, K) * 4) + 2 * fr_q_align(M * 4) + 64;
}

/* int8: each row of A to integers in [-127, 127], scale max|a| / 127 (an all-zero row: scale 0); round half to
 * even (rintf in the default rounding mode). */
FR_SIMD static void fr_q_prep_int8(const float *A, ptrdiff_t lda, ptrdiff_t M, ptrdiff_t K, ptrdiff_t Kp,
                                   int8_t *q, float *scale, int32_t *sum)
{
    for (ptrdiff_t m = 0; m < M; m++) {
        const float *a = A + m * lda;
        int8_t *qm = q + m * Kp;
        float amax = 0.0f;
        for (ptrdiff_t k = 0; k < K; k++) {
            const float v = a[k] < 0 ? -a[k] : a[k];
            amax = v > amax ? v : amax;
        }
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        int32_t s = 0;
        for (ptrdiff_t k = 0; k < K; k++) {
            float v = __builtin_rintf(a[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            qm[k] = (int8_t)v;
            s += (int32_t)v;
        }
        for (ptrdiff_t k = K; k < Kp; k++) qm[k] = 0;
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

enum { FR_QA_INT8_OFFSET, FR_QA_INT8, FR_QA_BF16, FR_QA_F32 };   /* how a variant wants A prepared */

/* Where the prepared copy of M rows of A goes in scratch (nothing is computed yet). */
static fr_qprep fr_q_layout(int how, int format, ptrdiff_t M, ptrdiff_t K, void *scratch)
{
    const ptrdiff_t Kp = fr_quant_padded_k(format, K);
    fr_qprep p = {M, Kp, how == FR_QA_BF16 ? Kp * 2 : how == FR_QA_F32 ? Kp * 4 : Kp, scratch, NULL, NULL, NULL};
    if (how == FR_QA_INT8_OFFSET || how == FR_QA_INT8) {
        float *scale = (float *)((uint8_t *)scratch + fr_q_align(M * Kp * 4));
        p.ascale = scale;
        p.sums = (int32_t *)((uint8_t *)scale + fr_q_align(M * 4));
        p.asum = how == FR_QA_INT8_OFFSET ? p.sums : NULL;
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
    if (how == FR_QA_INT8_OFFSET || how == FR_QA_INT8)
        fr_q_prep_int8(A, lda, rows, K, Kp, (int8_t *)out, (float *)p->ascale + m0, p->sums + m0);
    else if (how == FR_QA_BF16)
        fr_q_prep_bf16(A, lda, rows, K, Kp, (uint16_t *)out);
    else
        fr_q_prep_f32(A, lda, rows, K, Kp, (float *)out);
}

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

/* ------------------------------------------------------------------------------------- the plain C kernels */
#define QP_TARGET
#define QP_MR 1
#define QP_NP 1
#define QP_VH 1
#define QP_LANES(out, acc) memcpy((out), (acc).v, sizeof((acc).v))
typedef struct { int32_t v[FR_Q_PANEL]; } fr_q_i32x16;
typedef struct { float v[FR_Q_PANEL]; } fr_q_f32x16;
typedef struct { const uint8_t *p; } fr_q_ptr;

#define QP_NAME(x) x##_int8_c
#define QP_ABYTES 1
#define QP_WBYTES 1
#define QP_GROUP 4
#define QP_ACC fr_q_i32x16
#define QP_ZERO ((fr_q_i32x16){{0}})
#define QP_W_T fr_q_ptr
#define QP_WLOAD(w, ptr) ((w).p = (ptr))
#define QP_A_T fr_q_ptr
#define QP_ABCAST(a, ptr) ((a).p = (ptr))
#define QP_MAC(acc, a, w)                                                                                     \
    for (int r_ = 0; r_ < FR_Q_PANEL; r_++)                                                                   \
        for (int j_ = 0; j_ < 4; j_++) (acc).v[r_] += ((int32_t)(w).p[4 * r_ + j_] - 128) * (int8_t)(a).p[j_]
#include "quant_product.inc"
#undef QP_NAME
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_GROUP
#undef QP_ACC
#undef QP_ZERO
#undef QP_MAC

#define QP_ACC fr_q_f32x16
#define QP_ZERO ((fr_q_f32x16){{0}})
#define QP_ABYTES 4
#define QP_WBYTES 2

static inline float fr_q_bf16_to_f32(uint16_t h)
{
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* IEEE binary16 -> float32, every case (normals, subnormals, infinities, NaN). */
static inline float fr_q_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else {   /* zero or subnormal: man * 2^-24 */
        const float f = (float)man * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t fr_q_load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

#define QP_NAME(x) x##_bf16_c
#define QP_GROUP 2
#define QP_MAC(acc, a, w)                                                                                     \
    for (int r_ = 0; r_ < FR_Q_PANEL; r_++)                                                                   \
        (acc).v[r_] += fr_q_loadf((a).p) * fr_q_bf16_to_f32(fr_q_load16((w).p + 4 * r_)) +                     \
                       fr_q_loadf((a).p + 4) * fr_q_bf16_to_f32(fr_q_load16((w).p + 4 * r_ + 2))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_GROUP
#undef QP_MAC

#define QP_NAME(x) x##_f16_c
#define QP_GROUP 1
#define QP_MAC(acc, a, w)                                                                                     \
    for (int r_ = 0; r_ < FR_Q_PANEL; r_++)                                                                   \
        (acc).v[r_] += fr_q_loadf((a).p) * fr_q_f16_to_f32(fr_q_load16((w).p + 2 * r_))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_GROUP
#undef QP_MAC
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_ACC
#undef QP_ZERO
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_TARGET
#undef QP_MR
#undef QP_NP
#undef QP_VH
#undef QP_LANES

#ifdef FR_Q_X86
/* ------------------------------------------------------------------------------- AVX2 (32-byte) kernels */
#define QP_MR 2
#define QP_NP 2
#define QP_VH 2

#define QP_NAME(x) x##_int8_avx2
#define QP_TARGET __attribute__((target("avx2,fma")))
#define QP_ABYTES 1
#define QP_WBYTES 1
#define QP_GROUP 4
#define QP_ACC __m256i
#define QP_ZERO _mm256_setzero_si256()
typedef struct { __m256i abs, sign; } fr_q_w8_avx2;   /* |w| (unsigned), and w for its signs */
#define QP_W_T fr_q_w8_avx2
#define QP_WLOAD(w, ptr)                                                                                      \
    do {                                                                                                      \
        (w).sign = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(ptr)), _mm256_set1_epi8((char)0x80)); \
        (w).abs = _mm256_abs_epi8((w).sign);                                                                  \
    } while (0)
#define QP_A_T __m256i
#define QP_ABCAST(a, ptr) ((a) = _mm256_set1_epi32(fr_q_load32(ptr)))
#define QP_MAC(acc, a, w)                                                                                     \
    ((acc) = _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((w).abs, _mm256_sign_epi8((a), (w).sign)), \
                                                       _mm256_set1_epi16(1))))
#define QP_LANES(out, acc) _mm256_storeu_si256((__m256i *)(out), (acc))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_GROUP
#undef QP_ACC
#undef QP_ZERO
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC
#undef QP_LANES
#undef QP_TARGET

#define QP_ACC __m256
#define QP_ZERO _mm256_setzero_ps()
#define QP_ABYTES 4
#define QP_WBYTES 2
#define QP_LANES(out, acc) _mm256_storeu_ps((float *)(out), (acc))

#define QP_NAME(x) x##_bf16_avx2
#define QP_TARGET __attribute__((target("avx2,fma")))
#define QP_GROUP 2
typedef struct { __m256 lo, hi; } fr_q_wbf_avx2;   /* the group's first and second value of each row */
typedef struct { __m256 lo, hi; } fr_q_abf_avx2;
#define QP_W_T fr_q_wbf_avx2
#define QP_WLOAD(w, ptr)                                                                                      \
    do {                                                                                                      \
        const __m256i v_ = _mm256_loadu_si256((const __m256i *)(ptr));                                       \
        (w).lo = _mm256_castsi256_ps(_mm256_slli_epi32(v_, 16));                                              \
        (w).hi = _mm256_castsi256_ps(_mm256_and_si256(v_, _mm256_set1_epi32((int)0xFFFF0000u)));             \
    } while (0)
#define QP_A_T fr_q_abf_avx2
#define QP_ABCAST(a, ptr) ((a).lo = _mm256_set1_ps(fr_q_loadf(ptr)), (a).hi = _mm256_set1_ps(fr_q_loadf((ptr) + 4)))
#define QP_MAC(acc, a, w) ((acc) = _mm256_fmadd_ps((a).hi, (w).hi, _mm256_fmadd_ps((a).lo, (w).lo, (acc))))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC

#define QP_NAME(x) x##_f16_avx2
#define QP_TARGET __attribute__((target("avx2,fma,f16c")))
#define QP_GROUP 1
#define QP_W_T __m256
#define QP_WLOAD(w, ptr) ((w) = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ptr))))
#define QP_A_T __m256
#define QP_ABCAST(a, ptr) ((a) = _mm256_set1_ps(fr_q_loadf(ptr)))
#define QP_MAC(acc, a, w) ((acc) = _mm256_fmadd_ps((a), (w), (acc)))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC
#undef QP_ACC
#undef QP_ZERO
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_LANES
#undef QP_MR
#undef QP_NP
#undef QP_VH

/* ---------------------------------------------------------------------------- AVX-512 (64-byte) kernels */
#define QP_MR 4
#define QP_NP 4
#define QP_VH 1
#define FR_Q_AVX512 "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"

#define QP_NAME(x) x##_int8_vnni
#define QP_TARGET __attribute__((target(FR_Q_AVX512 ",avx512vnni")))
#define QP_ABYTES 1
#define QP_WBYTES 1
#define QP_GROUP 4
#define QP_ACC __m512i
#define QP_ZERO _mm512_setzero_si512()
#define QP_W_T __m512i
#define QP_WLOAD(w, ptr) ((w) = _mm512_loadu_si512((const void *)(ptr)))
#define QP_A_T __m512i
#define QP_ABCAST(a, ptr) ((a) = _mm512_set1_epi32(fr_q_load32(ptr)))
#define QP_MAC(acc, a, w) ((acc) = _mm512_dpbusd_epi32((acc), (w), (a)))
#define QP_LANES(out, acc) _mm512_storeu_si512((void *)(out), (acc))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_GROUP
#undef QP_ACC
#undef QP_ZERO
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC
#undef QP_LANES

#define QP_ACC __m512
#define QP_ZERO _mm512_setzero_ps()
#define QP_WBYTES 2
#define QP_LANES(out, acc) _mm512_storeu_ps((float *)(out), (acc))

#define QP_NAME(x) x##_bf16_dp
#define QP_TARGET __attribute__((target(FR_Q_AVX512 ",avx512bf16")))
#define QP_ABYTES 2
#define QP_GROUP 2
#define QP_A_T __m512i
#define QP_ABCAST(a, ptr) ((a) = _mm512_set1_epi32(fr_q_load32(ptr)))
#define QP_MAC(acc, a, w) ((acc) = _mm512_dpbf16_ps((acc), (__m512bh)(w), (__m512bh)(a)))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_ABYTES
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC

#define QP_ABYTES 4
#define QP_NAME(x) x##_bf16_avx512
#define QP_TARGET __attribute__((target(FR_Q_AVX512)))
#define QP_GROUP 2
typedef struct { __m512 lo, hi; } fr_q_bf_avx512;
#define QP_W_T fr_q_bf_avx512
#define QP_WLOAD(w, ptr)                                                                                      \
    do {                                                                                                      \
        const __m512i v_ = _mm512_loadu_si512((const void *)(ptr));                                          \
        (w).lo = _mm512_castsi512_ps(_mm512_slli_epi32(v_, 16));                                              \
        (w).hi = _mm512_castsi512_ps(_mm512_and_si512(v_, _mm512_set1_epi32((int)0xFFFF0000u)));             \
    } while (0)
#define QP_A_T fr_q_bf_avx512
#define QP_ABCAST(a, ptr) ((a).lo = _mm512_set1_ps(fr_q_loadf(ptr)), (a).hi = _mm512_set1_ps(fr_q_loadf((ptr) + 4)))
#define QP_MAC(acc, a, w) ((acc) = _mm512_fmadd_ps((a).hi, (w).hi, _mm512_fmadd_ps((a).lo, (w).lo, (acc))))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC

#define QP_NAME(x) x##_f16_avx512
#define QP_TARGET __attribute__((target(FR_Q_AVX512)))
#define QP_GROUP 1
#define QP_W_T __m512
#define QP_WLOAD(w, ptr) ((w) = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ptr))))
#define QP_A_T __m512
#define QP_ABCAST(a, ptr) ((a) = _mm512_set1_ps(fr_q_loadf(ptr)))
#define QP_MAC(acc, a, w) ((acc) = _mm512_fmadd_ps((a), (w), (acc)))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_TARGET
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC
#undef QP_ACC
#undef QP_ZERO
#undef QP_ABYTES
#undef QP_WBYTES
#undef QP_LANES
#undef QP_MR
#undef QP_NP
#undef QP_VH
#endif

/* ------------------------------------------------------------------------------ choosing among variants */
typedef void (*fr_q_run_fn)(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t panel_begin, ptrdiff_t panel_end,
                            int accumulate, float *C, ptrdiff_t ldc);

enum { FR_CPU_AVX2 = 1, FR_CPU_F16C = 2, FR_CPU_AVX512 = 4, FR_CPU_VNNI = 8, FR_CPU_BF16 = 16 };

typedef struct {
    const char *name;
    int needs;          /* FR_CPU_* bits */
    int prep;           /* FR_QA_* */
    fr_q_run_fn run;
} fr_q_variant;

#define FR_Q_MAX_VARIANTS 4
static const fr_q_variant fr_q_variants[3][FR_Q_MAX_VARIANTS] = {
    [FR_Q_INT8] = {
#ifdef FR_Q_X86
        {"avx512-vnni", FR_CPU_AVX512 | FR_CPU_VNNI, FR_QA_INT8_OFFSET, qp_run_int8_vnni},
        {"avx2", FR_CPU_AVX2, FR_QA_INT8, qp_run_int8_avx2},
#endif
        {"c", 0, FR_QA_INT8, qp_run_int8_c},
    },
    [FR_Q_BF16] = {
#ifdef FR_Q_X86
        {"avx512-bf16", FR_CPU_AVX512 | FR_CPU_BF16, FR_QA_BF16, qp_run_bf16_dp},
        {"avx512", FR_CPU_AVX512, FR_QA_F32, qp_run_bf16_avx512},
        {"avx2", FR_CPU_AVX2, FR_QA_F32, qp_run_bf16_avx2},
#endif
        {"c", 0, FR_QA_F32, qp_run_bf16_c},
    },
    [FR_Q_F16] = {
#ifdef FR_Q_X86
        {"avx512", FR_CPU_AVX512 | FR_CPU_F16C, FR_QA_F32, qp_run_f16_avx512},
        {"avx2-f16c", FR_CPU_AVX2 | FR_CPU_F16C, FR_QA_F32, qp_run_f16_avx2},
#endif
        {"c", 0, FR_QA_F32, qp_run_f16_c},
    },
};

/* The CPU's FR_CPU_* bits (the instruction sets, and the OS saving their registers). */
static int fr_q_cpu_features(void)
{
    int f = 0;
#ifdef FR_Q_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;   /* OSXSAVE */
    const int f16c = (c >> 29) & 1, fma = (c >> 12) & 1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const int ymm_os = (lo & 0x6u) == 0x6u, zmm_os = (lo & 0xE6u) == 0xE6u;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1, avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    const int vnni = (c >> 11) & 1;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    const int bf16 = (a1 >> 5) & 1;
    if (ymm_os && avx2 && fma) f |= FR_CPU_AVX2;
    if (ymm_os && f16c) f |= FR_CPU_F16C;
    if ((f & FR_CPU_AVX2) && (f & FR_CPU_F16C) && zmm_os && avx512) {
        f |= FR_CPU_AVX512;
        if (vnni) f |= FR_CPU_VNNI;
        if (bf16) f |= FR_CPU_BF16;
    }
#endif
    return f;
}

static struct {
    _Atomic int ready;
    int count[3];
    const fr_q_variant *usable[3][FR_Q_MAX_VARIANTS];
    _Atomic int chosen[3];
} fr_q_state;

/* FASTRNN_ISA (isa.c) caps the kernels too: "avx2" keeps the AVX2 and C kernels, "baseline" the C ones. */
static int fr_q_isa_cap(int cpu)
{
    const char *isa = getenv("FASTRNN_ISA");
    if (isa != NULL && strcmp(isa, "avx2") == 0) return cpu & (FR_CPU_AVX2 | FR_CPU_F16C);
    if (isa != NULL && strcmp(isa, "baseline") == 0) return 0;
    return cpu;
}

static void fr_q_init(void)
{
    if (fr_q_state.ready) return;
    const int cpu = fr_q_isa_cap(fr_q_cpu_features());
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
