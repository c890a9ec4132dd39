/* The reduced-precision products by AMX (1 KiB tiles), for CPUs with AMX-INT8 / AMX-BF16 (Intel Sapphire Rapids and
 * later): int8 by tdpbsud, bfloat16 by tdpbf16ps, both from x86/quant_amx.inc. Run only after x86/quant_cpu.c found
 * the instructions and the kernel granted this process the tile state.
 *
 * The packed panels (quant.h) already hold W in the tiles' layout: a panel's groups (4 int8 or 2 bfloat16 values of
 * K x 16 rows, 64 bytes) are one tile row each, so a W tile is 16 consecutive groups of a panel, loaded with a
 * 64-byte stride. A is prepared in rows padded with zeros to a multiple of 64 bytes (FR_QA_INT8_TILE; bfloat16's
 * K is padded to 32 values anyway), so the last tile of a row reads zeros past K. For int8 the W tile beside it then reads up to 15 groups
 * past the panel's end (the next panel, or the slack fr_quant_packed_bytes adds after the last one), whose
 * integers those zeros cancel; bfloat16 panels hold K padded to whole tile rows (quant.c), as garbage there could
 * be NaN. tdpbsud multiplies signed A by the unsigned W + 128; the shared epilogue (fr_q_store) removes 128 x the
 * row's sum of A. Rows past the last multiple of 16 go to the AVX-512 kernel of the format (every AMX CPU has
 * VNNI and AVX512_BF16). Measured on 2 Intel Xeon cores (Sapphire Rapids class), LSTM B64 T100 H512: int8 64-68 ms
 * by VNNI -> 44.6-45.4 ms (per instruction, vpdpbusd does 64 multiply-adds, tdpbsud 16,384); bfloat16 160-175 ms
 * by vdpbf16ps -> 44.6-47.2 ms, and at B1 T200 6.9 -> 4.35 ms (its input projection). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <stdint.h>
#include <string.h>

#include <immintrin.h>

#include "quant_kernel.h"

#define FR_AMX_TARGET __attribute__((target("amx-tile,amx-int8,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define FR_AMX_ROWS 16   /* rows of a tile */

FR_Q_DECLARE_RUN(int8_vnni)
FR_Q_DECLARE_RUN(bf16_dp)

/* The tile configuration of ldtilecfg (palette 1). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} fr_amx_config;

/* Tiles 0-3: C[row tile][column tile] at 2 r + c; 4, 5: A row tiles; 6, 7: W column tiles; all 16 x 64 bytes. */
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

#define QA_NAME(x) x##_int8_amx
#define QA_DP(c, a, w) _tile_dpbsud(c, a, w)
#define QA_ELEM 1
#define QA_GROUP 4
#define QA_TAIL qp_run_int8_vnni
#include "quant_amx.inc"
#undef QA_NAME
#undef QA_DP
#undef QA_ELEM
#undef QA_GROUP
#undef QA_TAIL

#define QA_NAME(x) x##_bf16_amx
#define QA_DP(c, a, w) _tile_dpbf16ps(c, a, w)
#define QA_ELEM 2
#define QA_GROUP 2
#define QA_TAIL qp_run_bf16_dp
#include "quant_amx.inc"
#undef QA_NAME
#undef QA_DP
#undef QA_ELEM
#undef QA_GROUP
#undef QA_TAIL
#endif
