/* The AVX2 (32-byte) kernels of the reduced-precision products (quant_product.inc): int8 by vpmaddubsw, bfloat16
 * and float16 widened on load (F16C for float16); 2 rows x 2 panels a tile, two vectors per panel. Run only
 * after x86/quant_cpu.c found AVX2 + FMA (and F16C). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "quant_kernel.h"

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
#endif
