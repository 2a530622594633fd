# The C kernels of skseq's compiled core, declared for Cython, and the fused
# (float32/float64) helpers that pick a kernel, or BLAS, for each product.
#
# Cimported by every module that runs the kernels: the recurrent layers
# (_lstm_layer.pyx, and any further cell beside it) and _numerics.pyx. The
# kernels themselves are compiled once, into skseq._dispatch, behind a table
# of function pointers chosen at import from the CPU's features
# (src/kernels.h). A module calls skseq_gemm_init() once at import to bind
# its calls to that shared table; skseq_gemm_set_level() (tests and
# benchmarks) moves every module at once.
#
# Nothing here knows a cell: the helpers take matrices of any gate width G
# (4H for LSTM). The gate equations of each cell live in src/<cell>_rows.inc.
#
# Layout: matrices are C-contiguous (row-major) with explicit row strides.
# A "packed" matrix is a right-hand operand laid out by _packed for the
# kernels of src/gemm.inc; NULL where the level has no packed products, and
# the helpers then call BLAS.

from cython cimport floating
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc

from ._blas cimport gemm
from ._dispatch cimport set_level, shared_table, skseq_kernel_table

cdef extern from "src/kernels.h" nogil:
    ctypedef unsigned long long skseq_fp_mode
    skseq_fp_mode skseq_flush_subnormals()
    void skseq_restore_fp_mode(skseq_fp_mode mode)
    void skseq_prefetch_rows(const void *first, Py_ssize_t stride, Py_ssize_t rows,
                             Py_ssize_t row_bytes, int write)
    void skseq_forward_row_d(double *z, const double *bias, const double *c_prev,
                             double *c_now, double *h_now, Py_ssize_t H, int relu)
    void skseq_forward_row_f(float *z, const float *bias, const float *c_prev,
                             float *c_now, float *h_now, Py_ssize_t H, int relu)
    void skseq_backward_row_d(const double *gates, const double *c_now,
                              const double *c_prev, const double *dh_in,
                              const double *dh_rec, double *dc, double *dz,
                              Py_ssize_t H, int relu)
    void skseq_backward_row_f(const float *gates, const float *c_now,
                              const float *c_prev, const float *dh_in,
                              const float *dh_rec, float *dc, float *dz,
                              Py_ssize_t H, int relu)
    void skseq_gru_forward_row_d(double *gates, const double *rec,
                                 const double *bias, const double *h_prev,
                                 double *hn, double *h_now, Py_ssize_t H, int relu)
    void skseq_gru_forward_row_f(float *gates, const float *rec, const float *bias,
                                 const float *h_prev, float *hn, float *h_now,
                                 Py_ssize_t H, int relu)
    void skseq_gru_backward_row_d(const double *gates, const double *hn,
                                  const double *h_prev, const double *dh_in,
                                  const double *dh_rec, double *dh_direct,
                                  double *dg, double *dn, Py_ssize_t H, int relu)
    void skseq_gru_backward_row_f(const float *gates, const float *hn,
                                  const float *h_prev, const float *dh_in,
                                  const float *dh_rec, float *dh_direct,
                                  float *dg, float *dn, Py_ssize_t H, int relu)
    void skseq_rnn_forward_row_d(double *z, const double *bias, Py_ssize_t H,
                                 int relu)
    void skseq_rnn_forward_row_f(float *z, const float *bias, Py_ssize_t H,
                                 int relu)
    void skseq_rnn_backward_row_d(const double *h, const double *dh_in,
                                  const double *dh_rec, double *dz, Py_ssize_t H,
                                  int relu)
    void skseq_rnn_backward_row_f(const float *h, const float *dh_in,
                                  const float *dh_rec, float *dz, Py_ssize_t H,
                                  int relu)
    int skseq_adam_d(double *w, const double *g, double *m, double *v, Py_ssize_t n,
                     double step, double b1, double b2, double eps)
    int skseq_adam_f(float *w, const float *g, float *m, float *v, Py_ssize_t n,
                     float step, float b1, float b2, float eps)
    int skseq_sgd_d(double *w, const double *g, double *u, Py_ssize_t n,
                    double lr, double mu, int nesterov)
    int skseq_sgd_f(float *w, const float *g, float *u, Py_ssize_t n,
                    float lr, float mu, int nesterov)
    void skseq_add_rows_times_d(double *z, Py_ssize_t ldz, const double *h,
                                Py_ssize_t ldh, const double *W, Py_ssize_t m,
                                Py_ssize_t H, Py_ssize_t G)
    void skseq_add_rows_times_f(float *z, Py_ssize_t ldz, const float *h,
                                Py_ssize_t ldh, const float *W, Py_ssize_t m,
                                Py_ssize_t H, Py_ssize_t G)
    void skseq_rows_times_transposed_d(double *out, Py_ssize_t ldout, const double *dz,
                                       Py_ssize_t lddz, const double *W, Py_ssize_t m,
                                       Py_ssize_t H, Py_ssize_t G)
    void skseq_rows_times_transposed_f(float *out, Py_ssize_t ldout, const float *dz,
                                       Py_ssize_t lddz, const float *W, Py_ssize_t m,
                                       Py_ssize_t H, Py_ssize_t G)

    void skseq_bind_kernels(const skseq_kernel_table *table)
    int skseq_gemm_level()
    Py_ssize_t skseq_packed_size_f(Py_ssize_t K, Py_ssize_t N)
    Py_ssize_t skseq_packed_size_d(Py_ssize_t K, Py_ssize_t N)
    void skseq_pack_f(const float *B, Py_ssize_t ldb, int trans, Py_ssize_t K,
                      Py_ssize_t N, float *packed, float *colsum)
    void skseq_pack_d(const double *B, Py_ssize_t ldb, int trans, Py_ssize_t K,
                      Py_ssize_t N, double *packed, double *colsum)
    void skseq_gemm_packed_f(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                             const float *A, Py_ssize_t lda, const float *packed,
                             float *C, Py_ssize_t ldc, int accumulate)
    void skseq_gemm_packed_d(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                             const double *A, Py_ssize_t lda, const double *packed,
                             double *C, Py_ssize_t ldc, int accumulate)
    void skseq_gemm_pair_f(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K1, const float *A1,
                           Py_ssize_t lda1, const float *packed1, Py_ssize_t K2,
                           const float *A2, Py_ssize_t lda2, const float *packed2,
                           float *C, Py_ssize_t ldc)
    void skseq_gemm_pair_d(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K1, const double *A1,
                           Py_ssize_t lda1, const double *packed1, Py_ssize_t K2,
                           const double *A2, Py_ssize_t lda2, const double *packed2,
                           double *C, Py_ssize_t ldc)
    Py_ssize_t skseq_tn_work_size_f(Py_ssize_t N)
    Py_ssize_t skseq_tn_work_size_d(Py_ssize_t N)
    void skseq_gemm_tn_f(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                         float *C, Py_ssize_t ldc, int accumulate, float *work)
    void skseq_gemm_tn_d(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                         const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                         double *C, Py_ssize_t ldc, int accumulate, double *work)
    void skseq_gemm_tn2_f(Py_ssize_t M1, Py_ssize_t M2, Py_ssize_t N, Py_ssize_t K,
                          const float *A1, Py_ssize_t lda1, const float *A2,
                          Py_ssize_t lda2, const float *B, Py_ssize_t ldb, float *C1,
                          Py_ssize_t ldc1, float *C2, Py_ssize_t ldc2, int accumulate,
                          float *work, float *colsum)
    void skseq_gemm_tn2_d(Py_ssize_t M1, Py_ssize_t M2, Py_ssize_t N, Py_ssize_t K,
                          const double *A1, Py_ssize_t lda1, const double *A2,
                          Py_ssize_t lda2, const double *B, Py_ssize_t ldb, double *C1,
                          Py_ssize_t ldc1, double *C2, Py_ssize_t ldc2, int accumulate,
                          double *work, double *colsum)

    int skseq_row_in_place_f(Py_ssize_t N, Py_ssize_t K, const float *a,
                             const float *B, float *c, int accumulate)
    int skseq_row_in_place_d(Py_ssize_t N, Py_ssize_t K, const double *a,
                             const double *B, double *c, int accumulate)
    int skseq_sequence_applies_f(Py_ssize_t n_in, Py_ssize_t H)
    int skseq_sequence_applies_d(Py_ssize_t n_in, Py_ssize_t H)
    int skseq_forward_sequence_f(Py_ssize_t length, const float *x, Py_ssize_t ldx,
                                 Py_ssize_t n_in, const float *kernel, Py_ssize_t H,
                                 const float *recurrent_kernel, const float *bias,
                                 float *z, float *cells, float *hidden, int relu,
                                 int packed)
    int skseq_forward_sequence_d(Py_ssize_t length, const double *x, Py_ssize_t ldx,
                                 Py_ssize_t n_in, const double *kernel, Py_ssize_t H,
                                 const double *recurrent_kernel, const double *bias,
                                 double *z, double *cells, double *hidden, int relu,
                                 int packed)


cdef inline void skseq_gemm_init() noexcept nogil:
    """Bind this module's calls to the shared kernel table: once, at import."""
    skseq_bind_kernels(shared_table())


cdef inline int skseq_gemm_set_level(int level) noexcept nogil:
    """Run every module's kernels at ``level`` (clamped to what the CPU
    supports); returns the level set."""
    return set_level(level)


cdef inline void *_aligned(Py_ssize_t n_bytes, void **block) noexcept nogil:
    """64-byte aligned memory inside a fresh block (``block`` receives the
    pointer to free), or NULL when n_bytes is 0 or memory is short."""
    block[0] = NULL
    if n_bytes == 0:
        return NULL
    block[0] = malloc(n_bytes + 64)
    if block[0] == NULL:
        return NULL
    return <void *> ((<uintptr_t> block[0] + 63) & ~(<uintptr_t> 63))


cdef inline bint _aligned_64(const void *pointer) noexcept nogil:
    return (<uintptr_t> pointer) % 64 == 0


cdef inline floating *_packed(const floating *matrix, Py_ssize_t rows,
                              Py_ssize_t columns, bint transpose, void **block) noexcept nogil:
    """Pack a C-contiguous (rows x columns) matrix, or its transpose, as the
    right-hand operand of the step products; NULL when the packed kernels are
    not available or memory is short (the caller then uses BLAS). ``block``
    receives the pointer to free."""
    cdef Py_ssize_t K = columns if transpose else rows
    cdef Py_ssize_t N = rows if transpose else columns
    cdef Py_ssize_t size
    cdef floating *packed
    if floating is float:
        size = skseq_packed_size_f(K, N)
    else:
        size = skseq_packed_size_d(K, N)
    packed = <floating *> _aligned(size * sizeof(floating), block)
    if packed == NULL:
        return NULL
    if floating is float:
        skseq_pack_f(matrix, columns, transpose, K, N, packed, NULL)
    else:
        skseq_pack_d(matrix, columns, transpose, K, N, packed, NULL)
    return packed


# At most this many rows, a step's recurrent product is done by the small
# products of src/small_products.inc instead of a BLAS call, whose fixed cost
# dominates such small work.
cdef enum:
    SMALL_ROWS = 8

# Rows per block of a streaming step (``lstm_step``, ``gru_step``): the
# block's gate rows stay in cache however many streams the step has.
cdef enum:
    STEP_BLOCK_ROWS = 64


cdef inline void _packed_product(
    floating *C, Py_ssize_t ldc, const floating *A, Py_ssize_t lda,
    const floating *packed, Py_ssize_t M, Py_ssize_t K, Py_ssize_t N,
    bint accumulate,
) noexcept nogil:
    """C (+)= A @ op(B), with op(B) (K x N) packed by _packed."""
    if floating is float:
        skseq_gemm_packed_f(M, N, K, A, lda, packed, C, ldc, accumulate)
    else:
        skseq_gemm_packed_d(M, N, K, A, lda, packed, C, ldc, accumulate)


cdef inline void _pair_product(
    floating *C, Py_ssize_t ldc, const floating *A1, Py_ssize_t lda1,
    const floating *packed1, Py_ssize_t K1, const floating *A2, Py_ssize_t lda2,
    const floating *packed2, Py_ssize_t K2, Py_ssize_t M, Py_ssize_t N,
) noexcept nogil:
    """C = A1 @ op(B1) + A2 @ op(B2), both packed by _packed: rounded as
    _packed_product(A1) then _packed_product(A2, accumulate), in one pass."""
    if floating is float:
        skseq_gemm_pair_f(M, N, K1, A1, lda1, packed1, K2, A2, lda2, packed2, C, ldc)
    else:
        skseq_gemm_pair_d(M, N, K1, A1, lda1, packed1, K2, A2, lda2, packed2, C, ldc)


cdef inline bint _row_in_place(
    floating *c, const floating *a, const floating *B, Py_ssize_t K, Py_ssize_t N,
    bint accumulate,
) noexcept nogil:
    """c (1 x N) (+)= a (1 x K) @ B with B (K x N, C-contiguous) read in place:
    the bits of the packed product of one row, without packing B (a streamed
    step of one sequence). False, nothing done, where the kernel level or the
    shapes do not allow it (then pack B and use _product)."""
    if floating is float:
        return skseq_row_in_place_f(N, K, a, B, c, accumulate) != 0
    else:
        return skseq_row_in_place_d(N, K, a, B, c, accumulate) != 0


cdef inline void _product(
    floating *C, Py_ssize_t ldc, const floating *A, Py_ssize_t lda,
    const floating *B, const floating *packed, Py_ssize_t M, Py_ssize_t K,
    Py_ssize_t N, bint accumulate,
) noexcept nogil:
    """C (+)= A @ B (B is K x N, contiguous; packed is B packed or NULL)."""
    if packed != NULL:
        _packed_product(C, ldc, A, lda, packed, M, K, N, accumulate)
    else:
        gemm(False, False, <int> M, <int> N, <int> K, <floating> 1.0,
             A, <int> lda, B, <int> N, <floating> (1.0 if accumulate else 0.0),
             C, <int> ldc)


cdef inline void _recurrent_product(
    floating *z, Py_ssize_t ldz, const floating *h, Py_ssize_t ldh,
    const floating *W, const floating *packed, Py_ssize_t m, Py_ssize_t H,
    Py_ssize_t G,
) noexcept nogil:
    """z[:m] += h[:m] @ W for one step (W is H x G; packed is W packed or NULL)."""
    if packed == NULL and m <= SMALL_ROWS:
        if floating is float:
            skseq_add_rows_times_f(z, ldz, h, ldh, W, m, H, G)
        else:
            skseq_add_rows_times_d(z, ldz, h, ldh, W, m, H, G)
    else:
        _product(z, ldz, h, ldh, W, packed, m, H, G, True)


cdef inline void _recurrent_gradient(
    floating *out, const floating *dz, Py_ssize_t lddz,
    const floating *W, const floating *packed_t, Py_ssize_t m, Py_ssize_t H,
    Py_ssize_t G,
) noexcept nogil:
    """out[:m] = dz[:m] @ W.T for one step (out is m x H, contiguous; packed_t
    is W.T packed or NULL)."""
    if packed_t != NULL:
        _packed_product(out, H, dz, lddz, packed_t, m, G, H, False)
    elif m <= SMALL_ROWS:
        if floating is float:
            skseq_rows_times_transposed_f(out, H, dz, lddz, W, m, H, G)
        else:
            skseq_rows_times_transposed_d(out, H, dz, lddz, W, m, H, G)
    else:
        gemm(False, True, <int> m, <int> H, <int> G, <floating> 1.0,
             dz, <int> lddz, W, <int> G, <floating> 0.0, out, <int> H)

cdef inline void _transposed_product(
    floating *C, const floating *A, Py_ssize_t lda, const floating *B,
    Py_ssize_t M, Py_ssize_t K, Py_ssize_t N, bint accumulate, floating *work,
) noexcept nogil:
    """C (M x N, contiguous) (+)= A.T @ B, A (K x M) and B (K x N, contiguous);
    with the packed kernels when ``work`` (their workspace) is given."""
    if work != NULL:
        if floating is float:
            skseq_gemm_tn_f(M, N, K, A, lda, B, N, C, N, accumulate, work)
        else:
            skseq_gemm_tn_d(M, N, K, A, lda, B, N, C, N, accumulate, work)
    else:
        gemm(True, False, <int> M, <int> N, <int> K, <floating> 1.0,
             A, <int> lda, B, <int> N, <floating> (1.0 if accumulate else 0.0),
             C, <int> N)


cdef inline void _gemm_tn2(
    Py_ssize_t M1, Py_ssize_t M2, Py_ssize_t N, Py_ssize_t K,
    const floating *A1, Py_ssize_t lda1, const floating *A2, Py_ssize_t lda2,
    const floating *B, Py_ssize_t ldb, floating *C1, Py_ssize_t ldc1,
    floating *C2, Py_ssize_t ldc2, bint accumulate, floating *work,
    floating *colsum,
) noexcept nogil:
    """C1 (M1 x N) (+)= A1.T @ B and C2 (M2 x N, none for M2 = 0) (+)= A2.T @ B
    with the packed kernels, B (K x N) packed once into ``work`` for both and
    its column sums added into ``colsum`` (or NULL) on the way."""
    if floating is float:
        skseq_gemm_tn2_f(M1, M2, N, K, A1, lda1, A2, lda2, B, ldb, C1, ldc1, C2,
                         ldc2, accumulate, work, colsum)
    else:
        skseq_gemm_tn2_d(M1, M2, N, K, A1, lda1, A2, lda2, B, ldb, C1, ldc1, C2,
                         ldc2, accumulate, work, colsum)


cdef inline void _weight_gradients(
    floating *partial, const floating *x, const floating *h, const floating *dz,
    Py_ssize_t K, Py_ssize_t n_in, Py_ssize_t H, Py_ssize_t G, bint accumulate,
    floating *work,
) noexcept nogil:
    """The three blocks of ``partial`` (+)= x.T @ dz (n_in x G), h.T @ dz
    (H x G), and (always +=) the column sums of dz (G): over K rows of x
    (K x n_in), h (K x H) and dz (K x G), contiguous. With the packed kernels
    (``work`` given) dz is packed once for both products and summed on the
    way; the sums run in row order either way."""
    cdef floating *grad_bias = partial + (n_in + H) * G
    cdef Py_ssize_t r, k
    if work != NULL:
        _gemm_tn2(n_in, H, G, K, x, n_in, h, H, dz, G, partial, G,
                  partial + n_in * G, G, accumulate, work, grad_bias)
        return
    _transposed_product(partial, x, n_in, dz, n_in, K, G, accumulate, NULL)
    _transposed_product(partial + n_in * G, h, H, dz, H, K, G, accumulate, NULL)
    for r in range(K):
        for k in range(G):
            grad_bias[k] += dz[r * G + k]


cdef inline floating *_tn_work(const floating *like, Py_ssize_t N,
                               void **block) noexcept nogil:
    """Aligned workspace for _transposed_product (of the type of ``like``), or
    NULL (then BLAS is used)."""
    cdef Py_ssize_t size
    if floating is float:
        size = skseq_tn_work_size_f(N)
    else:
        size = skseq_tn_work_size_d(N)
    return <floating *> _aligned(size * sizeof(floating), block)


cdef inline void _dense(const floating *inputs, Py_ssize_t M, Py_ssize_t K,
                        const floating *weights, const floating *bias,
                        floating *out, Py_ssize_t N) noexcept nogil:
    """out (M x N) = inputs (M x K) @ weights (K x N) + bias, all C-contiguous."""
    cdef Py_ssize_t i, j
    cdef void *block = NULL
    cdef const floating *packed
    for i in range(M):
        for j in range(N):
            out[i * N + j] = bias[j]
    if K > 0:
        packed = _packed(weights, K, N, False, &block)
        _product(out, N, inputs, K, weights, packed, M, K, N, True)
        free(block)


cdef inline bint _all_finite(const floating *values, Py_ssize_t n) noexcept nogil:
    """Whether no value is NaN or infinite (x - x is 0 exactly when x is
    finite)."""
    cdef Py_ssize_t i
    cdef int bad = 0
    for i in range(n):
        bad |= (values[i] - values[i]) != 0
    return not bad
