# The kernel table shared by every module of the compiled core (see
# src/kernels.h), and the setter of its level. Cimported by _kernels.pxd.

cdef extern from "src/kernels.h" nogil:
    ctypedef struct skseq_kernel_table:
        int level

cdef const skseq_kernel_table *shared_table() noexcept nogil
cdef int set_level(int level) noexcept nogil
