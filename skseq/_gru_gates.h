/*
 * The GRU row kernels (src/gru_gates.inc) for float64 (suffix _d) and float32
 * (suffix _f): the body is written once with REAL and SUFFIX(name), and
 * included here once per type. The activations are those of src/fastmath.h.
 */
#ifndef SKSEQ_GRU_GATES_H
#define SKSEQ_GRU_GATES_H

#include "src/fastmath.h"

#define SKSEQ_GRU_PASTE(name, suffix) name##suffix
#define SKSEQ_GRU_EXPAND(name, suffix) SKSEQ_GRU_PASTE(name, suffix)

#define REAL double
#define SUFFIX(name) SKSEQ_GRU_EXPAND(name, _d)
#include "src/gru_gates.inc"
#undef REAL
#undef SUFFIX

#define REAL float
#define SUFFIX(name) SKSEQ_GRU_EXPAND(name, _f)
#include "src/gru_gates.inc"
#undef REAL
#undef SUFFIX

#undef SKSEQ_GRU_EXPAND
#undef SKSEQ_GRU_PASTE

#endif /* SKSEQ_GRU_GATES_H */
