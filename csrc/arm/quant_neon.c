/* The NEON kernels of the reduced-precision products (quant_product.inc) for any ARMv8.0 CPU: int8 by SMULL +
 * SADALP (int8 x int8 -> int16 products, pairs summed into int32), bfloat16 and float16 widened on load (a shift
 * for bfloat16, FCVTL for float16) and FMLA in float32. A tile: 4 rows x 1 panel, a panel's 16 outputs in 4
 * vectors (16 accumulators of the 32 registers). int8 products are at most 128 x 127 = 16256: no int16
 * overflow, and the int32 sums are exact as on every path. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "quant_kernel.h"

#define QP_TARGET
#define QP_MR 4
#define QP_NP 1
#define QP_VH 4

/* int8: a weight vector holds 4 rows x 4 values of a group (stored + 128: XOR 0x80 gives the signed value); the
 * accumulator keeps, per row, the sums of values {0, 1} and {2, 3} apart (lo: rows 0-1, hi: rows 2-3), and
 * QP_LANES adds the pairs (ADDP) into the row sums. */
typedef struct { int32x4_t lo, hi; } fr_q_i8acc_neon;
#define QP_NAME(x) x##_int8_neon
#define QP_ABYTES 1
#define QP_WBYTES 1
#define QP_GROUP 4
#define QP_ACC fr_q_i8acc_neon
#define QP_ZERO ((fr_q_i8acc_neon){vdupq_n_s32(0), vdupq_n_s32(0)})
#define QP_W_T int8x16_t
#define QP_WLOAD(w, ptr) ((w) = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(ptr), vdupq_n_u8(0x80))))
#define QP_A_T int8x16_t
#define QP_ABCAST(a, ptr) ((a) = vreinterpretq_s8_s32(vdupq_n_s32(fr_q_load32(ptr))))
#define QP_MAC(acc, a, w)                                                                                     \
    ((acc).lo = vpadalq_s16((acc).lo, vmull_s8(vget_low_s8(w), vget_low_s8(a))),                              \
     (acc).hi = vpadalq_s16((acc).hi, vmull_high_s8((w), (a))))
#define QP_LANES(out, acc) vst1q_s32((int32_t *)(out), vpaddq_s32((acc).lo, (acc).hi))
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

#define QP_ACC float32x4_t
#define QP_ZERO vdupq_n_f32(0.0f)
#define QP_ABYTES 4
#define QP_WBYTES 2
#define QP_LANES(out, acc) vst1q_f32((float *)(out), (acc))

/* bfloat16: a weight vector holds 4 rows x the group's 2 values; as 32-bit lanes, value 0 of a row is the low
 * half (shifted up: float32) and value 1 the high half (masked). */
typedef struct { float32x4_t lo, hi; } fr_q_bf_neon;
#define QP_NAME(x) x##_bf16_neon
#define QP_GROUP 2
#define QP_W_T fr_q_bf_neon
#define QP_WLOAD(w, ptr)                                                                                      \
    do {                                                                                                      \
        const uint32x4_t v_ = vld1q_u32((const uint32_t *)(const void *)(ptr));                              \
        (w).lo = vreinterpretq_f32_u32(vshlq_n_u32(v_, 16));                                                  \
        (w).hi = vreinterpretq_f32_u32(vandq_u32(v_, vdupq_n_u32(0xFFFF0000u)));                              \
    } while (0)
#define QP_A_T fr_q_bf_neon
#define QP_ABCAST(a, ptr) ((a).lo = vdupq_n_f32(fr_q_loadf(ptr)), (a).hi = vdupq_n_f32(fr_q_loadf((ptr) + 4)))
#define QP_MAC(acc, a, w) ((acc) = vfmaq_f32(vfmaq_f32((acc), (a).lo, (w).lo), (a).hi, (w).hi))
#include "quant_product.inc"
#undef QP_NAME
#undef QP_GROUP
#undef QP_W_T
#undef QP_WLOAD
#undef QP_A_T
#undef QP_ABCAST
#undef QP_MAC

/* float16: a weight vector is 4 rows' value, 8 bytes widened by FCVTL (ARMv8.0). */
#define QP_NAME(x) x##_f16_neon
#define QP_GROUP 1
#define QP_W_T float32x4_t
#define QP_WLOAD(w, ptr) ((w) = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)(ptr)))))
#define QP_A_T float32x4_t
#define QP_ABCAST(a, ptr) ((a) = vdupq_n_f32(fr_q_loadf(ptr)))
#define QP_MAC(acc, a, w) ((acc) = vfmaq_f32((acc), (a), (w)))
#include "quant_product.inc"
#endif
