/* Point-wise activations for the cell kernels, and their derivatives expressed through their outputs.
 *
 * float: a branch-free exp (Cephes range reduction + degree-6 polynomial, about 1 ulp on [-87, 88]) that the
 * compiler vectorises inside the FR_SIMD clones; libm's expf would keep the loops scalar.
 * double: libm's exp and tanh (exact to the last bit matters more than speed for the float64 path).
 * NaN propagates through every function (clamps are written as comparisons that are false for NaN).
 */
#ifndef FASTRNN_ACTIVATIONS_H
#define FASTRNN_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* c ? a : b as a bit mask: GCC (with the default -ftrapping-math) if-converts, and so vectorises, only one
 * floating-point select per loop without AVX-512; a chain of them kept the point-wise loops scalar on AVX2. */
static inline float fr_select_f32(int c, float a, float b)
{
    const uint32_t mask = -(uint32_t)(c != 0);
    uint32_t ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    const uint32_t r = (ai & mask) | (bi & ~mask);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

static inline float fr_exp_f32(float x)
{
    x = fr_select_f32(x > 88.0f, 88.0f, x);     /* e^88 < FLT_MAX; keeps 2^n finite */
    x = fr_select_f32(x < -87.0f, -87.0f, x);   /* e^-87 > FLT_MIN; keeps 2^n normal */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round(x / ln 2) */
    float r = x - n * 0.693359375f;             /* ln 2 split in two for an exact reduction */
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;   /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float fr_sigmoid_f32(float x) { return 1.0f / (1.0f + fr_exp_f32(-x)); }
static inline float fr_tanh_f32(float x) { return 1.0f - 2.0f / (1.0f + fr_exp_f32(2.0f * x)); }
static inline float fr_relu_f32(float x) { return x > 0.0f ? x : (x == x ? 0.0f : x); }

static inline double fr_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double fr_tanh_f64(double x) { return tanh(x); }
static inline double fr_relu_f64(double x) { return x > 0.0 ? x : (x == x ? 0.0 : x); }

/* Derivatives from outputs y: sigmoid' = y (1 - y), tanh' = 1 - y^2, relu' = [y > 0]. */
#define FR_DSIGMOID(y) ((y) * (1 - (y)))
#define FR_DTANH(y) (1 - (y) * (y))
#define FR_DRELU(y) ((y) > 0 ? 1 : 0)

#endif
