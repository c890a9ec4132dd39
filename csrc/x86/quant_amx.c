/* The int8 product by AMX (tdpbsud on 1 KiB tiles), for CPUs with AMX-INT8 (Intel Sapphire Rapids and later). Run
 * only after x86/quant_cpu.c found the instructions and the kernel granted this process the tile state.
 *
 * C [M, N] (+)= A W^T as quant_product.inc computes it, in blocks of 32 rows x 32 columns: four C tiles of 16 x 16
 * int32 sums, two A tiles (16 rows x 64 int8 of K) and two W tiles (16 groups of 4 K x 16 columns). The packed
 * panels (quant.h) already hold W in the tiles' layout: a panel's groups of 4 K values x 16 rows are one tile row
 * each, so a W tile is 16 consecutive groups of a panel, loaded with a 64-byte stride. A is prepared signed
 * (FR_QA_INT8_TILE) in rows padded with zeros to a multiple of 64 bytes, so the last tile of a row reads zeros past
 * K; the W tile beside it then reads up to 15 groups past the panel's end (the next panel, or the slack
 * fr_quant_packed_bytes adds after the last one), which those zeros cancel. tdpbsud multiplies signed A by the
 * unsigned W + 128; the shared epilogue (fr_q_store) removes 128 x the row's sum of A.
 * Rows past the last multiple of 16 go to the AVX-512 VNNI kernel (every AMX CPU has it). Measured on 2 Intel Xeon
 * cores (Sapphire Rapids class), int8 LSTM B64 T100 H512: 64-68 ms by VNNI -> 44.6-45.4 ms (per instruction,
 * vpdpbusd does 64 multiply-adds, tdpbsud 16,384). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "quant_kernel.h"

#define FR_AMX_TARGET __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define FR_AMX_ROWS 16   /* rows of a tile */
#define FR_AMX_K 64      /* int8 values of K per A tile row */

FR_Q_DECLARE_RUN(int8_vnni)

/* The tile configuration of ldtilecfg (palette 1). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} fr_amx_config;

/* Tiles 0-3: C[row tile][column tile] at 2 r + c; 4, 5: A row tiles; 6, 7: W column tiles. */
FR_AMX_TARGET static void fr_amx_configure(void)
{
    fr_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = FR_AMX_ROWS;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
}

/* C rows [m0, m0 + 16 rt) x panels [p, p + ct) (rt, ct: 1 or 2) from the tiles' int32 sums. */
FR_AMX_TARGET static void fr_amx_block(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t m0, int rt, ptrdiff_t p,
                                       int ct, int accumulate, float *C, ptrdiff_t ldc)
{
    const ptrdiff_t panel_bytes = A->Kp / 4 * 64, row_bytes = A->row_bytes;
    const uint8_t *a = (const uint8_t *)A->data + m0 * row_bytes;
    const uint8_t *w = (const uint8_t *)W->panels + p * panel_bytes;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (ptrdiff_t k0 = 0; k0 < A->Kp; k0 += FR_AMX_K) {
        const uint8_t *wk = w + k0 / 4 * 64;
        _tile_loadd(4, a + k0, row_bytes);
        _tile_loadd(6, wk, 64);
        _tile_dpbsud(0, 4, 6);
        if (ct == 2) {
            _tile_loadd(7, wk + panel_bytes, 64);
            _tile_dpbsud(1, 4, 7);
        }
        if (rt == 2) {
            _tile_loadd(5, a + FR_AMX_ROWS * row_bytes + k0, row_bytes);
            _tile_dpbsud(2, 5, 6);
            if (ct == 2) _tile_dpbsud(3, 5, 7);
        }
    }
    int32_t sums[4][FR_AMX_ROWS][FR_Q_PANEL] __attribute__((aligned(64)));
    _tile_stored(0, sums[0], 64);
    _tile_stored(1, sums[1], 64);
    _tile_stored(2, sums[2], 64);
    _tile_stored(3, sums[3], 64);
    for (int r = 0; r < rt; r++)
        for (int c = 0; c < ct; c++) {
            const ptrdiff_t n0 = (p + c) * FR_Q_PANEL, n_count = W->N - n0 < FR_Q_PANEL ? W->N - n0 : FR_Q_PANEL;
            for (int m = 0; m < FR_AMX_ROWS; m++) {
                const ptrdiff_t row = m0 + r * FR_AMX_ROWS + m;
                fr_q_store(sums[2 * r + c][m], A, row, W->scale + n0, n_count, accumulate, C + row * ldc + n0);
            }
        }
}

FR_AMX_TARGET void qp_run_int8_amx(const fr_qprep *A, const fr_qmatrix *W, ptrdiff_t panel_begin,
                                   ptrdiff_t panel_end, int accumulate, float *C, ptrdiff_t ldc)
{
    const ptrdiff_t tiled = A->M / FR_AMX_ROWS * FR_AMX_ROWS;
    if (tiled > 0) {
        fr_amx_configure();
        for (ptrdiff_t m0 = 0; m0 < tiled; m0 += 2 * FR_AMX_ROWS) {
            const int rt = tiled - m0 >= 2 * FR_AMX_ROWS ? 2 : 1;
            for (ptrdiff_t p = panel_begin; p < panel_end; p += 2)
                fr_amx_block(A, W, m0, rt, p, panel_end - p >= 2 ? 2 : 1, accumulate, C, ldc);
        }
        _tile_release();
    }
    if (tiled < A->M) {   /* the last rows, fewer than a tile */
        fr_qprep rest = *A;
        rest.M = A->M - tiled;
        rest.data = (const uint8_t *)A->data + tiled * A->row_bytes;
        rest.ascale = A->ascale + tiled;
        rest.asum = A->asum + tiled;
        qp_run_int8_vnni(&rest, W, panel_begin, panel_end, accumulate, C + tiled * ldc, ldc);
    }
}
#endif
