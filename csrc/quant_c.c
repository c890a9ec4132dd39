/* The plain C kernels of the reduced-precision products (quant_product.inc), one per format: every
 * architecture's last choice, and the reference of the vector kernels' tests. Elsewhere than the architectures
 * with a folder, they are all there is. */
#include <stdint.h>
#include <string.h>

#include "quant_kernel.h"

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

#ifndef FR_ARCH_DETECTS
const fr_q_variant fr_q_variants[3][FR_Q_MAX_VARIANTS] = {
    [FR_Q_INT8] = {{"c", 0, FR_QA_INT8, qp_run_int8_c}},
    [FR_Q_BF16] = {{"c", 0, FR_QA_F32, qp_run_bf16_c}},
    [FR_Q_F16] = {{"c", 0, FR_QA_F32, qp_run_f16_c}},
};

int fr_q_cpu_features(void)
{
    return 0;
}
#endif
