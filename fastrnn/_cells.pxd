# Declarations of csrc/fastrnn.h (point-wise cell kernels) and of the CBLAS calls the time loops use.
# Shapes and contracts are documented in csrc/fastrnn.h.

cdef extern from "fastrnn.h" nogil:
    void fr_rnn_pointwise_forward_f32(float *gates, float *h, Py_ssize_t B, Py_ssize_t H, int relu)
    void fr_rnn_pointwise_forward_f64(double *gates, double *h, Py_ssize_t B, Py_ssize_t H, int relu)
    void fr_rnn_pointwise_backward_f32(const float *gates, float *dh, Py_ssize_t B, Py_ssize_t H, int relu)
    void fr_rnn_pointwise_backward_f64(const double *gates, double *dh, Py_ssize_t B, Py_ssize_t H, int relu)

    void fr_lstm_pointwise_forward_f32(float *gates, float *c, const float *peep, float *r,
                                       Py_ssize_t B, Py_ssize_t H)
    void fr_lstm_pointwise_forward_f64(double *gates, double *c, const double *peep, double *r,
                                       Py_ssize_t B, Py_ssize_t H)
    void fr_lstm_pointwise_backward_f32(const float *gates, const float *c_prev, const float *peep,
                                        const float *dr, float *dc, float *dgates,
                                        float *dpeep, Py_ssize_t B, Py_ssize_t H)
    void fr_lstm_pointwise_backward_f64(const double *gates, const double *c_prev, const double *peep,
                                        const double *dr, double *dc, double *dgates,
                                        double *dpeep, Py_ssize_t B, Py_ssize_t H)

    void fr_gru_pointwise_forward_f32(float *gates, const float *hh, const float *b_hn, float *hn, float *h,
                                      Py_ssize_t B, Py_ssize_t H)
    void fr_gru_pointwise_forward_f64(double *gates, const double *hh, const double *b_hn, double *hn,
                                      double *h, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_pointwise_backward_f32(const float *gates, const float *hn, const float *h_prev, float *dh,
                                       float *dgates, float *dhh, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_pointwise_backward_f64(const double *gates, const double *hn, const double *h_prev,
                                       double *dh, double *dgates, double *dhh, Py_ssize_t B, Py_ssize_t H)

    void fr_gru_rb_pointwise_reset_f32(float *gates, const float *h, float *rh, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_reset_f64(double *gates, const double *h, double *rh, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_forward_f32(float *gates, float *h, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_forward_f64(double *gates, double *h, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_backward_zn_f32(const float *gates, const float *h_prev, float *dh,
                                             float *dgates, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_backward_zn_f64(const double *gates, const double *h_prev, double *dh,
                                             double *dgates, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_backward_r_f32(const float *gates, const float *h_prev, const float *drh,
                                            float *dh, float *dgates, Py_ssize_t B, Py_ssize_t H)
    void fr_gru_rb_pointwise_backward_r_f64(const double *gates, const double *h_prev, const double *drh,
                                            double *dh, double *dgates, Py_ssize_t B, Py_ssize_t H)

    Py_ssize_t fr_packed_size_f32(Py_ssize_t N, Py_ssize_t K)
    Py_ssize_t fr_packed_size_f64(Py_ssize_t N, Py_ssize_t K)
    Py_ssize_t fr_packed_panels_f32(Py_ssize_t N)
    Py_ssize_t fr_packed_panels_f64(Py_ssize_t N)
    void fr_pack_weights_f32(const float *W, Py_ssize_t N, Py_ssize_t K, Py_ssize_t stride_n, Py_ssize_t stride_k,
                             float *Wp)
    void fr_pack_weights_f64(const double *W, Py_ssize_t N, Py_ssize_t K, Py_ssize_t stride_n, Py_ssize_t stride_k,
                             double *Wp)
    void fr_packed_gemm_nt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                               const float *Wp, int accumulate, float *C, Py_ssize_t ldc, Py_ssize_t panel_begin,
                               Py_ssize_t panel_end)
    void fr_packed_gemm_nt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                               const double *Wp, int accumulate, double *C, Py_ssize_t ldc,
                               Py_ssize_t panel_begin, Py_ssize_t panel_end)

    void fr_gemm_f32(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A,
                     Py_ssize_t lda, const float *Bm, Py_ssize_t ldb, float beta, float *C, Py_ssize_t ldc)
    void fr_gemm_f64(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A,
                     Py_ssize_t lda, const double *Bm, Py_ssize_t ldb, double beta, double *C, Py_ssize_t ldc)
    void fr_packed_gemm_nt_parallel_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                                        const float *Wp, int accumulate, float *C, Py_ssize_t ldc)
    void fr_packed_gemm_nt_parallel_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A,
                                        Py_ssize_t lda, const double *Wp, int accumulate, double *C,
                                        Py_ssize_t ldc)
    void fr_small_gemm_nt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                              const float *W, Py_ssize_t ldw, int accumulate, float *C, Py_ssize_t ldc)
    void fr_small_gemm_nt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                              const double *W, Py_ssize_t ldw, int accumulate, double *C, Py_ssize_t ldc)
    void fr_small_gemm_nt_mt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                                 const float *W, Py_ssize_t ldw, int accumulate, float *C, Py_ssize_t ldc,
                                 int nthreads)
    void fr_small_gemm_nt_mt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                                 const double *W, Py_ssize_t ldw, int accumulate, double *C, Py_ssize_t ldc,
                                 int nthreads)
    void fr_small_gemm_nt_auto_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A, Py_ssize_t lda,
                                   const float *W, Py_ssize_t ldw, int accumulate, float *C, Py_ssize_t ldc)
    void fr_small_gemm_nt_auto_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A, Py_ssize_t lda,
                                   const double *W, Py_ssize_t ldw, int accumulate, double *C, Py_ssize_t ldc)
    void fr_set_max_threads(int n)
    int fr_max_threads()

    int fr_all_finite_f32(const float *x, Py_ssize_t n)
    int fr_all_finite_f64(const double *x, Py_ssize_t n)

cdef extern from "cblas.h" nogil:
    void scipy_openblas_set_num_threads(int num_threads)
    char *scipy_openblas_get_config()
