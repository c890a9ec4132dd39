/* bfloat16 by BFDOT (ARMv8.6 bf16; quant_product.inc): one instruction adds, per 32-bit lane, the 2 products
 * of a row's group with A's broadcast group (A rounded to bfloat16 first, as for x86's vdpbf16ps). 4 rows x 1
 * panel a tile. Compiled with -march=armv8.2-a+bf16 (setup.py) and run only after arm/isa.c found bf16. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "quant_kernel.h"

#define QP_TARGET
#define QP_MR 4
#define QP_NP 1
#define QP_VH 4
#define QP_NAME(x) x##_bf16_bfdot
#define QP_ABYTES 2
#define QP_WBYTES 2
#define QP_GROUP 2
#define QP_ACC float32x4_t
#define QP_ZERO vdupq_n_f32(0.0f)
#define QP_W_T bfloat16x8_t
#define QP_WLOAD(w, ptr) ((w) = vreinterpretq_bf16_u16(vld1q_u16((const uint16_t *)(const void *)(ptr))))
#define QP_A_T bfloat16x8_t
#define QP_ABCAST(a, ptr) ((a) = vreinterpretq_bf16_s32(vdupq_n_s32(fr_q_load32(ptr))))
#define QP_MAC(acc, a, w) ((acc) = vbfdotq_f32((acc), (w), (a)))
#define QP_LANES(out, acc) vst1q_f32((float *)(out), (acc))
#include "quant_product.inc"
#endif
