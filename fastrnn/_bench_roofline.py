"""The roofline parts of `fastrnn bench`: this machine's sgemm peak, the FLOPs of a config, how fastrnn runs a
config (the plan), the large products on their own (fastrnn's packed kernel against OpenBLAS), and streaming steps
paced by the caller.

All timings are interleaved (each round times every contender once, in turn) and reported as medians, so a
load that comes and goes hits every contender alike; the report states the load average too.
"""
import dataclasses
import os
import statistics
import time

import numpy as np

PEAK_SIZE = 2048            # the sgemm that defines the peak: float32 [2048, 2048] @ [2048, 2048]
PEAK_ROUNDS = 7
PACED_PERIOD = 1e-3         # one step() per millisecond, the CPU idle in between
PACED_STEPS = 300           # timed steps per contender (interleaved in blocks of PACED_BLOCK)
PACED_BLOCK = 50
PACED_HIDDEN = (64, 256, 512)


def sgemm_peak():
    """GFLOP/s of NumPy's float32 [2048, 2048] @ [2048, 2048] (its BLAS, its default threads), the best of
    PEAK_ROUNDS after a warm-up: the ceiling every config is compared with. The best round, not the median: a
    round slowed by another process's work would lower the ceiling, and a share of it could then pass 100%."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    b = rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    a @ b
    times = []
    for _ in range(PEAK_ROUNDS):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * PEAK_SIZE ** 3 / min(times) / 1e9


def share_of_peak(gflops, peak):
    """"87%" of the peak; a rate above the measured peak (the peak was timed under heavier load than the work)
    is never printed as an impossible share: ">100%*", which the report's note explains."""
    if gflops is None or not peak:
        return "n/a"
    share = 100 * gflops / peak
    return ">100%*" if share > 100.5 else f"{min(share, 100):.0f}%"


OVER_PEAK_NOTE = ("*: faster than the sgemm peak measured in this run: the load changed while it ran\n"
                  "   (rerun on an idle machine)")


def config_flops(config):
    """Multiply-add FLOPs of one call of a benchmark config (the matrix products; point-wise work is left out).

    Per layer and direction: T B G (I_l + H) multiply-adds, G = 4H (LSTM) or 3H (GRU), I_l = I for the first
    layer, D H above. Training (forward + backward) does each product three times: forward, the input and
    hidden gradients, the weight gradients.
    """
    D = 2 if config.bidirectional else 1
    G = (4 if config.mode == "LSTM" else 3) * config.hidden_size
    total = 0
    for layer in range(config.num_layers):
        inputs = config.input_size if layer == 0 else D * config.hidden_size
        total += D * config.steps * config.batch * G * (inputs + config.hidden_size)
    return 2 * total * (3 if config.training else 1)


@dataclasses.dataclass(frozen=True)
class Product:
    """One large product of a config: C [M, N] = op(A) op(B), as fr_matmul gets it from the time loops."""

    name: str
    trans_a: bool
    trans_b: bool
    M: int
    N: int
    K: int

    @property
    def flops(self):
        return 2 * self.M * self.N * self.K


# Input projections x [T*B, I] W_ih^T, and the weight and input gradients of the training configs
# (dW_ih = dG^T x over T*B rows, dx = dG W_ih), float32.
PRODUCTS = (
    Product("proj lstm_B64_T100_H512", False, True, 6400, 2048, 512),
    Product("proj gru_B64_T100_H512", False, True, 6400, 1536, 512),
    Product("proj bilstm2 layer 0", False, True, 3200, 1024, 128),
    Product("proj bilstm2 layer 1", False, True, 3200, 1024, 512),
    Product("dW train_lstm_B32_T50_H256", True, False, 1024, 256, 1600),
    Product("dW train_lstm_B64_T100_H512", True, False, 2048, 512, 6400),
    Product("dW train_gru_B64_T100_H512", True, False, 1536, 512, 6400),
    Product("dx train_lstm_B64_T100_H512", False, False, 6400, 512, 2048),
)
ENGINES = ("auto", "own", "blas")


def time_products(repeat):
    """({product name: {engine: median seconds}}, peak GFLOP/s): fastrnn's choice ("auto"), its packed kernel
    ("own") and single-threaded OpenBLAS per part ("blas"), each split over fastrnn's threads; every round
    times NumPy's peak sgemm once and then every product and engine, so the peak shares the products' load."""
    from . import _kernels
    rng = np.random.default_rng(0)
    operands = {}
    for product in PRODUCTS:
        A = rng.standard_normal((product.K, product.M) if product.trans_a else (product.M, product.K),
                                dtype=np.float32)
        B = rng.standard_normal((product.N, product.K) if product.trans_b else (product.K, product.N),
                                dtype=np.float32)
        operands[product] = (A, B, np.empty((product.M, product.N), np.float32))
    peak_a, peak_b = (rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32) for _ in range(2))
    samples = {(product.name, engine): [] for product in PRODUCTS for engine in ENGINES}
    peak_times = []
    for round_ in range(repeat + 1):           # round 0 warms up (scratch, pool, caches)
        start = time.perf_counter()
        peak_a @ peak_b
        peak_times.append(time.perf_counter() - start)
        for product, (A, B, C) in operands.items():
            for engine in ENGINES:
                start = time.perf_counter()
                _kernels.matmul(A, B, C, product.trans_a, product.trans_b, 0.0, engine)
                samples[product.name, engine].append(time.perf_counter() - start)
    medians = {}
    for (name, engine), times in samples.items():
        medians.setdefault(name, {})[engine] = statistics.median(times[1:])
    return medians, 2 * PEAK_SIZE ** 3 / min(peak_times[1:]) / 1e9   # the best round, as sgemm_peak


def paced_latencies(steppers, steps=PACED_STEPS, period=PACED_PERIOD):
    """{name: (p50, p99) seconds} of single calls of each stepper, one call per `period`, the thread asleep
    in between (as a streaming client that gets one frame per period). Contenders alternate in blocks of
    PACED_BLOCK steps."""
    samples = {name: [] for name in steppers}
    for name, step in steppers.items():      # warm-up: first calls allocate and start threads
        for _ in range(5):
            step()
    blocks = max(1, steps // PACED_BLOCK)
    for _ in range(blocks):
        for name, step in steppers.items():
            deadline = time.perf_counter()
            for _ in range(PACED_BLOCK):
                deadline += period
                pause = deadline - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                start = time.perf_counter()
                step()
                samples[name].append(time.perf_counter() - start)
    return {name: (float(np.percentile(times, 50)), float(np.percentile(times, 99)))
            for name, times in samples.items()}


def plan_note(layer, steps, batch, kind):
    """How csrc/plan.c runs the first layer of `layer` for `steps` steps of `batch` rows ("forward", "training" or
    "step"): the per-step product, and how the call uses the threads."""
    from . import _kernels
    cell = layer._current_cells()[0]
    plan = _kernels.plan(cell, steps, batch, kind)
    if layer.bidirectional and kind != "step" and _kernels.directions_at_once(cell, steps, batch):
        threads = "both directions at once"
    elif plan["row_parts"] > 1:
        threads = f"{plan['row_parts']} row slices, one thread each"
    elif plan["threads"] > 1 and plan["product"] == "fused" and kind != "step":
        threads = f"{plan['threads']} threads split by units, one barrier per step"
    elif plan["threads"] > 1:
        threads = f"{plan['threads']} threads per step"
    else:
        threads = "1 thread"
    return f"{plan['product']}, {threads}"


def load_note():
    """The 1-minute load average against the CPU count, and a warning when other work shares the cores."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    note = f"load average {load:.2f} on {cpus} CPUs"
    if load > 0.5:
        note += (": HIGH, the cores are shared with other processes;\n  absolute times, GFLOP/s and the peak are low"
                 " and noisy, the interleaved ratios are the meaningful figures")
    return note
