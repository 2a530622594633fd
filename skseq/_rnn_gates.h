/*
 * Row kernels of the simple (Elman) RNN for float64 (_d) and float32 (_f):
 * the body in src/rnn_gates.inc, written once with REAL and SUFFIX(name),
 * included here once per type. The tanh and the vectorisation macros come
 * from src/fastmath.h.
 */
#ifndef SKSEQ_RNN_GATES_H
#define SKSEQ_RNN_GATES_H

#include "src/fastmath.h"

#define SKSEQ_RNN_PASTE(name, suffix) name##suffix

#define REAL double
#define SUFFIX(name) SKSEQ_RNN_PASTE(name, _d)
#include "src/rnn_gates.inc"
#undef SUFFIX
#undef REAL

#define REAL float
#define SUFFIX(name) SKSEQ_RNN_PASTE(name, _f)
#include "src/rnn_gates.inc"
#undef SUFFIX
#undef REAL

#undef SKSEQ_RNN_PASTE

#endif /* SKSEQ_RNN_GATES_H */
