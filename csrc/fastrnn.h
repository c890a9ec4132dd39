/* fastrnn C kernels: the time loops of one layer and one direction, forward and backward, the cells' maths, the
 * product kernels and the worker pool. Entry points come in float32 (_f32) and float64 (_f64) from one template
 * (kernels.c).
 *
 * Letters: T steps, B batch (rows active at a step: the prefix bs), I input size, H hidden size, P size of h
 * (proj_size or H), G gate rows (H, 4H, 3H). All arrays are row-major and dense unless an ld argument says
 * otherwise. Everything trusts its preconditions (the Python layer validates): pointers non-NULL unless marked
 * "or NULL", buffers of the stated shapes, no aliasing between arguments. Nothing here allocates or fails.
 * Gate orders are torch's: LSTM [i, f, g, o], GRU [r, z, n].
 * SIMD: functions marked FR_SIMD are compiled for each vector level of the architecture (arch.h; on x86-64: v4
 * (AVX-512), v3 (AVX2+FMA) and baseline, the loader picking the best for the running CPU with GCC/clang
 * target_clones), so builds run on any CPU of the architecture.
 */
#ifndef FASTRNN_H
#define FASTRNN_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"   /* FR_SIMD, per architecture */

/* ------------------------------------------------------------------------------------------------- cells */
enum { FR_RNN_TANH = 0, FR_RNN_RELU = 1, FR_LSTM = 2, FR_GRU = 3, FR_GRU_RB = 4 };

/* The weights of one layer and one direction, in torch's layout, typed by the entry point's suffix. */
typedef struct {
    int mode;                 /* FR_RNN_TANH ... FR_GRU_RB */
    ptrdiff_t n_in, H, P, G;  /* input size I (complex.h defines I), hidden size, size of h, gate rows */
    const void *w_ih;         /* [G, I] */
    const void *w_hh;         /* [G, P] */
    const void *b_ih, *b_hh;  /* [G] each, or both NULL (no bias) */
    const void *w_hr;         /* [P, H] LSTM projection, or NULL */
    const void *peep;         /* [3, H] LSTM peepholes rows [i, f, o] (zeros for a plain LSTM); unused otherwise */
    const void *b_hn;         /* [H] GRU's n bias inside r * (.): b_hh[2H:], or zeros without bias */
} fr_cell;

/* Packed copies of a cell's recurrent weights (fused_step.inc, packed_gemm.inc), NULL where not built. Forward: `hh` holds W_hh in
 * gate-interleaved panels for the fused step (fr_fused_*) when the plan fuses, else in plain panels (fr_packed_*);
 * the reset-before GRU's `hh` (rows [0, 2H)) and `hn` (rows [2H, 3H)) are plain panels; `hr` is W_hr in plain panels.
 * Backward: the same matrices transposed, in plain panels. */
typedef struct {
    const void *hh, *hn, *hr;
    const void *ih;   /* FR_PRODUCT_QUANT only: then all four are fr_qmatrix (quant.h): W_ih, W_hh (reset-before
                         GRU: rows [0, 2H)), W_hn (rows [2H, 3H)), W_hr */
} fr_packed;

/* What backward needs of one layer and direction beyond the gate activations, all [T, B, .], row t filled for
 * the rows active at step t; NULL where the mode does not use it. */
typedef struct {
    void *h_prev;   /* [T, B, P] h before each step */
    void *c_prev;   /* [T, B, H] LSTM: c before each step */
    void *hn;       /* [T, B, H] GRU (linear before reset): W_hn h + b_hn */
    void *r;        /* [T, B, H] LSTM with projection: o tanh(c'), the input of W_hr */
} fr_tape;

/* Parameter gradients of one layer and direction, accumulated (+=); NULL where the cell has no such parameter. */
typedef struct {
    void *w_ih, *w_hh, *b_ih, *b_hh, *w_hr, *peep;
} fr_grads;

/* ------------------------------------------------------------------------------------------------- plans */
/* The per-step recurrent product: straight from torch's layout (small_gemm.inc, no packing: streaming steps and
 * short calls), from packed panels (the fused step of fused_step.inc, or packed_gemm.inc), or by BLAS. */
/* FR_PRODUCT_QUANT: every product, the input projection too, from reduced-precision weights (quant.h; float32
 * only): the weight format is the products' parameter, the loops and cells are the same. */
enum { FR_PRODUCT_DIRECT = 0, FR_PRODUCT_PACKED = 1, FR_PRODUCT_BLAS = 2, FR_PRODUCT_QUANT = 3 };
enum { FR_FUSED_NARROW = 1, FR_FUSED_WIDE = 2 };

typedef struct {
    int product;         /* FR_PRODUCT_* of the per-step products */
    int fused;           /* FR_PRODUCT_PACKED: FR_FUSED_NARROW or FR_FUSED_WIDE for the fused step on
                            gate-interleaved panels of W_hh at that vector width (fused_step_widths.inc), 0 for plain
                            panels and a separate point-wise pass */
    int threads;         /* threads per step (1 when row_parts > 1) */
    int row_parts;       /* 1, or the slices of the batch that run the time loop each on its own thread (one
                            hand-off per chunk of steps instead of one per step) */
    ptrdiff_t chunk;     /* steps whose input projection is computed at once (T for training) */
    void *scratch;       /* FR_PRODUCT_QUANT: the products' prepared activations (fr_forward sets it) */
} fr_plan;

/* plan.c: the one place that chooses kernels and thread counts, from a cost estimate.
 * elem: sizeof(REAL); training: the call keeps a tape. */
fr_plan fr_plan_forward(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int training, int elem);
fr_plan fr_plan_backward(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int elem);
fr_plan fr_plan_step(const fr_cell *cell, ptrdiff_t B, int elem);
/* Inference with reduced-precision weights (FR_PRODUCT_QUANT, float32). */
fr_plan fr_plan_quant(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int format);   /* format: FR_Q_* */
/* FR_PRODUCT_QUANT with a row split: bytes of each slice's part of the prepared activations (64-byte multiple). */
ptrdiff_t fr_quant_slice_bytes(const fr_cell *cell, const fr_plan *plan, ptrdiff_t B);
/* Elements of REAL the forward loop needs as workspace for this plan (gates of a chunk unless training,
 * double-buffered h, the products of a step, the summed biases). */
ptrdiff_t fr_forward_workspace(const fr_cell *cell, const fr_plan *plan, ptrdiff_t B, int training);
/* Elements of REAL the backward loop needs beyond its [T, B, .] gradient buffers. */
ptrdiff_t fr_backward_workspace(const fr_cell *cell, ptrdiff_t B);
/* 0 when a step of `flops` should not wake workers that have fallen asleep (a paced caller), else 1. */
int fr_plan_wake_pays(double flops);
/* Threads for a large BLAS product of `flops`; for fr_small_gemm_nt's product of these sizes. */
int fr_plan_gemm_threads(double flops);
int fr_plan_small_gemm_threads(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, int elem);

/* One fr_forward call's arguments, typed by the entry point's suffix (fr_forward_pair). */
typedef struct {
    const fr_cell *cell;
    const fr_packed *pk;
    fr_plan plan;
    const void *x;
    ptrdiff_t T, B;
    void *h, *c;
    const ptrdiff_t *batch_sizes;
    int reverse;
    void *out;
    ptrdiff_t ldo;
    void *gates;
    const fr_tape *tape;
    void *work;
} fr_forward_call;

/* 1 when a bidirectional layer's two directions should run at once, one per thread and each on one thread
 * (fr_plan_pair_member), rather than one after the other on every thread. */
int fr_plan_directions_at_once(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B);
/* A direction's plan (from fr_plan_forward) as one of the two at once: one thread, and half the chunk of gates, so
 * that the two together keep inference's working memory. */
void fr_plan_pair_member(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int training, int elem, fr_plan *plan);

/* ------------------------------------------------------------------------------------------ entry points */
#define FR_DECLARE_LOOPS(REAL, SFX)                                                                              \
    /* One layer and one direction over the sequence (loop.inc).                                              \
       x [T, B, I] IN; h [B, P], c [B, H] (LSTM, else NULL) INOUT: initial state in, final state out;         \
       batch_sizes [T] IN: rows active per step (a prefix); reverse: run t = T-1 ... 0;                        \
       out [T, B, ldo] OUT: h' of the active rows at each step (others untouched);                            \
       gates [T, B, G] OUT gate activations when training (tape != NULL), else NULL;                           \
       work [fr_forward_workspace] scratch. pk: packed weights the plan needs (FR_PRODUCT_PACKED). */            \
    void fr_forward_##SFX(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const REAL *x,         \
                          ptrdiff_t T, ptrdiff_t B, REAL *h, REAL *c, const ptrdiff_t *batch_sizes, int reverse,  \
                          REAL *out, ptrdiff_t ldo, REAL *gates, const fr_tape *tape, REAL *work);              \
    /* Backward of fr_forward (same cell, x, batch_sizes, reverse; gates and tape as it filled them).         \
       d_out [T, B, ldo] IN dL/d(this direction's outputs); dh [B, P], dc [B, H] or NULL INOUT: dL/d(final   \
       state) in, dL/d(initial state) out; dx [T, B, I] INOUT +=; g: parameter gradients +=;                  \
       dgates [T, B, G], dhh [T, B, G] (GRU, else NULL), dhs [T, B, P] (projection, else NULL) zeroed scratch; \
       rh [T, B, H] (reset-before GRU, else NULL) scratch; work [fr_backward_workspace] scratch.               \
       pk: transposed packed weights (FR_PRODUCT_PACKED) or NULL (BLAS). */                                     \
    void fr_backward_##SFX(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const REAL *gates,    \
                           const fr_tape *tape, const REAL *x, ptrdiff_t T, ptrdiff_t B, const REAL *d_out,     \
                           ptrdiff_t ldo, REAL *dh, REAL *dc, const ptrdiff_t *batch_sizes, int reverse,        \
                           REAL *dx, const fr_grads *g, REAL *dgates, REAL *dhh, REAL *dhs, REAL *rh,            \
                           REAL *work);                                                                          \
    /* calls[0] and calls[1] (fr_forward's arguments each) at once, one per thread of the pool.               \
       They must share no output buffer. */                                                                     \
    void fr_forward_pair_##SFX(const fr_forward_call *calls);                                                  \
    /* One step of a stack of L unidirectional cells (streaming): x [B, I] IN; h [L, B, P], c [L, B, H] or     \
       NULL INOUT; work [fr_forward_workspace of the widest cell for plan] scratch. */                          \
    void fr_step_stack_##SFX(const fr_cell *cells, ptrdiff_t L, const fr_plan *plan, const REAL *x, ptrdiff_t B, \
                             REAL *h, REAL *c, REAL *work);                                                     \
    /* The same step for a few rows (the plan's FR_PRODUCT_DIRECT, step_kernel.inc): x W_ih^T + h W_hh^T summed   \
       in one pass over torch's layout; work [fr_forward_workspace of the first cell for fr_plan_step]. */       \
    void fr_step_direct_##SFX(const fr_cell *cells, ptrdiff_t L, const REAL *x, ptrdiff_t B, REAL *h, REAL *c,  \
                              REAL *work);                                                                      \
                                                                                                                 \
    /* Packing: W_hh [ng H, K] in the fused step's panels (fused_step.inc), any matrix in plain panels         \
       (packed_gemm.inc). Sizes in elements. */                                                                 \
    ptrdiff_t fr_fused_size_##SFX(int mode, ptrdiff_t H, ptrdiff_t K, int width);                               \
    void fr_pack_fused_##SFX(int mode, const REAL *W, ptrdiff_t H, ptrdiff_t K, int width, REAL *Wp);          \
    ptrdiff_t fr_packed_size_##SFX(ptrdiff_t N, ptrdiff_t K);                                                    \
    /* W [N, K] with element [n][k] at W[n stride_n + k stride_k] (torch's layout: K, 1; transposed: 1, N). */ \
    void fr_pack_weights_##SFX(const REAL *W, ptrdiff_t N, ptrdiff_t K, ptrdiff_t stride_n, ptrdiff_t stride_k, \
                               REAL *Wp);                                                                        \
    /* C [M, N] (row stride ldc) (+)= A [M, K] (row stride lda) W^T from fr_pack_weights' panels. */            \
    void fr_packed_gemm_nt_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,            \
                                 const REAL *Wp, int accumulate, REAL *C, ptrdiff_t ldc, int threads);          \
    /* C [M, N] (row stride ldc) (+)= A W^T, W [N, K] in torch's layout (row stride ldw): for M up to about 8;  \
       threads <= 0: as many as pay (fr_max_threads from 2 MiB of work). */                                     \
    void fr_small_gemm_nt_##SFX(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A, ptrdiff_t lda,             \
                                const REAL *W, ptrdiff_t ldw, int accumulate, REAL *C, ptrdiff_t ldc,            \
                                int threads);                                                                    \
    /* Row-major C [M, N] = op(A) op(Bm) + beta C by BLAS, split across the pool when large (parallel_gemm.inc) */ \
    void fr_gemm_##SFX(int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A,          \
                       ptrdiff_t lda, const REAL *Bm, ptrdiff_t ldb, REAL beta, REAL *C, ptrdiff_t ldc);         \
    /* 1 when all n values of x are finite (no NaN, no infinity), else 0 (finite.c). */                         \
    int fr_all_finite_##SFX(const REAL *x, ptrdiff_t n);

FR_DECLARE_LOOPS(float, f32)
FR_DECLARE_LOOPS(double, f64)

#undef FR_DECLARE_LOOPS

/* A 64-bit fingerprint of `bytes` bytes (fingerprint.c): packed weights remember the fingerprint of the matrix they
 * were packed from, and each call that uses them compares it with the matrix's current one. */
uint64_t fr_fingerprint(const void *data, ptrdiff_t bytes);

/* ---------------------------------------------------------------------------------------------- the pool */
/* fr_parallel_run calls fn(ctx, i, n) once for every part i in [0, n), on the caller and idle workers (n is
 * capped by fr_set_max_threads, default the online CPUs), and returns when all are done; when the pool is busy
 * with another call, the caller runs all parts itself. fr_pool_asleep: 1 when the workers have gone to sleep
 * (the last hand-off is longer ago than their spin), so waking them costs a system call each. */
typedef void (*fr_task_fn)(void *ctx, int index, int count);
void fr_parallel_run(int n, fr_task_fn fn, void *ctx);
/* Low-latency mode (off by default): idle workers keep spinning between calls instead of going to sleep after
 * a short spin, so a paced caller (one step per frame) finds them awake, at the cost of the cores they keep busy.
 * Workers asleep when it is turned on spin from their next task on. */
void fr_set_low_latency(int on);
int fr_low_latency(void);
/* Wakes sleeping workers without a task: they spin again for their usual while, so that a call expected soon
 * (a session whose last run used the pool, about to run its first ops on the caller's thread) finds them awake.
 * No system call when none sleeps. fr_pool_tasks: tasks handed to the pool so far (wraps; a caller compares it
 * before and after its own work to learn whether that used the pool); fr_pool_wakeups: times a worker left its
 * sleep, for a task or a nudge (wraps). */
void fr_pool_nudge(void);
unsigned fr_pool_tasks(void);
unsigned fr_pool_wakeups(void);
/* One round of a spin-wait (the CPU's pause hint); every 1024th round yields the core to the scheduler. */
void fr_spin_pause(int round);
void fr_set_max_threads(int n);
int fr_max_threads(void);
int fr_pool_asleep(void);

#endif
