/*
 * The GRU row kernels (src/gru_gates.inc) for float64 (suffix _d) and float32
 * (suffix _f): the body is written once with REAL and SUFFIX(name), and
 * included here once per type. The activations are those of _gates.h.
 */
#ifndef SKSEQ_GRU_GATES_H
#define SKSEQ_GRU_GATES_H

#include "_gates.h"

#define SKSEQ_PASTE(name, suffix) name##suffix
#define SKSEQ_EXPAND_PASTE(name, suffix) SKSEQ_PASTE(name, suffix)

#define REAL double
#define SUFFIX(name) SKSEQ_EXPAND_PASTE(name, _d)
#include "src/gru_gates.inc"
#undef REAL
#undef SUFFIX

#define REAL float
#define SUFFIX(name) SKSEQ_EXPAND_PASTE(name, _f)
#include "src/gru_gates.inc"
#undef REAL
#undef SUFFIX

#undef SKSEQ_EXPAND_PASTE
#undef SKSEQ_PASTE

#endif /* SKSEQ_GRU_GATES_H */
