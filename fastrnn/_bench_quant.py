"""The reduced-precision rows of `fastrnn bench`: fastrnn's int8 or bfloat16 layer against torch's and ONNX
Runtime's dynamically quantized models (int8 in every row: neither has a dynamic bfloat16 RNN) and the float32
layer they all come from, each with its max |out - out_fp32| on the same input. fastrnn/quant/compare.py builds
the contenders; this module names them for a row and measures their errors.
"""
from .quant import compare

DTYPES = {"int8": "fastrnn int8", "bf16": "fastrnn bf16"}   # a row's dtype -> its fastrnn contender
PEERS = ("torch int8", "ort int8")
FLOAT = "fastrnn f32"
COLUMNS = ("fastrnn", *PEERS, FLOAT)
TOLERANCE = 0.1     # max |out - out_fp32| on unit-scale inputs above which a quantized model counts as broken


def row_runners(dtype, layer, x, module=None, threads=None):
    """{column: callable returning out (T, B, D*H)} of one row: "fastrnn" (the `dtype` twin of the float32 fastrnn
    `layer`), FLOAT (that layer) and the PEERS that can run (given `module`, the torch layer with its weights)."""
    runs = compare.layer_contenders(layer, x, threads or 0, module)
    return {"fastrnn": runs[DTYPES[dtype]], **{name: runs[name] for name in (*PEERS, FLOAT) if name in runs}}


def errors(runners):
    """{column: max |out - out_fp32|} of every runner but FLOAT, out_fp32 being FLOAT's output."""
    reference = runners[FLOAT]()
    return {name: float(abs(run() - reference).max()) for name, run in runners.items() if name != FLOAT}


def mismatches(config_name, row_errors):
    """Messages for the contenders whose error exceeds TOLERANCE."""
    return [f"{config_name}: {name} differs from {FLOAT} by {error:.3g} (max abs)"
            for name, error in row_errors.items() if not error <= TOLERANCE]

