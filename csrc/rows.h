/* Row-wise and element-wise kernels of fastrnn.InferenceSession's float tensors (rows.c; bound in
 * fastrnn/_rows.pxi, chosen by fastrnn/onnx_session/small.py): softmax and log-softmax over rows, layer
 * normalisation over rows, and the logistic sigmoid. x and out [rows, n] dense, n >= 1, not overlapping. Large
 * calls split their rows across fastrnn's pool (rows.c: FR_ROWS_MIN_PARALLEL). */
#ifndef FASTRNN_ROWS_H
#define FASTRNN_ROWS_H

#include <stddef.h>

#define FR_DECLARE_ROWS(REAL, SFX)                                                                               \
    /* out[r] = softmax(x[r]), or log-softmax when as_log; a row holding NaN or +inf gives NaN (as onnxruntime). */ \
    void fr_softmax_rows_##SFX(const REAL *x, REAL *out, ptrdiff_t rows, ptrdiff_t n, int as_log);             \
    /* out[r] = (x[r] - mean) / sqrt(var + epsilon) scale + bias (bias NULL: none); mean and biased var in        \
       double. scale, bias [n]. */                                                                               \
    void fr_layer_norm_rows_##SFX(const REAL *x, const REAL *scale, const REAL *bias, double epsilon, REAL *out, \
                                  ptrdiff_t rows, ptrdiff_t n);                                                  \
    /* out[k] = 1 / (1 + e^-x[k]), k < n. */                                                                     \
    void fr_sigmoid_array_##SFX(const REAL *x, REAL *out, ptrdiff_t n);

FR_DECLARE_ROWS(float, f32)
FR_DECLARE_ROWS(double, f64)

#undef FR_DECLARE_ROWS

#endif
