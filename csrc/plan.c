/* The one place that chooses which product kernel runs and on how many threads, from a cost estimate.
 *
 * Costs on the machine this was tuned on (2 Zen 4 cores, 1 MiB L2 each, 32 MiB L3), measured, not assumed to be
 * universal: a per-step hand-off to an awake worker costs about 1 us; waking a sleeping one (pool.c: after 50 us
 * idle) costs a system call and 10-50 us. One core's packed product runs at 60-100 GFLOP/s from L2.
 *
 * Per-step recurrent products:
 * - FR_PRODUCT_DIRECT (small_gemm.inc) reads W_hh in torch's layout: nothing to pack and nothing to check, so it
 *   serves streaming steps and calls of a few steps. Made for up to 8 rows.
 * - FR_PRODUCT_PACKED (fused_step.inc, packed_gemm.inc) reads W_hh from panels packed once per layer; a call
 *   that uses them pays one read of W_hh to confirm they are current (fr_fingerprint), about what one direct step
 *   costs, and gains the fused point-wise update on every step (up to 8 rows; plain panels beyond). So it pays
 *   from a few steps on, and it is the only kernel for more than 8 rows.
 * - FR_PRODUCT_BLAS re-packs W on every call of the step: never chosen, kept for tests as the reference path.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "fastrnn.h"
#include "gemm.h"   /* fr_step_wide */
#include "quant.h"

/* A call runs the packed, fused step from this many steps (or more than DIRECT_MAX_ROWS rows). */
#define FR_PACKED_MIN_STEPS 4
#define FR_DIRECT_MAX_ROWS 8
/* The fused step (3 rows x every gate per micro-kernel call) wins where a step streams W_hh for few rows; from
 * this many rows the plain panels (6 rows x 16 columns) and a separate point-wise pass measured 2-8% faster on
 * one Zen 4 core (batch 16 to 64): the gates of a step then stay in L2 anyway. (On several threads below the row
 * split, the fused step split by units serves every row count.) */
#define FR_FUSED_MAX_ROWS 8
/* The 64-byte fused step (fused_step_widths.inc, where AVX-512 runs at full width) from this many rows per pass:
 * measured on 2 Intel Xeon cores (T60, GFLOP/s, 32-byte -> 64-byte step), LSTM B2 H512 66 -> 81, B4 H512
 * 74 -> 134, GRU B8 H512 123 -> 172. One row takes it only where each thread's part of W_hh fits its L2: one row
 * from L3 is little work per byte, and there the narrow step led (one thread, LSTM H384 23-24 -> 21); from L2 its
 * 4 accumulator chains beat the narrow step's latency-bound 2 (one thread: LSTM H48 24-29 -> 32-37, H128 33-35 ->
 * 38-42, GRU H64 24-28 -> 34-36; two threads: LSTM H256 34-36 -> 46-55, GRU H256 52-53 -> 73-76). */
#define FR_FUSED_WIDE_MIN_ROWS 2
/* A per-step product is split across threads from about 1.5 us of work (LSTM H = 128 at batch 1): each thread
 * then keeps its slice of W_hh in its own L2 (the pool gives it the same part every step). Measured on 2 idle
 * cores: LSTM B1 H128 time loop 452 -> 317 us; below this size the hand-off costs more than it saves. */
#define FR_MIN_STEP_FLOPS 1.0e5
/* The fused step split by units meets once per step on one shared counter (unit_loop.inc), far cheaper than a
 * pool hand-off, so it splits smaller steps: at batch 1 a step reads all of W_hh from L2, and one Zen 4 core's
 * fused step of GRU H = 128 (98 kFLOP, W_hh 192 KiB) ran at about 27 bytes per cycle, L2's limit (perf: 54% of
 * the call, 2 us per step); two cores each read half. */
#define FR_MIN_UNIT_SPLIT_FLOPS 6.0e4
/* The direct kernel splits from N K max(M, 2) sizeof(REAL) >= this (f32: W from 1 MiB at M <= 2, 512 KiB at
 * M = 4), about 10 us on one thread: with a busy process on the other core, smaller splits ran up to 2.5x
 * slower (a worker that claimed its part is preempted, and the caller waits for it). */
#define FR_MIN_DIRECT_SPLIT_BYTES (2.0 * 1024 * 1024)
/* Waking sleeping workers (a paced caller: one step per frame) pays only for a step of this much work. */
#define FR_MIN_WAKE_FLOPS 4.0e6
/* From this many rows per thread, the batch is split into slices that each run the whole time loop on their own
 * thread (plan.row_parts), instead of splitting every step's product by hidden units: no hand-off per step, and
 * each thread's point-wise update runs beside its product. Each thread then reads all of W_hh every step (from
 * L3 when W_hh outgrows its L2): 8 rows make 4 FLOP per byte of float32 W, about 25 GB/s at one Zen 4 core's
 * 100 GFLOP/s, which its L3 delivers. */
#define FR_ROW_SPLIT_MIN_ROWS 8
/* Where the loop split by units can run instead (fused step, no projection), it is preferred at any batch when
 * one step's recurrent weights outgrow FR_L2_SHARE of a core's L2: the split then keeps half of W_hh in each
 * core's L2, where the row split streams all of it from L3 on both. Measured on 2 Intel Xeon cores (2 MiB L2
 * each; GFLOP/s of the time loop for I = 4, row split -> unit split, two runs): LSTM H512 (4 MiB) B16 149-152 ->
 * 184-190, B64 179-180 -> 217; GRU H512 (3 MiB) B64 183-185 -> 219-222; but LSTM H256 (1 MiB) B64 206-210 ->
 * 179-180 and LSTM H128 B24 148-152 -> 116-117, where W_hh fits. */
#define FR_L2_SHARE 0.5
/* Below this much work per step (the whole batch's), the split by units' barrier (about 1 us a step) outweighs
 * what it saves, and a batch whose weights fit in L2 splits rows from FR_ROW_SPLIT_SMALL_MIN_ROWS per thread.
 * Measured on 2 Intel Xeon cores (ms per call, unit split -> row split, two runs): LSTM B8 T100 H128 (1.05 MFLOP
 * a step) 1.36-1.40 -> 1.18-1.19, B6 1.01-1.04 -> 0.95-0.97; but LSTM B8 H256 (4.2 MFLOP) 3.83-3.90 -> 4.04-4.05
 * and GRU B4 H256 (1.6 MFLOP) 2.31-2.52 -> 2.48-2.62. */
#define FR_SMALL_STEP_FLOPS 1.2e6
#define FR_ROW_SPLIT_SMALL_MIN_ROWS 3
/* A call is worth splitting (rows, directions) from 1 MFLOP; so is the BLAS reference product (parallel_gemm.inc). */
#define FR_MIN_GEMM_FLOPS 1.0e6
/* Inference projects the inputs of at most this many bytes of gates at once (a chunk of steps that stays in L3
 * while the steps consume it), and of at least FR_CHUNK_MIN_ROWS rows (T B) when T has them: a product of fewer
 * rows runs well below the GEMM's peak (64 rows: 0.75x of 2048 on one Zen 4 core), and the input projection is
 * as much work as the recurrent products when I = H. */
#define FR_CHUNK_BYTES (4.0 * 1024 * 1024)
#define FR_CHUNK_MIN_ROWS 256

static double step_flops(const fr_cell *cell, ptrdiff_t B)
{
    double f = 2.0 * (double)B * (double)cell->G * (double)cell->P;
    if (cell->w_hr != NULL) f += 2.0 * (double)B * (double)cell->P * (double)cell->H;
    return f;
}

int fr_plan_gemm_threads(double flops)
{
    return flops >= FR_MIN_GEMM_FLOPS ? fr_max_threads() : 1;
}

int fr_plan_wake_pays(double flops)
{
    return flops >= FR_MIN_WAKE_FLOPS || !fr_pool_asleep();
}

/* Threads of the direct kernel by size alone. */
static int direct_split_threads(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, int elem)
{
    const double bytes = (double)N * (double)K * (double)(M > 2 ? M : 2) * elem;
    return bytes >= FR_MIN_DIRECT_SPLIT_BYTES ? fr_max_threads() : 1;
}

/* One direct product on its own (a streaming step's input projection): waking sleeping workers must pay for it. */
int fr_plan_small_gemm_threads(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, int elem)
{
    const int threads = direct_split_threads(M, N, K, elem);
    return threads > 1 && fr_plan_wake_pays(2.0 * (double)M * (double)N * (double)K) ? threads : 1;
}

/* Threads per step for `steps` steps of B rows: waking sleeping workers must pay over the whole call. */
static int step_threads(const fr_cell *cell, int product, ptrdiff_t T, ptrdiff_t B, int elem)
{
    const double flops = step_flops(cell, B);
    int threads;
    if (product == FR_PRODUCT_DIRECT)
        threads = direct_split_threads(B, cell->G, cell->P, elem);
    else
        threads = flops >= FR_MIN_STEP_FLOPS ? fr_max_threads() : 1;
    return threads > 1 && fr_plan_wake_pays(flops * (double)T) ? threads : 1;
}

/* Steps whose input projection is computed at once: all T for training, else about `bytes` of gates. */
static ptrdiff_t chunk_steps(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int training, int elem, double bytes)
{
    if (training || T <= 1) return T > 1 ? T : 1;
    const double step_bytes = (double)B * (double)cell->G * elem;
    ptrdiff_t chunk = (ptrdiff_t)(bytes / step_bytes);
    const ptrdiff_t min_steps = (FR_CHUNK_MIN_ROWS + B - 1) / (B > 0 ? B : 1);
    if (chunk < min_steps) chunk = min_steps;
    return chunk < 1 ? 1 : chunk > T ? T : chunk;
}

/* One core's L2 in bytes (glibc's sysconf, else Linux's sysfs, else 1 MiB), read once. */
static size_t l2_bytes(void)
{
    static atomic_size_t cached;
    size_t bytes = atomic_load_explicit(&cached, memory_order_relaxed);
    if (bytes != 0) return bytes;
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long conf = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (conf > 0) bytes = (size_t)conf;
#endif
    FILE *f = bytes == 0 ? fopen("/sys/devices/system/cpu/cpu0/cache/index2/size", "r") : NULL;
    if (f != NULL) {
        unsigned long value = 0;
        char unit = 0;
        if (fscanf(f, "%lu%c", &value, &unit) >= 1)
            bytes = (size_t)value * (unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1);
        fclose(f);
    }
    if (bytes == 0) bytes = 1024 * 1024;
    atomic_store_explicit(&cached, bytes, memory_order_relaxed);   /* any thread computes the same value */
    return bytes;
}

/* Bytes of one step's recurrent weights (W_hh, and W_hr with a projection). */
static double step_weight_bytes(const fr_cell *cell, int elem)
{
    return ((double)cell->G * (double)cell->P + (cell->w_hr != NULL ? (double)cell->P * (double)cell->H : 0)) * elem;
}

/* Whether one step's recurrent weights fit in FR_L2_SHARE of one core's L2. */
static int weights_fit_l2(const fr_cell *cell, int elem)
{
    return step_weight_bytes(cell, elem) <= FR_L2_SHARE * (double)l2_bytes();
}

/* Splits the batch into slices that run the steps on their own threads (plan->row_parts, then one thread per
 * step) when there are min_rows rows for each and the call's work pays for waking the workers; for the packed and
 * the quantized products. */
static void split_rows(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t min_rows, fr_plan *plan)
{
    const double call_flops = step_flops(cell, B) * (double)T;
    const int threads = fr_max_threads();
    plan->row_parts = 1;
    const int packed = plan->product == FR_PRODUCT_PACKED || plan->product == FR_PRODUCT_QUANT;
    if (packed && threads > 1 && B >= 2 * min_rows &&
        call_flops >= FR_MIN_GEMM_FLOPS && fr_plan_wake_pays(call_flops)) {
        const ptrdiff_t parts = B / min_rows;
        plan->row_parts = parts < threads ? (int)parts : threads;
        plan->threads = 1;
    }
}

fr_plan fr_plan_forward(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int training, int elem)
{
    fr_plan plan = {0};
    plan.product = B > FR_DIRECT_MAX_ROWS || T >= FR_PACKED_MIN_STEPS ? FR_PRODUCT_PACKED : FR_PRODUCT_DIRECT;
    plan.threads = step_threads(cell, plan.product, T, B, elem);
    /* Where the split by units can run, it is preferred to a row split whenever the step's weights outgrow
     * FR_L2_SHARE of one core's L2; where they fit and the step is small, rows split from fewer per thread. */
    const int units_can_split = cell->w_hr == NULL && cell->mode != FR_GRU_RB && T >= FR_PACKED_MIN_STEPS;
    const int fit = weights_fit_l2(cell, elem);
    const ptrdiff_t min_rows = units_can_split && !fit                               ? PTRDIFF_MAX / 4
                               : fit && step_flops(cell, B) < FR_SMALL_STEP_FLOPS ? FR_ROW_SPLIT_SMALL_MIN_ROWS
                                                                                   : FR_ROW_SPLIT_MIN_ROWS;
    split_rows(cell, T, B, min_rows, &plan);
    const ptrdiff_t rows = (B + plan.row_parts - 1) / plan.row_parts;   /* of one thread's steps */
    const double flops = step_flops(cell, B);
    /* Below the row split, several threads split the fused step by units (one barrier per step, each thread's
     * point-wise update beside its product) rather than the plain panels' product (a pool hand-off per step, then
     * the point-wise pass on one thread). */
    const int unit_split = plan.product == FR_PRODUCT_PACKED && plan.row_parts == 1 && cell->w_hr == NULL &&
                           T >= FR_PACKED_MIN_STEPS &&
                           fr_max_threads() > 1 && flops >= FR_MIN_UNIT_SPLIT_FLOPS &&
                           fr_plan_wake_pays(flops * (double)T);
    const int fused = plan.product == FR_PRODUCT_PACKED && (rows <= FR_FUSED_MAX_ROWS || unit_split) &&
                      cell->mode != FR_GRU_RB;
    const int threads = unit_split ? fr_max_threads() : 1;
    const int wide = fr_step_wide() && (rows >= FR_FUSED_WIDE_MIN_ROWS ||
                                        step_weight_bytes(cell, elem) / threads <= (double)l2_bytes());
    plan.fused = !fused ? 0 : wide ? FR_FUSED_WIDE : FR_FUSED_NARROW;
    if (plan.fused && unit_split) plan.threads = fr_max_threads();
    plan.chunk = chunk_steps(cell, T, B, training, elem, FR_CHUNK_BYTES);
    return plan;
}

/* Two directions at once pay for fewer rows than a row split of FR_ROW_SPLIT_MIN_ROWS needs: each thread then runs
 * its direction with no hand-off per step, and the two read their own W_hh, the same bytes in all as a split by
 * units. With more rows, each direction splits rows (or, with weights beyond a core's L2 share, units, which keeps
 * half of its W_hh in each L2). */
int fr_plan_directions_at_once(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B)
{
    const double call_flops = 2.0 * step_flops(cell, B) * (double)T;
    return fr_max_threads() > 1 && B < 2 * FR_ROW_SPLIT_MIN_ROWS && call_flops >= FR_MIN_GEMM_FLOPS &&
           fr_plan_wake_pays(call_flops);
}

void fr_plan_pair_member(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int training, int elem, fr_plan *plan)
{
    plan->threads = plan->row_parts = 1;
    plan->chunk = chunk_steps(cell, T, B, training, elem, FR_CHUNK_BYTES / 2);
}

fr_plan fr_plan_backward(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int elem)
{
    fr_plan plan = {FR_PRODUCT_PACKED, 0, step_threads(cell, FR_PRODUCT_PACKED, T, B, elem), 1, T > 1 ? T : 1};
    split_rows(cell, T, B, FR_ROW_SPLIT_MIN_ROWS, &plan);
    return plan;
}

fr_plan fr_plan_step(const fr_cell *cell, ptrdiff_t B, int elem)
{
    const int product = B > FR_DIRECT_MAX_ROWS ? FR_PRODUCT_BLAS : FR_PRODUCT_DIRECT;
    fr_plan plan = {product, 0, step_threads(cell, product, 1, B, elem), 1, 1};
    return plan;
}

/* Reduced-precision weights (format FR_Q_*): inference's chunks, and the row split of the float plans from 16 rows
 * where the stored W_hh fits a core's L2 share (each slice prepares and multiplies its own rows with no hand-off
 * per step: int8 LSTM B64 H512 on 2 Intel Xeon cores, 1 MiB of W_hh, 44.6-45.4 -> 38.5-40.2 ms; bfloat16's 2 MiB
 * streamed by both cores, 175 -> 214 ms, so it keeps the product split).
 * Below it a step reads a quarter (int8) to a half of float32's bytes and runs its multiply-adds 2-4x faster, so it
 * is split across threads only from 4x the float32 work (LSTM H = 128 at batch 1 stays on one thread: measured
 * 0.20 ms for T = 100 int8 on one thread, against 2.2 ms on two with the other core busy). */
fr_plan fr_plan_quant(const fr_cell *cell, ptrdiff_t T, ptrdiff_t B, int format)
{
    fr_plan plan = fr_plan_forward(cell, T, B, 0, 4);
    const double flops = step_flops(cell, B);
    plan.product = FR_PRODUCT_QUANT;
    plan.fused = 0;
    /* every slice prepares its own rows (loop.inc gives each its part of the scratch) */
    const int fit = weights_fit_l2(cell, format == FR_Q_INT8 ? 1 : 2);
    split_rows(cell, T, B, fit ? FR_ROW_SPLIT_MIN_ROWS : PTRDIFF_MAX / 4, &plan);
    if (plan.row_parts == 1)
        plan.threads = flops >= 4 * FR_MIN_STEP_FLOPS && fr_plan_wake_pays(flops * (double)T) ? fr_max_threads() : 1;
    return plan;
}

/* The widest K of a cell's quantized products (input projection, recurrent, projection). */
static ptrdiff_t quant_widest_k(const fr_cell *cell)
{
    return cell->n_in > cell->H ? (cell->n_in > cell->P ? cell->n_in : cell->P) : cell->H;
}

/* Bytes of one row slice's prepared activations (FR_PRODUCT_QUANT): a 64-byte multiple. */
ptrdiff_t fr_quant_slice_bytes(const fr_cell *cell, const fr_plan *plan, ptrdiff_t B)
{
    const ptrdiff_t rows = (B + plan->row_parts - 1) / plan->row_parts;
    return (fr_quant_scratch_bytes(rows, quant_widest_k(cell)) + 63) / 64 * 64;
}

ptrdiff_t fr_forward_workspace(const fr_cell *cell, const fr_plan *plan, ptrdiff_t B, int training)
{
    const ptrdiff_t gx = training ? 0 : plan->chunk * B * cell->G;
    ptrdiff_t quant = 0;   /* the prepared activations of the widest product, in float32 elements, 64-byte aligned */
    if (plan->product == FR_PRODUCT_QUANT) {
        const ptrdiff_t rows = plan->chunk > 1 ? plan->chunk * B : B;
        const ptrdiff_t projection = fr_quant_scratch_bytes(rows, quant_widest_k(cell));
        const ptrdiff_t slices = plan->row_parts * fr_quant_slice_bytes(cell, plan, B);   /* the steps' */
        quant = ((projection > slices ? projection : slices) + 64) / 4 + 16;
    }
    return gx + B * cell->P + B * cell->G + 2 * B * cell->H + cell->G + quant;
}

ptrdiff_t fr_backward_workspace(const fr_cell *cell, ptrdiff_t B)
{
    return 2 * B * cell->H;
}
