/* int8 by SDOT (ARMv8.2 dotprod; quant_product.inc): one instruction adds, per 32-bit lane, the 4 products of a
 * row's group with A's broadcast group, exactly the packed layout's group of 4. 4 rows x 1 panel a tile (16
 * accumulators). Compiled with -march=armv8.2-a+dotprod (setup.py) and run only after arm/isa.c found asimddp. */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "quant_kernel.h"

#define QP_TARGET
#define QP_MR 4
#define QP_NP 1
#define QP_VH 4
#define QP_NAME(x) x##_int8_dotprod
#define QP_ABYTES 1
#define QP_WBYTES 1
#define QP_GROUP 4
#define QP_ACC int32x4_t
#define QP_ZERO vdupq_n_s32(0)
#define QP_W_T int8x16_t
#define QP_WLOAD(w, ptr) ((w) = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(ptr), vdupq_n_u8(0x80))))   /* - 128 */
#define QP_A_T int8x16_t
#define QP_ABCAST(a, ptr) ((a) = vreinterpretq_s8_s32(vdupq_n_s32(fr_q_load32(ptr))))
#define QP_MAC(acc, a, w) ((acc) = vdotq_s32((acc), (w), (a)))
#define QP_LANES(out, acc) vst1q_s32((int32_t *)(out), (acc))
#include "quant_product.inc"
#endif
