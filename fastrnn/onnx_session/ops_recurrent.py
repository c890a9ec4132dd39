"""ONNX LSTM / GRU / RNN nodes in the session: each runs as the fastrnn layer `from_onnx` builds for it
(fastrnn/io/onnx_import.py: gate order, directions, layouts, attributes checked there), W, R, B, P constant.

ONNX's shapes around the layer (layout 0; layout 1 swaps the batch axis first):
  X (T, B, I), sequence_lens (B,), initial_h / initial_c (D, B, H)   [layout 1: X (B, T, I), states (B, D, H)]
  Y (T, D, B, H) [layout 1: (B, T, D, H)], Y_h / Y_c (D, B, H) [layout 1: (B, D, H)]
The layer returns out (T, B, D*H) (or (B, T, D*H) batch first): Y is a view of it, no copy.

A RecurrentStep carries its states from call to call only inside a stream (InferenceSession.stream()): a
stream passes its own `carry` dict, where the step keeps its final (h, c) and reads them as the next call's
initial states, for the state inputs that are not graph inputs.
"""
import warnings

import numpy as np

from fastrnn import _kernels
from fastrnn import _validation as v
from fastrnn.io.errors import FormatError

STATE_INPUTS = (5, 6)   # input positions of initial_h and initial_c in an ONNX recurrent node
# Outputs up to this size skip the check that they fit in memory (v.check_fits_memory reads the machine's
# memory, ~0.4 us a call at B=1 T=1, where the whole LSTM step costs ~2 us): NumPy's own MemoryError covers them.
UNCHECKED_OUTPUT_BYTES = 64 << 20


class _KnownConstants:
    """What onnx_import's node reader asks of a graph's constants: get(name) -> array or None."""

    def __init__(self, values):
        self._values = values

    def get(self, name):
        return self._values.get(name)


class RecurrentStep:
    """Runs one recurrent node; `carries` says whether the stream may feed its states back (a state input that
    is a graph input belongs to the caller)."""

    def __init__(self, node, constants, graph_inputs):
        from fastrnn.io.onnx_import import _node_layer, import_onnx

        for position, label in ((1, "W"), (2, "R"), (3, "B")):
            name = node.inputs[position] if len(node.inputs) > position else ""
            if name and name not in constants:
                raise FormatError(f"{node.op} node {node.name!r}: {label} ({name!r}) is computed from the graph's "
                                  f"inputs; fastrnn runs recurrent nodes with stored weights only")
        with warnings.catch_warnings():   # stored initial states are passed at each call here, not a concern
            warnings.simplefilter("ignore")
            self.layer, description = _node_layer(import_onnx(), node.proto, node.name, _KnownConstants(constants))
        self.name, self.op = node.name, node.op
        self.layout = description["layout"]
        self.D = 2 if description["direction"] == "bidirectional" else 1
        self.H = description["hidden_size"]
        state_inputs = [node.inputs[k] if len(node.inputs) > k else "" for k in STATE_INPUTS]
        self.carries = not any(name in graph_inputs for name in state_inputs if name)
        self.key = node.name
        self.outputs = len(node.outputs)   # Y, Y_h (, Y_c): the node may name fewer than the op has
        self._cells = self.layer._current_cells()   # the session's own layer: its parameters never change
        self._batch_sizes = ((0, 0), np.zeros(0, np.intp))   # ((T, B), batch sizes) of the last call's (T, B)
        self._dtype, self._input_size = self.layer.dtype, self.layer.input_size

    def __call__(self, x, W=None, R=None, B=None, lengths=None, h0=None, c0=None, P=None, carry=None):
        """ONNX inputs in node order -> (Y, Y_h[, Y_c]) in ONNX's shapes."""
        if h0 is None and c0 is None and lengths is None and carry is None and self.layout == 0 and \
                x.__class__ is np.ndarray and x.dtype == self._dtype and x.ndim == 3 and \
                x.shape[2] == self._input_size:
            return self._from_zeros(x)
        if carry is not None and self.key in carry:
            h0, c0 = carry[self.key]
            if x.ndim == 3 and h0.shape[1] != x.shape[1 - self.layout]:
                raise ValueError(f"stream: {self.op} node {self.name!r} carries states of batch {h0.shape[1]} "
                                 f"from the previous call; this call's batch is {x.shape[1 - self.layout]} "
                                 f"(call reset() first)")
        elif self.layout == 1:
            h0 = None if h0 is None else h0.transpose(1, 0, 2)
            c0 = None if c0 is None else c0.transpose(1, 0, 2)
        out, h, c = self._run_layer(x, h0, c0, lengths)
        if carry is not None:   # copies: h may also be a graph output, which the caller may write into
            carry[self.key] = (h.copy(), None if c is None else c.copy())
        if self.layout == 0:
            T, B = out.shape[:2]
            y = out.reshape(T, B, self.D, self.H).transpose(0, 2, 1, 3)
        else:
            y = out.reshape(out.shape[0], out.shape[1], self.D, self.H)
            h = h.transpose(1, 0, 2)
            c = None if c is None else c.transpose(1, 0, 2)
        return (y, h, c)[:self.outputs]

    def _from_zeros(self, x):
        """__call__ of the usual export (layout 0, zero initial states, no lengths, x checked) in fewer steps."""
        T, B = x.shape[:2]
        h = np.zeros((self.D, B, self.H), self._dtype)
        c = np.zeros((self.D, B, self.H), self._dtype) if self.op == "LSTM" else None
        out = self._forward(x if x.flags.c_contiguous else np.ascontiguousarray(x), h, c)
        y = out.reshape(T, B, 2, self.H).transpose(0, 2, 1, 3) if self.D == 2 else out.reshape(T, 1, B, self.H)
        return (y, h, c)[:self.outputs]

    def _run_layer(self, x, h0, c0, lengths):
        """(out (T, B, D*H) or batch first, h (D, B, H), c or None): the layer's own loop after the checks the
        executor needs (dtype, shapes), without the public call's conversions; anything unusual goes through
        the public call, whose messages name the problem."""
        layer = self.layer
        if x.dtype != layer.dtype or x.ndim != 3 or x.shape[2] != layer.input_size:
            return self._public_call(x, h0, c0, lengths)
        state_shape = (self.D, x.shape[1 - self.layout], self.H)
        if (h0 is not None and (h0.dtype != layer.dtype or h0.shape != state_shape)) or \
                (c0 is not None and (c0.dtype != layer.dtype or c0.shape != state_shape)):
            return self._public_call(x, h0, c0, lengths)
        xt = np.ascontiguousarray(x.transpose(1, 0, 2) if self.layout == 1 else x)
        T, batch = xt.shape[:2]
        h = np.zeros(state_shape, layer.dtype) if h0 is None else np.array(h0, order="C")
        c = None
        if self.op == "LSTM":
            c = np.zeros(state_shape, layer.dtype) if c0 is None else np.array(c0, order="C")
        if lengths is not None:
            out, h, c = layer._run(xt, h, c, v.as_lengths(lengths, batch, T))
        else:
            out = self._forward(xt, h, c)
        return (out.transpose(1, 0, 2) if self.layout == 1 else out), h, c

    def _forward(self, x, h, c):
        """out (T, B, D*H) of x (T, B, I) C-contiguous, every row the full length; updates h, c (D, B, H): the
        layer's loop (SequenceCall._run without lengths) with this node's cells and batch sizes kept."""
        T, B = x.shape[:2]
        D, H, dtype = self.D, self.H, self.layer.dtype
        if T * B * D * H * dtype.itemsize > UNCHECKED_OUTPUT_BYTES:
            v.check_fits_memory(T * B * D * H * dtype.itemsize, f"the output of {T} steps of {B} rows")
        sizes, batch_sizes = self._batch_sizes   # every step all B rows: one array per (T, B), read-only (the
        if sizes != (T, B):                      # threads of one session share it)
            batch_sizes = np.full(T, B, np.intp)
            batch_sizes.flags.writeable = False
            self._batch_sizes = ((T, B), batch_sizes)
        out = np.empty((T, B, D * H), dtype)
        _kernels.run_directions(self._cells, x, h, c, batch_sizes, out)
        return out

    def _public_call(self, x, h0, c0, lengths):
        hx = h0
        if self.op == "LSTM" and (h0 is not None or c0 is not None):
            zeros = np.zeros((self.D, x.shape[1 - self.layout], self.H), self.layer.dtype)
            hx = (zeros if h0 is None else h0, zeros if c0 is None else c0)
        out, state = self.layer(x, hx, lengths=lengths)
        h, c = state if self.op == "LSTM" else (state, None)
        return out, h, c
