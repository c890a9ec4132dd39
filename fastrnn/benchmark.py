"""The benchmark grid: fastrnn against naive NumPy, torch CPU and ONNX Runtime, float32, int8 and bfloat16.

    python -m fastrnn bench [--repeat N] [--configs NAME ...] [--chart PATH] [--threads N] [--skip SECTION ...]

Contenders, all computing the same layer with the same weights (those of `fastrnn.LSTM/GRU(..., seed=0)`):
  fastrnn  layer(x), or layer.step(x_t, state) for the streaming config, or for the training configs
           (train_*) one forward_train + backward (gradients of x and every weight; no optimizer)
  numpy    fastrnn.reference: the textbook loop over time steps with per-step matmuls (naive NumPy)
  torch    torch.nn.LSTM/GRU under torch.inference_mode(), default threads (only where torch is installed);
           for training configs forward + autograd backward of the same loss
  ort      that torch module exported to ONNX once, run by ONNX Runtime (only where onnxruntime is installed;
           n/a where the export fails, e.g. without the onnx package)
Each repeat times every contender once, in turn (round robin), with an inner loop sized to about
TARGET_SECONDS; the report gives medians, the time ratios to fastrnn, the BLAS and thread settings, and checks
that every contender's output agrees with naive NumPy within TOLERANCE (training configs: dL/dx agrees with
torch autograd's; naive NumPy and ONNX Runtime have no backward and show n/a). With matplotlib installed it also draws
the ratios as a bar chart (PNG).

The roofline (fastrnn/_bench_roofline.py): the report starts with the CPU, the vector width fastrnn's products
use, this machine's measured sgemm peak (NumPy's float32 2048^3) and the load; per config it gives fastrnn's
GFLOP/s (matrix-product FLOPs over its time), that as a share of the peak, and the best peer's time. Three more
sections (skip with --skip): "products", the large products on their own (input projections, weight and input
gradients) by fastrnn's choice, its packed kernel and OpenBLAS; "paced", streaming steps paced one per
millisecond (LSTM B1, p50 and p99 of fastrnn and ONNX Runtime); "models", the examples' whole models exported to
ONNX, fastrnn.InferenceSession against onnxruntime (fastrnn/_bench_models.py).

Reduced precision (fastrnn/_bench_quant.py; the *_int8_* and *_bf16_* configs, all left out with --skip
quantized): fastrnn.quantize_dynamic(layer, dtype="int8" or "bfloat16") of a float32 config's layer against
torch.ao.quantization.quantize_dynamic (qint8) and ONNX Runtime's quantize_dynamic (QInt8) of the exported model
(ONNX Runtime quantizes LSTM only: n/a for GRU), each where installed, and that float32 layer. Every cell gives the
time and, in brackets, max |out - out_fp32| against the float32 fastrnn layer on the same input; the ratios are
the best peer's time and the float32 layer's over fastrnn's. Neither peer has a dynamic bfloat16 RNN, so the
bf16 rows' peers are their int8 models too.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, make OpenBLAS pick slower kernels; the benchmark measures
BLAS at full speed, so `main` then re-executes itself once without them (the environment variable
FASTRNN_BENCH_REEXECUTED marks the second run). The test suites never do this.

The same grid and runners serve the pytest-benchmark suite in bench/.
"""
import argparse
import dataclasses
import functools
import importlib.util
import io
import math
import os
import re
import statistics
import sys
import textwrap
import time
import warnings

import numpy as np

from . import _bench_quant as quantrows
from . import _bench_roofline as roofline
from . import reference

CONTENDERS = ("fastrnn", "numpy", "torch", "ort")
WIDTH = 80   # the report's lines fit a classic terminal: wider tables become records (format_rows)
RATIOS = ("torch", "numpy", "ort")   # peers: their time / fastrnn's time
SECTIONS = ("quantized", "products", "paced", "models")   # optional report sections (--skip)
TARGET_SECONDS = 0.075      # one timed sample: an inner loop of about this long
SETTLE_SECONDS = 0.1        # pause before each sample: the previous contender's idle threads stop spinning
TOLERANCE = 1e-3            # max |out - naive NumPy out| <= TOLERANCE * max(1, max |naive NumPy out|)
REEXEC_MARKER = "FASTRNN_BENCH_REEXECUTED"
SLOW_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark problem: zero initial state for whole sequences; float32 weights unless dtype says."""

    name: str
    mode: str               # "LSTM" or "GRU"
    batch: int              # B
    steps: int              # T (1 for streaming)
    input_size: int         # I
    hidden_size: int        # H
    num_layers: int = 1
    bidirectional: bool = False
    streaming: bool = False  # time one step(x_t, state) call from a random LSTM state instead of a sequence
    training: bool = False   # time forward + backward of L = sum(out * d_out) instead of inference
    dtype: str = "float32"   # or a key of _bench_quant.DTYPES: the quantized twin of the float32 layer

    @property
    def float_twin(self):
        """The float32 config of the same layer and input (the config itself when it is float32)."""
        if self.dtype == "float32":
            return self
        return dataclasses.replace(self, name=self.name.replace(f"_{self.dtype}_", "_", 1), dtype="float32")


GRID = (
    Config("lstm_step_B1_H64", "LSTM", 1, 1, 64, 64, streaming=True),
    Config("lstm_B1_T100_H128", "LSTM", 1, 100, 128, 128),
    Config("gru_B1_T100_H128", "GRU", 1, 100, 128, 128),
    Config("lstm_B1_T200_H512", "LSTM", 1, 200, 512, 512),
    Config("lstm_B16_T50_H256", "LSTM", 16, 50, 256, 256),
    Config("lstm_B64_T100_H512", "LSTM", 64, 100, 512, 512),
    Config("gru_B64_T100_H512", "GRU", 64, 100, 512, 512),
    Config("bilstm2_B32_T100_I128_H256", "LSTM", 32, 100, 128, 256, num_layers=2, bidirectional=True),
    Config("train_lstm_B1_T200_H128", "LSTM", 1, 200, 128, 128, training=True),
    Config("train_gru_B1_T200_H128", "GRU", 1, 200, 128, 128, training=True),
    Config("train_lstm_B32_T50_H256", "LSTM", 32, 50, 256, 256, training=True),
    Config("train_gru_B32_T50_H256", "GRU", 32, 50, 256, 256, training=True),
    Config("train_lstm_B64_T100_H512", "LSTM", 64, 100, 512, 512, training=True),
    Config("train_gru_B64_T100_H512", "GRU", 64, 100, 512, 512, training=True),
)
QUANT_GRID = tuple(Config(f"{mode.lower()}_{dtype}_B{B}_T{T}_H{H}", mode, B, T, H, H, dtype=dtype)
                   for mode, B, T, H in (("LSTM", 1, 200, 512), ("LSTM", 1, 100, 128), ("LSTM", 64, 100, 512),
                                         ("GRU", 1, 100, 128))
                   for dtype in quantrows.DTYPES)
CONFIGS = {config.name: config for config in GRID + QUANT_GRID}


# ------------------------------------------------------------------------------------------ problems
@functools.lru_cache(maxsize=None)
def make_case(config):
    """(layer, x, hx) of a config: the fastrnn layer (seed 0), x (T, B, I), and hx = (h0, c0) each (1, B, H)
    for streaming (random, so the step starts mid-sequence), else None (zeros)."""
    import fastrnn
    layer = getattr(fastrnn, config.mode)(config.input_size, config.hidden_size, config.num_layers,
                                          bidirectional=config.bidirectional, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((config.steps, config.batch, config.input_size), dtype=np.float32)
    hx = None
    if config.streaming:
        hx = tuple(0.5 * rng.standard_normal((1, config.batch, config.hidden_size), dtype=np.float32)
                   for _ in range(2))
    return layer, x, hx


def plan_note(config):
    layer, _, _ = make_case(config)
    kind = "step" if config.streaming else "training" if config.training else "forward"
    return roofline.plan_note(layer, 1 if config.streaming else config.steps, config.batch, kind)


@functools.lru_cache(maxsize=None)
def output_gradient(config):
    """d_out = dL/dout (T, B, D*H) of the training configs' loss L = sum(out * d_out)."""
    D = 2 if config.bidirectional else 1
    shape = (config.steps, config.batch, D * config.hidden_size)
    return np.random.default_rng(2).standard_normal(shape, dtype=np.float32)


@functools.lru_cache(maxsize=None)
def expected_output(config):
    """The reference result: naive NumPy's y_t (B, H) for streaming, else its out (T, B, D*H); for training
    configs torch autograd's dL/dx (T, B, I), or None without torch (the check is then skipped)."""
    if config.training:
        run = torch_runner(config)
        return None if run is None else run()
    return numpy_runner(config)()


def max_error(config, result):
    """max |result - naive NumPy| / max(1, max |naive NumPy|), the quantity TOLERANCE bounds."""
    expected = expected_output(config)
    if expected is None:
        return 0.0
    result = np.asarray(result)
    if result.shape != expected.shape:
        return math.inf
    return float(np.abs(result - expected).max() / max(1.0, float(np.abs(expected).max())))


def check_result(config, contender, result):
    """Raise AssertionError unless the contender's result agrees with naive NumPy within TOLERANCE."""
    error = max_error(config, result)
    assert error <= TOLERANCE, f"{config.name}: {contender} differs from naive NumPy by {error:.3g} (relative)"


# ---------------------------------------------------------------------------------------------- runners
# Each *_runner(config, threads) returns a callable of no arguments giving the output (as expected_output's),
# or None where that contender is not installed or cannot run the config.
def fastrnn_runner(config, threads=None):
    layer, x, hx = make_case(config)
    if config.streaming:
        x_t = x[0]                                                          # (B, I)
        return lambda: layer.step(x_t, hx)[0]
    if config.training:
        d_out = output_gradient(config)

        def train_step():
            _, _, tape = layer.forward_train(x)
            return layer.backward(tape, d_out)[0]                           # dL/dx (T, B, I)
        return train_step
    return lambda: layer(x)[0]


def numpy_runner(config, threads=None):
    if config.training:
        return None
    layer, x, hx = make_case(config)
    weights = layer.state_dict()
    if config.streaming:
        w_ih, w_hh, b_ih, b_hh = (weights[name + "_l0"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        x_t, h, c = x[0], hx[0][0], hx[1][0]                                # (B, I), (B, H), (B, H)
        return lambda: reference.lstm_cell(x_t, h, c, w_ih, w_hh, b_ih, b_hh)[0]
    return lambda: reference.rnn_forward(config.mode, x, weights, hidden_size=config.hidden_size,
                                         num_layers=config.num_layers, bidirectional=config.bidirectional)[0]


def torch_runner(config, threads=None):
    if not _installed("torch"):
        return None
    import torch
    module = torch_module(config)
    _, x, hx = make_case(config)
    tx = torch.from_numpy(x)
    thx = None if hx is None else tuple(map(torch.from_numpy, hx))
    if config.training:
        d_out = torch.from_numpy(output_gradient(config))

        def train_step():
            x_leaf = tx.clone().requires_grad_()
            module(x_leaf)[0].backward(d_out)
            return x_leaf.grad.numpy()
        return train_step

    def run():
        with torch.inference_mode():
            return module(tx, thx)[0].numpy()
    return _first_step(run) if config.streaming else run


def ort_runner(config, threads=None):
    if config.training or not _installed("onnxruntime") or onnx_model(config) is None:
        return None
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0                             # 0: ORT's default
    session = onnxruntime.InferenceSession(onnx_model(config), options, providers=["CPUExecutionProvider"])
    _, x, hx = make_case(config)
    feed = {"x": x} if hx is None else {"x": x, "h0": hx[0], "c0": hx[1]}

    def run():
        return session.run(["out"], feed)[0]
    return _first_step(run) if config.streaming else run


def runner(contender, config, threads=None):
    """The timed callable of a contender for a config, or None where it cannot run."""
    return _RUNNERS[contender](config, threads)


_RUNNERS = {"fastrnn": fastrnn_runner, "numpy": numpy_runner, "torch": torch_runner, "ort": ort_runner}


def quant_runners(config, threads=None):
    """{column of _bench_quant.COLUMNS: callable returning out} of a reduced-precision config, built on its float
    twin's layer, input and (where torch is installed) torch module."""
    twin = config.float_twin
    layer, x, _ = make_case(twin)
    module = torch_module(twin) if _installed("torch") else None
    return quantrows.row_runners(config.dtype, layer, x, module, threads)


def _first_step(run):
    """A sequence runner of one step (out (1, B, H)) as a step runner (y_t (B, H))."""
    return lambda: run()[0]


def _installed(module):
    return importlib.util.find_spec(module) is not None


@functools.lru_cache(maxsize=None)
def torch_module(config):
    """torch.nn.LSTM/GRU with the fastrnn layer's weights (via its torch-named state_dict), in eval mode."""
    import torch
    layer, _, _ = make_case(config)
    module = getattr(torch.nn, config.mode)(config.input_size, config.hidden_size, config.num_layers,
                                            bidirectional=config.bidirectional)
    module.load_state_dict({name: torch.from_numpy(w) for name, w in layer.state_dict().items()})
    return module.eval()


@functools.lru_cache(maxsize=None)
def onnx_model(config):
    """The torch module exported to ONNX (bytes; inputs x, and h0, c0 for streaming; first output out), once
    per config; None where the export fails."""
    if not _installed("torch"):
        return None
    import torch
    _, x, hx = make_case(config)
    args = (torch.from_numpy(x),) if hx is None else (torch.from_numpy(x), tuple(map(torch.from_numpy, hx)))
    names = ["x"] if hx is None else ["x", "h0", "c0"]
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(torch_module(config), args, buffer, input_names=names, output_names=["out"],
                              dynamo=False)
    except Exception:   # any exporter failure (missing onnx package, unsupported op) means "n/a"
        return None
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- timing
def time_call(fn, number):
    """Seconds per call of fn, over an inner loop of `number` calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calibrate(fn):
    """The inner-loop size giving samples of about TARGET_SECONDS (after one warm-up call)."""
    fn()
    number = 1
    while (elapsed := number * time_call(fn, number)) < TARGET_SECONDS / 5:
        number *= 10
    return max(1, round(number * TARGET_SECONDS / elapsed))


def measure(runners, repeat):
    """{contender: median seconds per call}: each of `repeat` rounds times every contender once, in turn.

    Thread pools keep their idle threads spinning for a while after a call (OpenMP in torch, ONNX Runtime's
    pool, OpenBLAS, fastrnn's own for 50 us); in one process that steals the cores of whoever runs next. Each
    sample therefore starts after SETTLE_SECONDS, so every contender is timed as it runs on its own.
    """
    numbers = {name: calibrate(fn) for name, fn in runners.items()}
    samples = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            time.sleep(SETTLE_SECONDS)
            samples[name].append(time_call(fn, numbers[name]))
    return {name: statistics.median(times) for name, times in samples.items()}


# ---------------------------------------------------------------------------------------------- report
def environment_info():
    """BLAS libraries and thread counts of the contenders (the report's header, pytest-benchmark's extra_info)."""
    import fastrnn
    from fastrnn import _kernels, quant
    from fastrnn._blas import blas_config
    cpu = _kernels.cpu_info()
    isa, reason = _kernels.isa()
    info = {"cpu": f"{cpu['brand']} (family {cpu['family']}, model {cpu['model']})",
            "fastrnn_isa": f"{isa} (by {reason}; supported: "
                           f"{', '.join(n for n in _kernels.isa_names() if _kernels.isa_supported(n))})",
            "cpus": os.cpu_count(), "fastrnn_threads": fastrnn.get_num_threads(), "fastrnn_blas": blas_config(),
            "numpy_blas": _numpy_blas(),
            "numpy_threads": os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS default"),
            "load_average_1min": round(os.getloadavg()[0], 2),   # other processes on the cores skew timings
            "fastrnn_quantized_kernels": quant.kernels_summary()}
    if _installed("torch"):
        import torch
        blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        info["torch_blas"] = f"{blas.group(1) if blas else 'unknown'} ({torch.backends.cpu.get_cpu_capability()})"
        info["torch_threads"] = torch.get_num_threads()
    if _installed("onnxruntime"):
        import onnxruntime
        info["onnxruntime"] = f"{onnxruntime.__version__} (MLAS)"
    return info


def _numpy_blas():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):   # numpy < 1.26 has no mode="dicts"
        return "unknown"
    return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()


def format_seconds(seconds):
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-6:.3g} us"


def format_error(error):
    """A max |out - out_fp32| in 2 significant digits, short: 1.4e-2."""
    mantissa, exponent = f"{error:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def ratios(times):
    """{contender: its time / fastrnn's time} for every other contender that ran."""
    return {name: times[name] / times["fastrnn"] for name in RATIOS if times.get(name) is not None}


def best_peer(times):
    """(name, seconds) of the fastest contender other than fastrnn, or None when none ran."""
    peers = [(times[name], name) for name in RATIOS if times.get(name) is not None]
    return None if not peers else min(peers)[::-1]


def format_rows(header, rows):
    """A text table: the first column left-aligned, the others right-aligned, a rule under the header. A table
    wider than WIDTH columns becomes records instead: each row's first cell on a line, then "header: cell"
    items wrapped within WIDTH (separated by three spaces)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    if sum(widths) + 3 * (len(widths) - 1) > WIDTH:
        items = ("   ".join(f"{h}: {c}".replace(" ", "\xa0") for h, c in zip(header[1:], row[1:]))
                 for row in rows)   # (no-break spaces inside an item: wrapped only between items)
        return "\n".join(f"{row[0]}\n" + textwrap.fill(text, WIDTH, initial_indent="  ", subsequent_indent="  ",
                                                      break_long_words=False).replace("\xa0", " ")
                         for row, text in zip(rows, items))
    lines = [" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def say(text):
    """Print text with each of its lines wrapped within WIDTH columns (continuations indented)."""
    print("\n".join(textwrap.fill(line, WIDTH, subsequent_indent="  ", break_long_words=False,
                                   break_on_hyphens=False) if line.strip() else line for line in text.split("\n")))


def format_table(results, peak=None):
    """results {config name: {contender: seconds or None}} -> the report table (text); peak: the sgemm peak
    in GFLOP/s for the % column (None: n/a)."""
    header = ["config", *CONTENDERS, "GFLOP/s", "% peak", "best peer", "peer/fastrnn"]
    rows = []
    for name, times in results.items():
        gflops = roofline.config_flops(CONFIGS[name]) / times["fastrnn"] / 1e9 if times.get("fastrnn") else None
        peer = best_peer(times)
        rows.append([name, *(format_seconds(times.get(c)) for c in CONTENDERS),
                     "n/a" if gflops is None else f"{gflops:.3g}",
                     roofline.share_of_peak(gflops, peak),
                     "n/a" if peer is None else f"{peer[0]} {format_seconds(peer[1])}",
                     "n/a" if peer is None or not times.get("fastrnn") else f"{peer[1] / times['fastrnn']:.2f}x"])
    return format_rows(header, rows)


def format_quant_table(rows):
    """rows {config name: ({column: seconds or None}, {column: max |out - out_fp32|})} -> the reduced-precision
    table (text): per contender its time and (error); the best peer's time and the float32 layer's over fastrnn's."""
    header = ["config", "fastrnn", *quantrows.PEERS, quantrows.FLOAT, "peer/fastrnn", "f32/fastrnn"]
    lines = []
    for name, (times, errors) in rows.items():
        ours, peers = times["fastrnn"], [times[peer] for peer in quantrows.PEERS if times.get(peer) is not None]
        cells = [format_seconds(times.get(column)) + (f" ({format_error(errors[column])})" if column in errors
                                                      else "") for column in quantrows.COLUMNS]
        lines.append([name, *cells, f"{min(peers) / ours:.2f}x" if peers else "n/a",
                      f"{times[quantrows.FLOAT] / ours:.2f}x"])
    return format_rows(header, lines)


def format_products(results, peak):
    """The large-products section: GFLOP/s of fastrnn's choice, its packed kernel and OpenBLAS per product."""
    header = ["product (float32)", "M x N x K", "op", *(f"{e} GFLOP/s" for e in roofline.ENGINES), "% peak",
              "blas/own"]
    rows = []
    for product in roofline.PRODUCTS:
        times = results[product.name]
        rate = {engine: product.flops / times[engine] / 1e9 for engine in roofline.ENGINES}
        rows.append([product.name, f"{product.M} x {product.N} x {product.K}",
                     ("T" if product.trans_a else "N") + ("T" if product.trans_b else "N"),
                     *(f"{rate[engine]:.0f}" for engine in roofline.ENGINES),
                     roofline.share_of_peak(rate["auto"], peak),
                     f"{times['blas'] / times['own']:.2f}x"])
    return format_rows(header, rows)


def paced_config(hidden):
    """The streaming config of the paced rows: LSTM B1, input size = hidden size."""
    return Config(f"lstm_step_B1_H{hidden}", "LSTM", 1, 1, hidden, hidden, streaming=True)


def run_paced(threads=None):
    """{H: {contender: (p50, p99) seconds}} at PACED_HIDDEN for fastrnn (default, and with set_low_latency(True),
    whose workers spin between the calls) and ONNX Runtime (where installed). Each stepper sets the low-latency
    mode it runs with, so the spinning workers never share the cores with another contender's block."""
    from ._blas import set_low_latency
    results = {}
    for hidden in roofline.PACED_HIDDEN:
        config = paced_config(hidden)
        plain = {name: runner(name, config, threads) for name in ("fastrnn", "ort")}
        steppers = {}
        for name, low_latency in (("fastrnn", False), ("fastrnn low latency", True), ("ort", False)):
            step = plain["ort" if name == "ort" else "fastrnn"]
            if step is not None:
                steppers[name] = functools.partial(_paced_step, step, low_latency, set_low_latency)
        try:
            results[hidden] = roofline.paced_latencies(steppers)
        finally:
            set_low_latency(False)
    return results


def _paced_step(step, low_latency, set_low_latency):
    set_low_latency(low_latency)
    step()


def format_paced(results):
    header = ["paced LSTM B1", "p50", "p99", "ll p50", "p99", "ort p50", "p99", "ort/best"]
    rows = []
    for hidden, times in results.items():
        ours, fast, ort = times.get("fastrnn"), times.get("fastrnn low latency"), times.get("ort")
        best = min(ours[0], fast[0]) if fast is not None else ours[0]
        rows.append([f"H{hidden}", *(format_seconds(v) for v in ours),
                     *(("n/a", "n/a") if fast is None else (format_seconds(v) for v in fast)),
                     *(("n/a", "n/a") if ort is None else (format_seconds(v) for v in ort)),
                     "n/a" if ort is None else f"{ort[0] / best:.2f}x"])
    legend = ("one step per ms; fastrnn as by default, and with set_low_latency(True)\n"
              "(ll: workers spin between steps); ort/best: ONNX Runtime's p50 over the better")
    return format_rows(header, rows) + "\n" + legend


def chart_ratios(results, quant_rows):
    """{config: {series: time / fastrnn's time}} of the float32 rows (torch, numpy, ort) and the reduced-precision
    rows (their int8 peers as torch and ort, and the float32 fastrnn layer as "fastrnn f32")."""
    series = {name: ratios(times) for name, times in results.items()}
    for name, (times, _) in quant_rows.items():
        fast = times.get("fastrnn")
        series[name] = {label: times[column] / fast for column, label in
                        (("torch int8", "torch"), ("ort int8", "ort"), (quantrows.FLOAT, "fastrnn f32"))
                        if fast and times.get(column)}
    return series


def draw_chart(results, path, quant_rows=None):
    """A grouped bar chart (log scale) of each contender's time over fastrnn's, per config (float32 and
    reduced-precision rows), saved as PNG."""
    from matplotlib.figure import Figure
    series = chart_ratios(results, quant_rows or {})
    names = list(series)
    labels = [*RATIOS, "fastrnn f32"] if quant_rows else list(RATIOS)
    figure = Figure(figsize=(max(6, 1.3 * len(names)), 4.5), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(labels)
    for k, contender in enumerate(labels):
        xs = [i + (k - (len(labels) - 1) / 2) * width for i in range(len(names))]
        heights = [series[name].get(contender, 0) for name in names]
        axes.bar(xs, heights, width, label=f"{contender} / fastrnn")
    axes.axhline(1, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("time / fastrnn time (higher: fastrnn faster)")
    axes.set_title("fastrnn vs naive NumPy, torch CPU and ONNX Runtime (*_int8_*, *_bf16_*: their int8 models)")
    axes.legend()
    figure.savefig(path, dpi=120)


def run_config(config, repeat, threads=None):
    """({contender: median seconds or None}, [mismatch messages]) of one config; results checked after timing."""
    runners = {name: runner(name, config, threads) for name in CONTENDERS}
    available = {name: fn for name, fn in runners.items() if fn is not None}
    times = dict.fromkeys(CONTENDERS)
    times.update(measure(available, repeat))
    mismatches = []
    for name, fn in available.items():
        try:
            check_result(config, name, fn())
        except AssertionError as error:
            mismatches.append(str(error))
    return times, mismatches


def run_quant_config(config, repeat, threads=None):
    """(({column: median seconds or None}, {column: max |out - out_fp32|}), [mismatch messages]) of a
    reduced-precision config; errors measured after timing."""
    runners = quant_runners(config, threads)
    times = dict.fromkeys(quantrows.COLUMNS)
    times.update(measure(runners, repeat))
    errors = quantrows.errors(runners)
    return (times, errors), quantrows.mismatches(config.name, errors)


# --threads above this is refused up front (torch and ONNX Runtime take a C int; no machine has more cores)
MAX_THREADS_OPTION = 4096


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="fastrnn bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed rounds per config (median reported)")
    parser.add_argument("--configs", nargs="+", default=None, metavar="NAME",
                        help=f"configs to run, space- or comma-separated (default: all, and the products and "
                             f"paced sections; naming configs runs only them): float32 "
                             f"{', '.join(c.name for c in GRID)}; "
                             f"reduced precision (fastrnn int8/bf16 vs torch's and ONNX Runtime's int8 models, "
                             f"with max |out - out_fp32|) {', '.join(c.name for c in QUANT_GRID)}")
    parser.add_argument("--chart", default=None, help="PNG path for the ratio chart (default: fastrnn-bench.png "
                                                      "when matplotlib is installed)")
    parser.add_argument("--threads", type=int, default=None, help="threads of fastrnn, torch and ONNX Runtime "
                                                                  "(default: each library's own)")
    parser.add_argument("--skip", nargs="+", choices=SECTIONS, default=[], metavar="SECTION",
                        help=f"report sections to leave out: {', '.join(SECTIONS)} (quantized: every *_int8_* "
                             "and *_bf16_* config)")
    args = parser.parse_args(argv)
    args.chosen = args.configs is not None   # only these configs: the products and paced sections are left out
    args.configs = list(CONFIGS) if args.configs is None else \
        list(dict.fromkeys(name for value in args.configs for name in value.split(",") if name))
    unknown = [name for name in args.configs if name not in CONFIGS]
    if unknown or not args.configs:
        parser.error(f"--configs: unknown config {', '.join(map(repr, unknown)) or '(none given)'}; choose from "
                     f"{', '.join(CONFIGS)}")
    if args.chosen:
        args.skip = sorted(set(args.skip) | {"products", "paced"})
    if args.repeat < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeat and --threads must be >= 1")
    if args.threads is not None and args.threads > MAX_THREADS_OPTION:
        parser.error(f"--threads must be at most {MAX_THREADS_OPTION}")
    if args.chart and not os.path.isdir(os.path.dirname(os.path.abspath(args.chart))):
        parser.error(f"--chart {args.chart}: its folder does not exist")
    if args.chart and os.path.exists(args.chart) and not os.path.isfile(args.chart):   # checked before the run
        parser.error(f"--chart {args.chart}: exists and is not a regular file (a directory, pipe or device)")
    return args


def reexec_command(argv, environ):
    """(executable, args, env) re-running this benchmark on argv without the slow-BLAS variables, or None
    when environ has none of them or is already the re-executed run."""
    if environ.get(REEXEC_MARKER) or not any(name in environ for name in SLOW_BLAS_VARIABLES):
        return None
    env = {name: value for name, value in environ.items() if name not in SLOW_BLAS_VARIABLES}
    env[REEXEC_MARKER] = "1"
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # this very fastrnn again
    code = (f"import sys; sys.path.insert(0, {package_parent!r}); from fastrnn.benchmark import main; "
            "sys.exit(main(sys.argv[1:]))")
    return sys.executable, [sys.executable, "-c", code, *argv], env


def main(argv=None):
    """Run the benchmark report (see the module docstring); returns 0, or 1 when results disagree."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = reexec_command(argv, os.environ)
    if command is not None:
        print(f"fastrnn bench: re-running without {' and '.join(SLOW_BLAS_VARIABLES)} so that BLAS runs at "
              "full speed", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os.execve(*command)
    if args.threads is not None:
        _set_threads(args.threads)
    for key, value in environment_info().items():
        say(f"{key}: {value}")
    peak = roofline.sgemm_peak()
    say(f"sgemm peak: {peak:.0f} GFLOP/s (NumPy float32 {roofline.PEAK_SIZE}^3, default threads, best round)")
    if os.environ.get(REEXEC_MARKER):
        say(f"openblas: {' and '.join(SLOW_BLAS_VARIABLES)} unset for this run, so that BLAS runs at full speed")
    say(roofline.load_note())
    quantized = "quantized" not in args.skip
    results, quant_rows, mismatches = {}, {}, []
    for name in args.configs:
        config = CONFIGS[name]
        if config.dtype == "float32":
            results[name], config_mismatches = run_config(config, args.repeat, args.threads)
        elif quantized:
            quant_rows[name], config_mismatches = run_quant_config(config, args.repeat, args.threads)
        else:
            continue
        mismatches += config_mismatches
        print(f"  {name}: done", file=sys.stderr, flush=True)
    if results:   # the peak again, after the configs: the better of the two is the ceiling
        peak_after = roofline.sgemm_peak()
        if peak_after > peak:
            say(f"sgemm peak measured again after the configs: {peak_after:.0f} GFLOP/s (the better counts)")
            peak = peak_after
        say(f"\nmedian time per call over {args.repeat} round-robin rounds; GFLOP/s: matrix-product FLOPs / "
            "fastrnn's time; % peak: of the sgemm peak above; peer/fastrnn: the best peer's time / fastrnn's")
        table = format_table(results, peak)
        print(table + (f"\n{roofline.OVER_PEAK_NOTE}" if "*" in table else ""))
        say("how fastrnn ran each config (csrc/plan.c, first layer: per-step product, threads):")
        for name in results:
            print(f"  {name}: {plan_note(CONFIGS[name])}")
    if quant_rows:
        say(f"\nreduced precision, median time per call over {args.repeat} round-robin rounds and (max |out - "
            f"out_fp32|) against the {quantrows.FLOAT} layer on the same input; the peers are int8 in every row; "
            "peer/fastrnn: the best peer's time / fastrnn's, f32/fastrnn: the float32 layer's time / fastrnn's")
        print(format_quant_table(quant_rows))
    if "products" not in args.skip:
        products, products_peak = roofline.time_products(args.repeat)
        say(f"\nlarge products, fastrnn's threads (auto: the layers' choice, own: packed kernel, blas: OpenBLAS); "
            f"% of {products_peak:.0f} GFLOP/s, the sgemm peak timed in the same rounds")
        table = format_products(products, products_peak)
        print(table + (f"\n{roofline.OVER_PEAK_NOTE}" if "*" in table else ""))
    if "paced" not in args.skip:
        print(f"\nstreaming steps paced one per {roofline.PACED_PERIOD * 1e3:g} ms, "
              f"{roofline.PACED_STEPS} each, interleaved")
        print(format_paced(run_paced(args.threads)))
    if "models" not in args.skip:
        mismatches += _print_models(args)
    say(roofline.load_note())
    if (results or quant_rows) and not _installed("matplotlib"):
        print("chart: n/a (pip install matplotlib)")
    elif results or quant_rows:     # the chart draws both tables
        chart = args.chart or "fastrnn-bench.png"
        draw_chart(results, chart, quant_rows)
        print(f"chart: {chart}")
    for message in mismatches:
        say(f"MISMATCH {message}")
    say(f"results {'DISAGREE' if mismatches else 'agree'}: every contender vs naive NumPy, tolerance {TOLERANCE}"
          + (f"; reduced precision vs {quantrows.FLOAT}, max abs {quantrows.TOLERANCE}" if quant_rows else ""))
    return 1 if mismatches else 0


def _print_models(args):
    """The "whole models" section (fastrnn/_bench_models.py); returns its mismatches."""
    from . import _bench_models
    rows, mismatches = _bench_models.run(args.repeat, args.threads)
    say(f"\nwhole models (the examples' torch models exported to ONNX): fastrnn.InferenceSession vs onnxruntime, "
        f"median of {args.repeat} interleaved rounds; executor: fastrnn's per-call overhead at B1 T1")
    print(_bench_models.format_rows(rows) if rows is not None else mismatches)
    return mismatches if rows is not None else []


def _set_threads(n):
    import fastrnn
    fastrnn.set_num_threads(n)
    if _installed("torch"):
        import torch
        torch.set_num_threads(n)
