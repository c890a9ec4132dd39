# Declarations of csrc/fastrnn.h (the C time loops, plans, packing and product kernels) and of the CBLAS calls
# the bindings use. Shapes and contracts are documented in csrc/fastrnn.h.
from libc.stdint cimport uint64_t

cdef extern from "fastrnn.h" nogil:
    enum:
        FR_RNN_TANH
        FR_RNN_RELU
        FR_LSTM
        FR_GRU
        FR_GRU_RB
    enum:
        FR_PRODUCT_DIRECT
        FR_PRODUCT_PACKED
        FR_PRODUCT_BLAS
        FR_PRODUCT_QUANT
    enum:
        FR_FUSED_NARROW
        FR_FUSED_WIDE

    ctypedef struct fr_cell:
        int mode
        Py_ssize_t n_in, H, P, G
        const void *w_ih
        const void *w_hh
        const void *b_ih
        const void *b_hh
        const void *w_hr
        const void *peep
        const void *b_hn

    ctypedef struct fr_packed:
        const void *hh
        const void *hn
        const void *hr
        const void *ih

    ctypedef struct fr_tape:
        void *h_prev
        void *c_prev
        void *hn
        void *r

    ctypedef struct fr_grads:
        void *w_ih
        void *w_hh
        void *b_ih
        void *b_hh
        void *w_hr
        void *peep

    ctypedef struct fr_plan:
        int product
        int fused
        int threads
        int row_parts
        Py_ssize_t chunk

    fr_plan fr_plan_forward(const fr_cell *cell, Py_ssize_t T, Py_ssize_t B, int training, int elem)
    fr_plan fr_plan_backward(const fr_cell *cell, Py_ssize_t T, Py_ssize_t B, int elem)
    fr_plan fr_plan_step(const fr_cell *cell, Py_ssize_t B, int elem)
    fr_plan fr_plan_quant(const fr_cell *cell, Py_ssize_t T, Py_ssize_t B, int format)
    ctypedef struct fr_forward_call:
        const fr_cell *cell
        const fr_packed *pk
        fr_plan plan
        const void *x
        Py_ssize_t T
        Py_ssize_t B
        void *h
        void *c
        const Py_ssize_t *batch_sizes
        int reverse
        void *out
        Py_ssize_t ldo
        void *gates
        const fr_tape *tape
        void *work

    int fr_plan_directions_at_once(const fr_cell *cell, Py_ssize_t T, Py_ssize_t B)
    void fr_plan_pair_member(const fr_cell *cell, Py_ssize_t T, Py_ssize_t B, int training, int elem, fr_plan *plan)
    Py_ssize_t fr_forward_workspace(const fr_cell *cell, const fr_plan *plan, Py_ssize_t B, int training)
    Py_ssize_t fr_backward_workspace(const fr_cell *cell, Py_ssize_t B)

    void fr_forward_f32(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const float *x,
                        Py_ssize_t T, Py_ssize_t B, float *h, float *c, const Py_ssize_t *batch_sizes, int reverse,
                        float *out, Py_ssize_t ldo, float *gates, const fr_tape *tape, float *work)
    void fr_forward_f64(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const double *x,
                        Py_ssize_t T, Py_ssize_t B, double *h, double *c, const Py_ssize_t *batch_sizes,
                        int reverse, double *out, Py_ssize_t ldo, double *gates, const fr_tape *tape, double *work)
    void fr_backward_f32(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const float *gates,
                         const fr_tape *tape, const float *x, Py_ssize_t T, Py_ssize_t B, const float *d_out,
                         Py_ssize_t ldo, float *dh, float *dc, const Py_ssize_t *batch_sizes, int reverse,
                         float *dx, const fr_grads *g, float *dgates, float *dhh, float *dhs, float *rh,
                         float *work)
    void fr_backward_f64(const fr_cell *cell, const fr_packed *pk, const fr_plan *plan, const double *gates,
                         const fr_tape *tape, const double *x, Py_ssize_t T, Py_ssize_t B, const double *d_out,
                         Py_ssize_t ldo, double *dh, double *dc, const Py_ssize_t *batch_sizes, int reverse,
                         double *dx, const fr_grads *g, double *dgates, double *dhh, double *dhs, double *rh,
                         double *work)
    void fr_forward_pair_f32(const fr_forward_call *calls)
    void fr_forward_pair_f64(const fr_forward_call *calls)
    void fr_step_stack_f32(const fr_cell *cells, Py_ssize_t L, const fr_plan *plan, const float *x, Py_ssize_t B,
                           float *h, float *c, float *work)
    void fr_step_stack_f64(const fr_cell *cells, Py_ssize_t L, const fr_plan *plan, const double *x,
                           Py_ssize_t B, double *h, double *c, double *work)
    void fr_step_direct_f32(const fr_cell *cells, Py_ssize_t L, const float *x, Py_ssize_t B, float *h, float *c,
                            float *work)
    void fr_step_direct_f64(const fr_cell *cells, Py_ssize_t L, const double *x, Py_ssize_t B, double *h,
                            double *c, double *work)

    Py_ssize_t fr_fused_size_f32(int mode, Py_ssize_t H, Py_ssize_t K, int width)
    Py_ssize_t fr_fused_size_f64(int mode, Py_ssize_t H, Py_ssize_t K, int width)
    void fr_pack_fused_f32(int mode, const float *W, Py_ssize_t H, Py_ssize_t K, int width, float *Wp)
    void fr_pack_fused_f64(int mode, const double *W, Py_ssize_t H, Py_ssize_t K, int width, double *Wp)
    Py_ssize_t fr_packed_size_f32(Py_ssize_t N, Py_ssize_t K)
    Py_ssize_t fr_packed_size_f64(Py_ssize_t N, Py_ssize_t K)
    void fr_pack_weights_f32(const float *W, Py_ssize_t N, Py_ssize_t K, Py_ssize_t stride_n, Py_ssize_t stride_k,
                             float *Wp)
    void fr_pack_weights_f64(const double *W, Py_ssize_t N, Py_ssize_t K, Py_ssize_t stride_n,
                             Py_ssize_t stride_k, double *Wp)
    void fr_packed_gemm_nt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                               const float *Wp, int accumulate, float *C, Py_ssize_t ldc, int threads)
    void fr_packed_gemm_nt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                               const double *Wp, int accumulate, double *C, Py_ssize_t ldc, int threads)
    void fr_small_gemm_nt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                              const float *W, Py_ssize_t ldw, int accumulate, float *C, Py_ssize_t ldc, int threads)
    void fr_small_gemm_nt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                              const double *W, Py_ssize_t ldw, int accumulate, double *C, Py_ssize_t ldc,
                              int threads)
    int fr_all_finite_f32(const float *x, Py_ssize_t n)
    int fr_all_finite_f64(const double *x, Py_ssize_t n)
    uint64_t fr_fingerprint(const void *data, Py_ssize_t bytes)

    void fr_set_max_threads(int n)
    void fr_set_low_latency(int on)
    int fr_low_latency()
    int fr_pool_asleep()
    void fr_pool_nudge()
    unsigned fr_pool_tasks()
    unsigned fr_pool_wakeups()
    int fr_max_threads()

cdef extern from "cblas.h" nogil:
    void scipy_openblas_set_num_threads(int num_threads)
    char *scipy_openblas_get_config()


cdef extern from "gemm.h" nogil:
    int fr_step_wide()   # 1 where the per-step products may run at 64-byte vectors (full-width AVX-512)
