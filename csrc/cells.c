/* Instantiates every cell template (rnn_cell.inc, lstm_cell.inc, gru_cell.inc) for float and double.
 * Inside a template: REAL is the element type, FR_FN(name) appends the type suffix, SIGMOID/TANH/RELU are the
 * activations of that type (activations.h). */
#include <string.h>

#include "fastrnn.h"
#include "activations.h"

#define REAL float
#define FR_FN(name) name##_f32
#define SIGMOID fr_sigmoid_f32
#define TANH fr_tanh_f32
#define RELU fr_relu_f32
#include "rnn_cell.inc"
#include "lstm_cell.inc"
#include "gru_cell.inc"
#include "packed_gemm.inc"
#undef REAL
#undef FR_FN
#undef SIGMOID
#undef TANH
#undef RELU

#define REAL double
#define FR_FN(name) name##_f64
#define SIGMOID fr_sigmoid_f64
#define TANH fr_tanh_f64
#define RELU fr_relu_f64
#include "rnn_cell.inc"
#include "lstm_cell.inc"
#include "gru_cell.inc"
#include "packed_gemm.inc"
