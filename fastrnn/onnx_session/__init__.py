"""fastrnn.InferenceSession: whole ONNX models run like onnxruntime, recurrent nodes through fastrnn's layers.

    session.py          InferenceSession (run, get_inputs, get_outputs, stream), NodeArg, InferenceStream
    plan.py             the plan made at load: slots, topological order, op check, constant folding
    fold.py             the bytes a folded node makes, charged to the budget before it is made
    ops_elementwise.py  arithmetic, comparisons, logic, activations, Clip, Cast, Where
    ops_tensor.py       shape arithmetic and data movement (Shape, Reshape, Slice, Gather, Expand, Pad, ...)
    ops_nn.py           MatMul, Gemm, Conv (1-D), normalizations, Softmax, reductions, Dropout
    ops_recurrent.py    LSTM / GRU / RNN nodes as fastrnn layers, and the states a stream carries

Needs the onnx package (pip install "fastrnn[onnx]") to read the file; never torch or onnxruntime.
"""
from .session import InferenceSession, InferenceStream, NodeArg

__all__ = ["InferenceSession", "InferenceStream", "NodeArg"]
