"""Quantized LSTMs side by side: `python -m fastrnn.quant.compare [--repeat N] [--threads N]`.

For each config (B, T, H) one torch LSTM with torch's init gives the weights of every contender: fastrnn float32,
int8 and bfloat16 (quantize_dynamic), torch's quantize_dynamic (qint8, fbgemm) and ONNX Runtime's
DynamicQuantizeLSTM (onnxruntime.quantization.quantize_dynamic of the exported model). Inputs are unit-scale
normal. Prints the median time per call over round-robin rounds (one process, every contender with the same
thread count; each sample starts after the previous contender's idle threads stop spinning, as in `fastrnn
bench`) and max |out - out_fp32| against torch's float32 LSTM. torch and onnxruntime are needed here
only. Timings mean something only on an otherwise idle machine: the 1-minute load average is printed.
"""
import argparse
import importlib.util
import logging
import os
import tempfile
import time
import warnings

import numpy as np

CONFIGS = [(1, 200, 512), (1, 100, 128), (64, 100, 512)]   # (B, T, H), LSTM, input size H


def contenders(B, T, H, threads, seed=0, mode="LSTM"):
    """({name: callable returning out}, reference out (T, B, H) of torch's float32 LSTM or GRU)."""
    import torch

    import fastrnn

    torch.manual_seed(seed)
    module = getattr(torch.nn, mode)(H, H)
    x = np.random.default_rng(seed).standard_normal((T, B, H)).astype(np.float32)
    with torch.no_grad():
        reference = module(torch.from_numpy(x))[0].numpy()
    return layer_contenders(getattr(fastrnn, mode).from_torch(module), x, threads, module), reference


def layer_contenders(layer, x, threads, module=None):
    """{name: callable returning out (T, B, D*H)} on x (T, B, I) of a float fastrnn LSTM/GRU `layer` and its int8
    and bfloat16 twins, and, given `module` (the torch.nn.LSTM/GRU with the same weights), torch's and ONNX
    Runtime's dynamically quantized models; threads: ONNX Runtime's (0: its default). "ort int8" is left out
    without onnx and onnxruntime, where the export fails, and where ONNX Runtime's quantizer has no quantized op
    for the layer (it quantizes LSTM, not GRU)."""
    import fastrnn

    int8, bf16 = fastrnn.quantize_dynamic(layer, "int8"), fastrnn.quantize_dynamic(layer, "bfloat16")
    runs = {"fastrnn f32": lambda: layer(x)[0], "fastrnn int8": lambda: int8(x)[0],
            "fastrnn bf16": lambda: bf16(x)[0]}
    if module is None:
        return runs
    runs["torch int8"] = _torch_quantized_run(module, x)
    if all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime")):
        session = _ort_quantized_session(module, x, threads)
        if session is not None:
            runs["ort int8"] = lambda: session.run(None, {"x": x})[0]
    return runs


def _torch_quantized_run(module, x):
    """A callable returning out of torch's quantize_dynamic (qint8) of the module, on x."""
    import torch

    wrapper = torch.nn.Sequential()        # quantize_dynamic swaps child modules: the layer must be one
    wrapper.add_module("rnn", module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(wrapper, {type(module)}, dtype=torch.qint8).rnn
    xt = torch.from_numpy(x)

    def run():
        with torch.no_grad():
            return quantized(xt)[0].numpy()
    return run


def _ort_quantized_session(module, x, threads):
    """An ONNX Runtime session of the module exported to ONNX and dynamically quantized (QInt8 weights), or None
    where the export fails or the quantized model holds no quantized op."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_quantize

    with tempfile.TemporaryDirectory() as folder:
        float_path, quant_path = os.path.join(folder, "rnn.onnx"), os.path.join(folder, "rnn_int8.onnx")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.from_numpy(x),), float_path, input_names=["x"], output_names=["y"],
                                  dynamo=False)
        except Exception:   # any exporter failure (unsupported op, missing package) means "n/a"
            return None
        logging.disable(logging.WARNING)   # ORT's advice to pre-process the model first
        try:
            ort_quantize(float_path, quant_path, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        if not any("Quant" in node.op_type for node in onnx.load(quant_path).graph.node):
            return None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return ort.InferenceSession(quant_path, options, providers=["CPUExecutionProvider"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="round-robin rounds (default 15)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every contender")
    args = parser.parse_args(argv)
    import torch

    import fastrnn
    from fastrnn.benchmark import measure
    from fastrnn.quant import kernels_summary
    fastrnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; fastrnn quantized kernels: {kernels_summary()}")
    for B, T, H in CONFIGS:
        runs, reference = contenders(B, T, H, args.threads)
        errors = {name: float(np.abs(run() - reference).max()) for name, run in runs.items()}
        medians = measure(runs, args.repeat)   # each sample after the previous contender's threads settle
        print(f"LSTM B{B} T{T} H{H} (load {os.getloadavg()[0]:.2f})")
        for name, median in medians.items():
            print(f"  {name:<13} {median * 1e3:9.3f} ms   max |out - out_fp32| {errors[name]:.2e}")


if __name__ == "__main__":
    main()
