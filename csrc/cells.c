/* Instantiates every template (the cells rnn_cell.inc, lstm_cell.inc, gru_cell.inc, and the products
 * packed_gemm.inc, parallel_gemm.inc, small_gemm.inc) for float and double.
 * Inside a template: REAL is the element type, FR_FN(name) appends the type suffix, SIGMOID/TANH/RELU are the
 * activations of that type (activations.h), FR_BLAS_GEMM the CBLAS gemm of that type. */
#include <string.h>

#include <cblas.h>

#include "fastrnn.h"
#include "activations.h"

#define REAL float
#define FR_FN(name) name##_f32
#define SIGMOID fr_sigmoid_f32
#define TANH fr_tanh_f32
#define RELU fr_relu_f32
#define FR_BLAS_GEMM scipy_cblas_sgemm
#include "rnn_cell.inc"
#include "lstm_cell.inc"
#include "gru_cell.inc"
#include "packed_gemm.inc"
#include "parallel_gemm.inc"
#include "small_gemm.inc"
#undef REAL
#undef FR_FN
#undef SIGMOID
#undef TANH
#undef RELU
#undef FR_BLAS_GEMM

#define REAL double
#define FR_FN(name) name##_f64
#define SIGMOID fr_sigmoid_f64
#define TANH fr_tanh_f64
#define RELU fr_relu_f64
#define FR_BLAS_GEMM scipy_cblas_dgemm
#include "rnn_cell.inc"
#include "lstm_cell.inc"
#include "gru_cell.inc"
#include "packed_gemm.inc"
#include "parallel_gemm.inc"
#include "small_gemm.inc"
