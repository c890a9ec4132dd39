/* fastrnn C kernels: fused point-wise cell math, forward and backward, float32 (_f32) and float64 (_f64).
 *
 * Letters: B rows in the batch (the active prefix of it), H hidden size.
 * All arrays are row-major and dense (leading dimension = row length) unless an ld argument says otherwise.
 * Kernels trust their preconditions (the Cython layer validates): pointers non-NULL unless marked "or NULL",
 * buffers of the stated shapes, no aliasing between arguments. They never allocate and never fail.
 * Gate orders are torch's: LSTM [i, f, g, o], GRU [r, z, n].
 * Every function is compiled three times (x86-64-v4 = AVX-512, v3 = AVX2+FMA, baseline) and the loader picks
 * the best for the running CPU (GCC target_clones), so wheels run on any x86-64.
 */
#ifndef FASTRNN_H
#define FASTRNN_H

#include <stddef.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(FASTRNN_NO_CLONES)
#define FR_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FR_SIMD
#endif

#define FR_DECLARE_CELLS(REAL, SFX)                                                                              \
    /* RNN. gates [B,H] INOUT: pre-activation in, act(.) out; h [B,H] OUT: h' = act(pre) */                     \
    void fr_rnn_pointwise_forward_##SFX(REAL *gates, REAL *h, ptrdiff_t B, ptrdiff_t H, int relu);              \
    /* gates [B,H] IN activations; dh [B,H] INOUT: dL/dh' in, dL/dpre out (overwritten) */                      \
    void fr_rnn_pointwise_backward_##SFX(const REAL *gates, REAL *dh, ptrdiff_t B, ptrdiff_t H, int relu);     \
                                                                                                                 \
    /* LSTM. gates [B,4H] INOUT: pre-activations in, activations out; c [B,H] INOUT: c -> c';                   \
       peep [3,H] IN rows [i,f,o] (zeros: plain LSTM); r [B,H] OUT: o * tanh(c') (= h' unless projected) */      \
    void fr_lstm_pointwise_forward_##SFX(REAL *gates, REAL *c, const REAL *peep, REAL *r,                       \
                                         ptrdiff_t B, ptrdiff_t H);                                              \
    /* gates [B,4H] IN activations of the step; c_prev [B,H] IN; peep [3,H] IN;                           \
       dr [B,H] IN dL/dr; dc [B,H] INOUT: dL/dc' in, dL/dc_prev out; dgates [B,4H] OUT dL/d(pre-activations);    \
       dpeep [3,H] INOUT (+=) or NULL */                                                                         \
    void fr_lstm_pointwise_backward_##SFX(const REAL *gates, const REAL *c_prev, const REAL *peep,              \
                                          const REAL *dr, REAL *dc, REAL *dgates,              \
                                          REAL *dpeep, ptrdiff_t B, ptrdiff_t H);                                \
                                                                                                                 \
    /* GRU, linear before reset (torch). gates [B,3H] INOUT: input part of pre-activations in (x-projection,     \
       b_ih, and b_hh for r and z), activations [r,z,n] out; hh [B,3H] IN: W_hh h without bias;                  \
       b_hn [H] IN (zeros without bias); hn [B,H] OUT: W_hn h + b_hn (kept for backward);                      \
       h [B,H] INOUT: h -> h' */                                                                                 \
    void fr_gru_pointwise_forward_##SFX(REAL *gates, const REAL *hh, const REAL *b_hn, REAL *hn, REAL *h,       \
                                        ptrdiff_t B, ptrdiff_t H);                                               \
    /* gates [B,3H] IN activations; hn [B,H] IN; h_prev [B,H] IN; dh [B,H] INOUT: dL/dh' in, the direct part    \
       (z * dh') of dL/dh_prev out; dgates [B,3H] OUT dL/d(input-part pre-activations);                          \
       dhh [B,3H] OUT dL/d(W_hh h + b_hh) */                                                                     \
    void fr_gru_pointwise_backward_##SFX(const REAL *gates, const REAL *hn, const REAL *h_prev, REAL *dh,       \
                                         REAL *dgates, REAL *dhh, ptrdiff_t B, ptrdiff_t H);                     \
                                                                                                                 \
    /* GRU, reset before the matmul (Cho et al.). Stage 1: gates [B,3H] INOUT: columns [r,z] pre-activations     \
       in (all terms), sigmoids out; h [B,H] IN; rh [B,H] OUT: r * h (the input of the second matmul) */         \
    void fr_gru_rb_pointwise_reset_##SFX(REAL *gates, const REAL *h, REAL *rh, ptrdiff_t B, ptrdiff_t H);       \
    /* Stage 2: gates [B,3H] INOUT: column n pre-activation in (all terms), tanh out; h [B,H] INOUT: h -> h' */ \
    void fr_gru_rb_pointwise_forward_##SFX(REAL *gates, REAL *h, ptrdiff_t B, ptrdiff_t H);                     \
    /* gates [B,3H] IN activations; h_prev [B,H] IN; dh [B,H] INOUT: dL/dh' in, direct part z*dh' out;           \
       dgates [B,3H] OUT: columns z and n = dL/d(pre-activation); column r is left for _backward_r */            \
    void fr_gru_rb_pointwise_backward_zn_##SFX(const REAL *gates, const REAL *h_prev, REAL *dh, REAL *dgates,   \
                                               ptrdiff_t B, ptrdiff_t H);                                        \
    /* After drh = dL/d(r*h) = dgates_n W_hn: gates, h_prev, drh [B,H] IN; dh [B,H] INOUT (+= r * drh);          \
       dgates [B,3H] column r OUT */                                                                             \
    void fr_gru_rb_pointwise_backward_r_##SFX(const REAL *gates, const REAL *h_prev, const REAL *drh,           \
                                              REAL *dh, REAL *dgates, ptrdiff_t B, ptrdiff_t H);

FR_DECLARE_CELLS(float, f32)
FR_DECLARE_CELLS(double, f64)

#undef FR_DECLARE_CELLS

/* The recurrent product with W packed once per call (packed_gemm.inc): W [N, K] (element [n][k] at
 * W[n stride_n + k stride_k]: K, 1 for torch's layout) -> Wp [fr_packed_size(N, K)] by fr_pack_weights; then
 * C [M, N] (row stride ldc) = A [M, K] (row stride lda) W^T, or C += that when accumulate != 0, for the column
 * panels [panel_begin, panel_end) of [0, fr_packed_panels(N)) (so threads can split the panels). */
#define FR_DECLARE_PACKED(REAL, SFX)                                                                             \
    ptrdiff_t fr_packed_size_##SFX(ptrdiff_t N, ptrdiff_t K);                                                    \
    ptrdiff_t fr_packed_panels_##SFX(ptrdiff_t N);                                                               \
    void fr_pack_weights_##SFX(const REAL *W, ptrdiff_t N, ptrdiff_t K, ptrdiff_t stride_n, ptrdiff_t stride_k, \
                                REAL *Wp);                                                                   \
    void fr_packed_gemm_nt_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,            \
                                 const REAL *Wp, int accumulate, REAL *C, ptrdiff_t ldc, ptrdiff_t panel_begin,   \
                                 ptrdiff_t panel_end);

FR_DECLARE_PACKED(float, f32)
FR_DECLARE_PACKED(double, f64)

#undef FR_DECLARE_PACKED

/* The worker pool (pool.c): fr_parallel_run calls fn(ctx, i, n) once for every part i in [0, n), on the caller
 * and idle workers (n is capped by fr_set_max_threads, default the online CPUs), and returns when all are done;
 * when the pool is busy with another call, the caller runs all parts itself. */
typedef void (*fr_task_fn)(void *ctx, int index, int count);
void fr_parallel_run(int n, fr_task_fn fn, void *ctx);
void fr_set_max_threads(int n);
int fr_max_threads(void);

/* Products split across the pool (parallel_gemm.inc), for the time loops:
 * fr_gemm: row-major C [M, N] = op(A) op(Bm) + beta C (op = transpose when trans_*), BLAS per part;
 * fr_packed_gemm_nt_parallel: fr_packed_gemm_nt over all panels, the panels split across threads. */
#define FR_DECLARE_PARALLEL(REAL, SFX)                                                                           \
    void fr_gemm_##SFX(int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A,          \
                       ptrdiff_t lda, const REAL *Bm, ptrdiff_t ldb, REAL beta, REAL *C, ptrdiff_t ldc);         \
    void fr_packed_gemm_nt_parallel_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,  \
                                          const REAL *Wp, int accumulate, REAL *C, ptrdiff_t ldc);

FR_DECLARE_PARALLEL(float, f32)
FR_DECLARE_PARALLEL(double, f64)

#undef FR_DECLARE_PARALLEL

/* The per-step recurrent product for small batches straight from torch's layout, W not packed (small_gemm.inc):
 * C [M, N] (row stride ldc) = A [M, K] (row stride lda) W [N, K]^T (row stride ldw), or C += that when
 * accumulate != 0. A, W IN; C OUT (INOUT when accumulating), not overlapping A or W. Made for M up to about 8.
 * _mt splits N across up to nthreads threads of the pool (capped by fr_set_max_threads); _auto, for the time
 * loops, uses all of them from N K max(M, 2) sizeof(REAL) >= 2 MiB (f32 M <= 2: W from 1 MiB), else one. */
#define FR_DECLARE_SMALL_GEMM(REAL, SFX)                                                                         \
    void fr_small_gemm_nt_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,             \
                                const REAL *W, ptrdiff_t ldw, int accumulate, REAL *C, ptrdiff_t ldc);           \
    void fr_small_gemm_nt_mt_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,          \
                                   const REAL *W, ptrdiff_t ldw, int accumulate, REAL *C, ptrdiff_t ldc,         \
                                   int nthreads);                                                                \
    void fr_small_gemm_nt_auto_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,        \
                                     const REAL *W, ptrdiff_t ldw, int accumulate, REAL *C, ptrdiff_t ldc);

FR_DECLARE_SMALL_GEMM(float, f32)
FR_DECLARE_SMALL_GEMM(double, f64)

#undef FR_DECLARE_SMALL_GEMM

/* 1 when all n values of x [n] are finite (no NaN, no infinity), else 0. */
int fr_all_finite_f32(const float *x, ptrdiff_t n);
int fr_all_finite_f64(const double *x, ptrdiff_t n);

#endif
