"""Quantized LSTMs side by side: `python -m fastrnn.quant.compare [--repeat N] [--threads N]`.

For each config (B, T, H) one torch LSTM with torch's init gives the weights of every contender: fastrnn float32,
int8 and bfloat16 (quantize_dynamic), torch's quantize_dynamic (qint8, fbgemm) and ONNX Runtime's
DynamicQuantizeLSTM (onnxruntime.quantization.quantize_dynamic of the exported model). Inputs are unit-scale
normal. Prints the median time per call over round-robin rounds (one process, every contender with the same
thread count) and max |out - out_fp32| against torch's float32 LSTM. torch and onnxruntime are needed here
only. Timings mean something only on an otherwise idle machine: the 1-minute load average is printed.
"""
import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings

import numpy as np

CONFIGS = [(1, 200, 512), (1, 100, 128), (64, 100, 512)]   # (B, T, H), LSTM, input size H


def contenders(B, T, H, threads, seed=0):
    """({name: callable returning out}, reference out (T, B, H) of torch's float32 LSTM)."""
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_quantize

    import fastrnn

    torch.manual_seed(seed)
    module = torch.nn.LSTM(H, H)
    wrapper = torch.nn.Sequential()
    wrapper.add_module("rnn", module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_q = torch.ao.quantization.quantize_dynamic(wrapper, {torch.nn.LSTM}, dtype=torch.qint8).rnn
    x = np.random.default_rng(seed).standard_normal((T, B, H)).astype(np.float32)
    xt = torch.from_numpy(x)
    folder = tempfile.mkdtemp()
    float_path, quant_path = os.path.join(folder, "lstm.onnx"), os.path.join(folder, "lstm_int8.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (xt,), float_path, input_names=["x"], output_names=["y"], dynamo=False)
    logging.disable(logging.WARNING)   # ORT's advice to pre-process the model first
    ort_quantize(float_path, quant_path, weight_type=QuantType.QInt8)
    logging.disable(logging.NOTSET)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(quant_path, options, providers=["CPUExecutionProvider"])
    layer = fastrnn.LSTM.from_torch(module)
    int8, bf16 = fastrnn.quantize_dynamic(layer, "int8"), fastrnn.quantize_dynamic(layer, "bfloat16")
    with torch.no_grad():
        reference = module(xt)[0].numpy()

    def torch_run():
        with torch.no_grad():
            return torch_q(xt)[0].numpy()

    runs = {"fastrnn f32": lambda: layer(x)[0], "fastrnn int8": lambda: int8(x)[0], "fastrnn bf16": lambda: bf16(x)[0],
            "torch int8": torch_run, "ort int8": lambda: session.run(None, {"x": x})[0]}
    return runs, reference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="round-robin rounds (default 15)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every contender")
    args = parser.parse_args(argv)
    import torch

    import fastrnn
    from fastrnn.quant import kernels_summary
    fastrnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; fastrnn quantized kernels: {kernels_summary()}")
    for B, T, H in CONFIGS:
        runs, reference = contenders(B, T, H, args.threads)
        errors = {name: float(np.abs(run() - reference).max()) for name, run in runs.items()}
        samples = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
        print(f"LSTM B{B} T{T} H{H} (load {os.getloadavg()[0]:.2f})")
        for name, times in samples.items():
            print(f"  {name:<13} {statistics.median(times) * 1e3:9.3f} ms   max |out - out_fp32| {errors[name]:.2e}")


if __name__ == "__main__":
    main()
