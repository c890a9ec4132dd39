"""Layers that run backwards in time: what an ONNX LSTM / GRU / RNN node with direction="reverse" computes.

Such a node reads each sequence from its last valid step to its first, and writes each output back at the step
it came from. Here that is a forward layer run on the sequences reversed within their lengths (rows past a
row's length stay where they are, as padding), its outputs reversed the same way; the final state is the
state after the first step, which is what the node's Y_h / Y_c hold. States and lengths are passed as to any
layer (h0 (1, B, H)). For inference only: step() and training refuse (a whole sequence is needed, and the
gradients would be those of the reversed sequence).
"""
import numpy as np

from ..layers import GRU, LSTM, RNN


def reverse_within_lengths(x, lengths):
    """x (T, B, ...) with each row's first lengths[b] steps in reverse order (all T steps when lengths is None);
    its own inverse."""
    if lengths is None:
        return np.ascontiguousarray(x[::-1])
    T, B = x.shape[:2]
    steps = np.arange(T)[:, None]                                      # (T, 1)
    source = np.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)   # (T, B)
    return x[source, np.arange(B)[None, :]]


class _Reversed:
    """Mixed in before a layer class: runs it backwards in time within each row's length."""

    direction = "reverse"

    def _run(self, x, h, c, lengths, tape=None):
        out, h, c = super()._run(reverse_within_lengths(x, lengths), h, c, lengths, tape)
        return reverse_within_lengths(out, lengths), h, c

    def step(self, x_t, state=None):
        raise ValueError(f"step() advances forward in time; this {type(self).__name__} runs backwards and needs "
                         f"the whole sequence: call the layer on it instead")

    def forward_train(self, x, hx=None, lengths=None):
        raise TypeError(f"{type(self).__name__} (an ONNX reverse-direction node) is for inference only")

    def _repr_options(self):
        return super()._repr_options() + [("direction", "forward")]


class ReverseRNN(_Reversed, RNN):
    """fastrnn.RNN run backwards in time (an ONNX RNN node with direction="reverse")."""


class ReverseLSTM(_Reversed, LSTM):
    """fastrnn.LSTM run backwards in time (an ONNX LSTM node with direction="reverse")."""


class ReverseGRU(_Reversed, GRU):
    """fastrnn.GRU run backwards in time (an ONNX GRU node with direction="reverse")."""


REVERSED = {"RNN": ReverseRNN, "LSTM": ReverseLSTM, "GRU": ReverseGRU}
