# Typed, nogil wrappers over SciPy's BLAS for row-major (C-ordered) matrices.
#
# BLAS is column-major. A row-major matrix seen through column-major eyes is
# its transpose, so the row-major product C = op(A) @ op(B) is computed as the
# column-major product C^T = op(B)^T @ op(A)^T: the operands swap places and the
# transpose flags keep their meaning. Precision is chosen at compile time from
# the fused type, so each specialisation calls exactly one BLAS routine.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(
    bint transpose_a, bint transpose_b,
    int m, int n, int k,
    floating alpha,
    const floating *a, int lda,
    const floating *b, int ldb,
    floating beta,
    floating *c, int ldc,
) noexcept nogil:
    """C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major.

    op(A) is (m x k) and op(B) is (k x n); lda, ldb, ldc are the row strides
    (elements between the starts of consecutive rows) of the stored matrices.
    """
    cdef char trans_a = b'T' if transpose_a else b'N'
    cdef char trans_b = b'T' if transpose_b else b'N'
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&trans_b, &trans_a, &n, &m, &k, &alpha,
              <float *> b, &ldb, <float *> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&trans_b, &trans_a, &n, &m, &k, &alpha,
              <double *> b, &ldb, <double *> a, &lda, &beta, c, &ldc)
