/* Instantiates rows.inc (the session's row-wise kernels, rows.h) for float and double. */
#include <math.h>

#include "activations.h"
#include "fastrnn.h"   /* FR_SIMD, the pool, fr_plan_wake_pays */
#include "rows.h"

enum { FR_ROWS_SOFTMAX, FR_ROWS_LOG_SOFTMAX, FR_ROWS_LAYER_NORM, FR_ROWS_SIGMOID };
/* Values from which a call splits its rows across the pool: about 30 us of one core's work (log-softmax 1600 x 50
 * took 90 us alone); below, the hand-off and a worker reading the rows from the caller's core cost more. */
#define FR_ROWS_MIN_PARALLEL 32768
/* The product FLOPs one core does in the time of one value here, for the pool's rule on waking sleeping workers
 * (fr_plan_wake_pays): about 1.1 ns a value (log-softmax 1600 x 50 took 90 us on one Intel Xeon core) at about
 * 100 GFLOP/s. */
#define FR_ROWS_FLOPS_PER_VALUE 110

/* e^x and the sigmoid, 0 where the result falls below float's normal range (activations.h's exp clamps there
 * instead, for the cells): a masked score (-inf) must weigh exactly 0 after a softmax, and a subnormal value
 * slows every later product with it (an attention model's weighted sum ran 7x slower on them). */
static inline float exp_flushed_f32(float x) { return fr_select_f32(x < -87.0f, 0.0f, fr_exp_f32(x)); }
static inline float sigmoid_flushed_f32(float x) { return fr_select_f32(x < -87.0f, 0.0f, fr_sigmoid_f32(x)); }

#define REAL float
#define FR_FN(name) name##_f32
#define EXP exp_flushed_f32
#define LOG logf
#define SIGMOID sigmoid_flushed_f32
#include "rows.inc"
#undef REAL
#undef FR_FN
#undef EXP
#undef LOG
#undef SIGMOID

#define REAL double
#define FR_FN(name) name##_f64
#define EXP exp
#define LOG log
#define SIGMOID fr_sigmoid_f64
#include "rows.inc"
