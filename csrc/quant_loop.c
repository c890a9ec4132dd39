/* The time loop of one layer and one direction with reduced-precision weights (quant.h): the float32 loop's
 * structure, each product through fr_quant_gemm_nt, each cell's point-wise update by the float32 kernels of
 * cells.c (so the cells' maths stays in one place). Activations and states are float32 throughout.
 *
 * Per chunk of FR_QL_CHUNK steps (in the order they run) the input part of the gates is one product, x W_ih^T
 * plus the folded biases, so working memory does not grow with T; then per step the recurrent product and
 * the point-wise update of the active rows (a prefix of the batch, batch_sizes[t] long). */
#include <string.h>

#include "fastrnn.h"
#include "quant.h"

#define FR_QL_CHUNK 64

enum { FR_QL_RNN_TANH, FR_QL_RNN_RELU, FR_QL_LSTM, FR_QL_GRU, FR_QL_GRU_RB };

typedef struct {
    float *gx;       /* [chunk, B, G] input part of the gates */
    float *hh;       /* [B, G] GRU: W_hh h */
    float *hn;       /* [B, H] GRU: W_hn h + b_hn */
    float *r;        /* [B, H] LSTM projection input, reset-before GRU r * h */
    void *scratch;   /* the products' prepared A */
} fr_ql_work;

static ptrdiff_t fr_ql_round(ptrdiff_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

static ptrdiff_t fr_ql_chunk(ptrdiff_t T)
{
    return T < FR_QL_CHUNK ? (T > 0 ? T : 1) : FR_QL_CHUNK;
}

static ptrdiff_t fr_ql_scratch(const fr_qcell *cell, ptrdiff_t rows, ptrdiff_t B)
{
    ptrdiff_t s = fr_quant_scratch_bytes(cell->w_ih.format, rows, cell->n_in);
    const ptrdiff_t k = cell->H > cell->P ? cell->H : cell->P;
    const ptrdiff_t t = fr_quant_scratch_bytes(cell->w_hh.format, B, k);
    return s > t ? s : t;
}

ptrdiff_t fr_quant_forward_workspace(const fr_qcell *cell, ptrdiff_t T, ptrdiff_t B)
{
    const ptrdiff_t chunk = fr_ql_chunk(T);
    return fr_ql_round(chunk * B * cell->G * 4) + fr_ql_round(B * cell->G * 4) + 2 * fr_ql_round(B * cell->H * 4) +
           fr_ql_scratch(cell, chunk * B, B) + 64;
}

static fr_ql_work fr_ql_split(const fr_qcell *cell, ptrdiff_t T, ptrdiff_t B, void *work)
{
    const ptrdiff_t chunk = fr_ql_chunk(T);
    unsigned char *p = (unsigned char *)(((uintptr_t)work + 63) / 64 * 64);
    fr_ql_work w;
    w.gx = (float *)p;
    p += fr_ql_round(chunk * B * cell->G * 4);
    w.hh = (float *)p;
    p += fr_ql_round(B * cell->G * 4);
    w.hn = (float *)p;
    p += fr_ql_round(B * cell->H * 4);
    w.r = (float *)p;
    p += fr_ql_round(B * cell->H * 4);
    w.scratch = p;
    return w;
}

/* gates [rows, G] = x [rows, I] W_ih^T + b_ih + b_hh (GRU's b_hn excepted: it sits inside r * (.)). */
static void fr_ql_input(const fr_qcell *cell, const float *x, ptrdiff_t rows, float *gates, void *scratch)
{
    const ptrdiff_t G = cell->G, folded = cell->mode == FR_QL_GRU ? 2 * cell->H : G;
    for (ptrdiff_t j = 0; j < G; j++)
        gates[j] = cell->b_ih == NULL ? 0.0f : j < folded ? cell->b_ih[j] + cell->b_hh[j] : cell->b_ih[j];
    for (ptrdiff_t k = 1; k < rows; k++) memcpy(gates + k * G, gates, (size_t)G * sizeof(float));
    if (cell->n_in > 0) fr_quant_gemm_nt(&cell->w_ih, rows, x, cell->n_in, 1, gates, G, scratch, 0);
}

/* One step of the bs active rows: gates [bs, G] (input part in), h [bs, P] and c [bs, H] updated in place. */
static void fr_ql_step(const fr_qcell *cell, const fr_ql_work *w, ptrdiff_t bs, float *gates, float *h, float *c)
{
    const ptrdiff_t H = cell->H, P = cell->P, G = cell->G;
    switch (cell->mode) {
    case FR_QL_LSTM: {
        fr_quant_gemm_nt(&cell->w_hh, bs, h, P, 1, gates, G, w->scratch, 0);
        float *r = cell->has_proj ? w->r : h;
        fr_lstm_pointwise_forward_f32(gates, c, cell->peep, r, bs, H);
        if (cell->has_proj) fr_quant_gemm_nt(&cell->w_hr, bs, r, H, 0, h, P, w->scratch, 0);
        break;
    }
    case FR_QL_GRU:
        fr_quant_gemm_nt(&cell->w_hh, bs, h, H, 0, w->hh, G, w->scratch, 0);
        fr_gru_pointwise_forward_f32(gates, w->hh, cell->b_hn, w->hn, h, bs, H);
        break;
    case FR_QL_GRU_RB:
        fr_quant_gemm_nt(&cell->w_hh, bs, h, H, 1, gates, G, w->scratch, 0);
        fr_gru_rb_pointwise_reset_f32(gates, h, w->r, bs, H);
        fr_quant_gemm_nt(&cell->w_hn, bs, w->r, H, 1, gates + 2 * H, G, w->scratch, 0);
        fr_gru_rb_pointwise_forward_f32(gates, h, bs, H);
        break;
    default:
        fr_quant_gemm_nt(&cell->w_hh, bs, h, H, 1, gates, G, w->scratch, 0);
        fr_rnn_pointwise_forward_f32(gates, h, bs, H, cell->mode == FR_QL_RNN_RELU);
        break;
    }
}

void fr_quant_forward(const fr_qcell *cell, const float *x, ptrdiff_t T, ptrdiff_t B, float *h, float *c,
                      const ptrdiff_t *batch_sizes, int reverse, float *out, ptrdiff_t ldo, void *work)
{
    const ptrdiff_t G = cell->G, P = cell->P, n_in = cell->n_in, chunk = fr_ql_chunk(T);
    const fr_ql_work w = fr_ql_split(cell, T, B, work);
    ptrdiff_t chunk_t0 = 0;
    for (ptrdiff_t s = 0; s < T; s++) {
        const ptrdiff_t t = reverse ? T - 1 - s : s;
        if (s % chunk == 0) {   /* the next chunk of steps, in the order they run */
            const ptrdiff_t n = T - s < chunk ? T - s : chunk;
            chunk_t0 = reverse ? t - n + 1 : t;
            fr_ql_input(cell, x + chunk_t0 * B * n_in, n * B, w.gx, w.scratch);
        }
        const ptrdiff_t bs = batch_sizes[t];
        if (bs == 0) continue;
        fr_ql_step(cell, &w, bs, w.gx + (t - chunk_t0) * B * G, h, c);
        for (ptrdiff_t k = 0; k < bs; k++) memcpy(out + (t * B + k) * ldo, h + k * P, (size_t)P * sizeof(float));
    }
}
