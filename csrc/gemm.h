/* Large matrix products at the machine's roofline (gemm.c, gemm_driver.inc, gemm_kernel.inc) and the choice of
 * vector width (isa.c).
 *
 * fr_matmul_<sfx> is the entry point for the time loops: row-major
 *     C [M, N] (row stride ldc) = op(A) [M, K] op(B) [K, N] + beta C
 * with op(A) = A [M, K] (row stride lda) when trans_a == 0, A^T for A [K, M] (row stride lda) when trans_a != 0,
 * and the same for B with trans_b and ldb. beta == 0 never reads C (NaN or garbage in C is overwritten), as in
 * BLAS; K == 0 gives C = beta C. A and B must not overlap C. M, N or K may be 0; lda >= the row length of the
 * matrix as stored (K or M for A, N or K for B), ldc >= N. It picks, from a cost estimate, between fastrnn's
 * packed kernel (at the process's vector width) and single-threaded OpenBLAS, and how many of the pool's threads
 * (pool.c) to split over. Callers from the time loops: the input projection x [T*B, I] W_ih^T is
 * fr_matmul(0, 1, T*B, G, I, x, I, W_ih, I, 0, gates, G); the weight gradients dW_ih += dG^T x are
 * fr_matmul(1, 0, G, I, T*B, dG, G, x, I, 1, dW_ih, I), and dx = dG W_ih is fr_matmul(0, 0, T*B, I, G, dG, G,
 * W_ih, I, 0, dx, I).
 *
 * fr_matmul_engine_<sfx> is the same product with the engine and thread count fixed (tests and benchmarks):
 * engine FR_ENGINE_AUTO as fr_matmul, FR_ENGINE_OWN the packed kernel at the process's ISA, FR_ENGINE_BLAS
 * OpenBLAS per part; threads 0 = the automatic count, else at most that many (capped by fr_set_max_threads).
 *
 * ISA: the vector width of the packed kernel, chosen once per process (fr_isa) from FASTRNN_ISA when it names a
 * supported one, else from the CPU model and a micro-benchmark of the candidates; fr_isa_set overrides it.
 * Every kernel is compiled with function-level target attributes, so the build never needs -march. */
#ifndef FASTRNN_GEMM_H
#define FASTRNN_GEMM_H

#include <stddef.h>

#include "arch.h"   /* enum fr_isa: the architecture's ISAs */

enum fr_engine { FR_ENGINE_AUTO = 0, FR_ENGINE_OWN = 1, FR_ENGINE_BLAS = 2 };

/* The ISA's name for FASTRNN_ISA (x86-64: "baseline", "avx2", "avx512"), or NULL for a value out of range. */
const char *fr_isa_name(int isa);
/* 1 when this CPU and OS can run the ISA's code, else 0. */
int fr_isa_supported(int isa);
/* The ISA fr_matmul uses; decided on the first call (thread-safe) and then fixed unless fr_isa_set. */
int fr_isa(void);
/* How fr_isa was decided: "FASTRNN_ISA", "cpu model", "micro-benchmark" or "fr_isa_set". */
const char *fr_isa_reason(void);
/* 1 when the per-step packed product uses 64-byte vectors (packed_gemm_widths.inc): where fr_isa chose the 64-byte
 * kernels at the first call; fixed for the process from then on. */
int fr_step_wide(void);
/* Use `isa` from now on: 0, or -1 (nothing changed) when it is out of range or not supported here. */
int fr_isa_set(int isa);
/* The micro-benchmark's time for one ISA's kernel on a fixed f32 product (seconds, min of several runs), or a
 * negative value for an ISA not supported here. Runs the benchmark when called; fr_isa caches its own run. */
double fr_isa_benchmark(int isa);
/* The ISA the CPU model prefers (the architecture's detection, e.g. x86/isa.c), before any benchmark. */
int fr_isa_preferred(void);
/* The names of the ISAs, indexed by enum fr_isa. */
extern const char *const fr_isa_names[FR_ISA_COUNT];
/* CPUID: the brand string (into brand, at least 49 bytes) and the display family and model (-1 off x86). */
void fr_cpu_identify(char *brand, int *family, int *model);

/* Thread-local scratch of at least `bytes`, 64-byte aligned, kept for the thread's life (grows, never shrinks);
 * slot 0 and 1 are independent buffers. NULL when the allocation fails. */
void *fr_gemm_scratch(int slot, size_t bytes);

#define FR_DECLARE_MATMUL(REAL, SFX)                                                                             \
    void fr_matmul_##SFX(int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A,        \
                         ptrdiff_t lda, const REAL *B, ptrdiff_t ldb, REAL beta, REAL *C, ptrdiff_t ldc);        \
    /* C [M, N] = 1 bias^T + op(A) op(B), bias [N] on every row (the input projection's summed biases); each \
       thread fills the block of C it computes, so C is written by one pass of one thread per block. */      \
    void fr_matmul_bias_##SFX(int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL *A,   \
                              ptrdiff_t lda, const REAL *B, ptrdiff_t ldb, const REAL *bias, REAL *C,            \
                              ptrdiff_t ldc);                                                                    \
    /* C [rows, N] (row stride ldc) = bias [N] on every row: where a product then adds to C (beta 1). */          \
    void fr_bias_rows_##SFX(ptrdiff_t rows, ptrdiff_t N, const REAL *bias, REAL *C, ptrdiff_t ldc);             \
    /* y [M] = A [M, K] (row stride lda) x [K] + beta y, one thread (OpenBLAS's gemv; beta == 0 does not read y):  \
       a Linear layer of one output, where the products above would compute 4 to 8 columns to keep one. */     \
    void fr_matvec_##SFX(ptrdiff_t M, ptrdiff_t K, const REAL *A, ptrdiff_t lda, const REAL *x, REAL beta,      \
                         REAL *y);                                                                               \
    /* Either product, with the engine and the thread count forced (tests, benchmarks); bias NULL or as in    \
       fr_matmul_bias (beta then unused). */                                                                     \
    void fr_matmul_engine_##SFX(int engine, int threads, int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N,    \
                                ptrdiff_t K, const REAL *A, ptrdiff_t lda, const REAL *B, ptrdiff_t ldb,         \
                                REAL beta, const REAL *bias, REAL *C, ptrdiff_t ldc);                            \
    /* One thread, the packed kernel of one ISA (the caller checks fr_isa_supported): same semantics. Returns \
       0, or -1 when scratch memory could not be had (C is then unchanged). */                                  \
    int fr_gemm_serial_##SFX(int isa, int trans_a, int trans_b, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,          \
                             const REAL *A, ptrdiff_t lda, const REAL *B, ptrdiff_t ldb, REAL beta, REAL *C,     \
                             ptrdiff_t ldc);

FR_DECLARE_MATMUL(float, f32)
FR_DECLARE_MATMUL(double, f64)

#undef FR_DECLARE_MATMUL

#endif
