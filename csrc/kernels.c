/* Instantiates every template for float and double: the product kernels (small_gemm.inc, packed_gemm.inc,
 * parallel_gemm.inc), the helpers the cells call for their products (products.inc), the
 * cells (rnn.inc, lstm.inc, gru.inc: step forward, step backward, derivation), the fused step (fused_step_widths.inc),
 * the time loops (loop.inc, and unit_loop.inc for the fused step split by hidden units) and the streaming step of
 * a few rows (step_kernel.inc).
 * Inside a template: REAL is the element type, FR_FN(name) appends the type suffix, SIGMOID/TANH/RELU are the
 * activations of that type (activations.h), FR_BLAS_GEMM the CBLAS gemm of that type. */
#include <stdatomic.h>
#include <string.h>

#include <cblas.h>

#include "fastrnn.h"
#include "activations.h"
#include "gemm.h"
#include "quant.h"

#define FR_INLINE static inline __attribute__((always_inline))

#define REAL float
#define FR_FN(name) name##_f32
#define SIGMOID fr_sigmoid_f32
#define TANH fr_tanh_f32
#define RELU fr_relu_f32
#define FR_BLAS_GEMM scipy_cblas_sgemm
#define FR_QUANT_PRODUCTS   /* reduced-precision weights (quant.h) serve float32 only */
#include "small_gemm.inc"
#include "packed_gemm_widths.inc"
#include "parallel_gemm.inc"
#include "products.inc"
#include "rnn.inc"
#include "lstm.inc"
#include "gru.inc"
#include "fused_step_widths.inc"
#include "loop.inc"
#include "unit_loop.inc"
#include "step_kernel.inc"
#undef REAL
#undef FR_FN
#undef SIGMOID
#undef TANH
#undef RELU
#undef FR_BLAS_GEMM
#undef FR_QUANT_PRODUCTS

#define REAL double
#define FR_FN(name) name##_f64
#define SIGMOID fr_sigmoid_f64
#define TANH fr_tanh_f64
#define RELU fr_relu_f64
#define FR_BLAS_GEMM scipy_cblas_dgemm
#include "small_gemm.inc"
#include "packed_gemm_widths.inc"
#include "parallel_gemm.inc"
#include "products.inc"
#include "rnn.inc"
#include "lstm.inc"
#include "gru.inc"
#include "fused_step_widths.inc"
#include "loop.inc"
#include "unit_loop.inc"
#include "step_kernel.inc"
