/* The AVX-512 (64-byte) kernels of the reduced-precision products (quant_product.inc): int8 by vpdpbusd (VNNI),
 * bfloat16 by vdpbf16ps or widened on load, float16 by vcvtph2ps; 4 rows x 4 panels a tile. Run only after
 * x86/quant_cpu.c found the instructions. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "quant_kernel.h"

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
