/* Reduced-precision weights (quant.c, quant_product.inc): a weight matrix W [N, K] stored in
 * bfloat16, float16 or int8 with one float32 scale per output row, multiplied by float32 activations with
 * float32 (16-bit formats) or int32 (int8) accumulation.
 *
 * Letters: M rows of A (batch rows, or steps x batch), N output columns (rows of W), K the shared size,
 * Kp = K padded to the format's group (int8: 4 values, float16: 1; bfloat16: 32, whole rows of an AMX tile, in
 * groups of 2), Np = N padded to 16.
 *
 * Packed layout (fr_quant_pack): panels of 16 rows of W; inside a panel, K in groups of Kg values, each group
 * holding the 16 rows' Kg values row after row: element (n, k) at panel n/16, group k/Kg, lane n%16, k%Kg.
 * int8 is stored offset by 128 (as unsigned bytes) because VNNI's vpdpbusd multiplies unsigned by signed
 * bytes: the activations are the signed operand, so they can be broadcast from memory. Padding is zero
 * (int8: the byte 128). One layout serves every instruction set, so the kernel is chosen per call.
 *
 * int8 semantics (torch's dynamic quantization, per row instead of per tensor): each row of A is quantized to
 * integers in [-127, 127] with scale max|a| / 127 (round half to even); C[m, n] = sa[m] sw[n] sum_k qa qw in
 * int32, exact on every path. bfloat16 on CPUs with AVX512_BF16: A rounded to bfloat16 (nearest even) and
 * vdpbf16ps; elsewhere the weights are widened on load and A stays float32. float16: widened through F16C.
 * The time loops (loop.inc) run these products when the plan's product is FR_PRODUCT_QUANT (fastrnn.h). */
#ifndef FASTRNN_QUANT_H
#define FASTRNN_QUANT_H

#include <stddef.h>
#include <stdint.h>

enum { FR_Q_INT8 = 0, FR_Q_BF16 = 1, FR_Q_F16 = 2 };
#define FR_Q_PANEL 16   /* rows of W per panel */

typedef struct {
    int format;            /* FR_Q_INT8, FR_Q_BF16, FR_Q_F16 */
    ptrdiff_t N, K;
    const void *panels;    /* [fr_quant_packed_bytes(format, N, K)] from fr_quant_pack */
    const float *scale;    /* [N] per output row */
} fr_qmatrix;

/* Values of K per group, K padded to it, and the bytes of the packed matrix. */
ptrdiff_t fr_quant_group(int format);
ptrdiff_t fr_quant_padded_k(int format, ptrdiff_t K);
ptrdiff_t fr_quant_packed_bytes(int format, ptrdiff_t N, ptrdiff_t K);
/* W [N, K] (row stride ldw; int8 values, or the raw 16 bits of bfloat16 / float16) -> out [packed bytes]. */
void fr_quant_pack(int format, const void *W, ptrdiff_t N, ptrdiff_t K, ptrdiff_t ldw, void *out);

/* Bytes of scratch fr_quant_gemm_nt needs for M rows of K values (the quantized or rounded copy of A), for every
 * format and kernel. */
ptrdiff_t fr_quant_scratch_bytes(ptrdiff_t M, ptrdiff_t K);
/* C [M, N] (row stride ldc) = A [M, K] (row stride lda) W^T, or C += that when accumulate != 0; A IN, C OUT or
 * INOUT, not overlapping A; scratch [fr_quant_scratch_bytes]. threads <= 0: decided from the work. */
void fr_quant_gemm_nt(const fr_qmatrix *W, ptrdiff_t M, const float *A, ptrdiff_t lda, int accumulate, float *C,
                      ptrdiff_t ldc, void *scratch, int threads);

/* Kernels, best first, that this CPU runs for `format`: fr_quant_kernel_count of them, named by
 * fr_quant_kernel_name (e.g. "avx512-vnni", "avx2", "c"). fr_quant_use_kernel(format, i) forces kernel i
 * (-1: the best again, the default); returns 0, or -1 when i is out of range. Process-wide; for tests and the
 * benchmark. */
int fr_quant_kernel_count(int format);
const char *fr_quant_kernel_name(int format, int index);
int fr_quant_use_kernel(int format, int index);
/* The index of the kernel in use for format. */
int fr_quant_kernel_in_use(int format);

#endif
