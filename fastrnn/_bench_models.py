"""The "whole models" section of `fastrnn bench`: the examples' models (fastrnn/_onnx_models.py) exported to ONNX
by torch.onnx.export (TorchScript exporter, opset 17), each file run by fastrnn.InferenceSession and by
onnxruntime.InferenceSession, interleaved in one process (benchmark.measure: a settling pause before every sample),
at B1 T1, B1 T50 and B32 T50.

Per row: the median time per run() of each, the ratio ort/fastrnn, and at B1 T1 the executor's own overhead:
fastrnn's run() minus the time of its steps called directly on the same inputs (the input checks, the call of
each step and the hand-over of the outputs). Needs torch (to export), onnx and onnxruntime; n/a without them.
"""
import importlib.util
import os
import statistics
import tempfile

import numpy as np

from .benchmark import measure, time_call

SIZES = ((1, 1), (1, 50), (32, 50))   # (B, T)
TARGET_SECONDS = 0.02                 # one timed sample: enough calls to pass 20 ms, far above the timer's grain
TOLERANCE = 1e-4                      # max |fastrnn - ort| of a model's outputs (float32, unit-scale inputs)


def _number(fn):
    """Calls per sample so that a sample lasts about TARGET_SECONDS."""
    elapsed = time_call(fn, 1)
    return max(1, min(100_000, int(TARGET_SECONDS / max(elapsed, 1e-7))))


def executor_overhead(session, feeds, repeat):
    """Median of run() minus the sum of its steps' own times, over `repeat` interleaved rounds (seconds); the
    steps a warm run() skips (computed from the inputs' shapes, kept since the first call) are not counted."""
    args = session._feed(feeds)
    values = dict(zip(session._plan.input_slots, args))
    values.update({slot: value for slot, value in enumerate(session._plan.initial) if value is not None})
    calls = []
    static = set(session._plan.static)
    for k, (function, ins, outs, _) in enumerate(session._plan.steps):   # the steps once, in order, keeping
        inputs = [values.get(slot) for slot in ins]                      # each one's inputs
        result = function(*inputs)
        values.update(zip(outs, result if len(outs) > 1 else (result,)))
        if k not in static:
            calls.append((function, inputs))

    def steps_only():
        for function, inputs in calls:
            function(*inputs)

    def whole():
        session.run(None, feeds)

    n_steps, n_whole = _number(steps_only), _number(whole)
    overheads = [time_call(whole, n_whole) - time_call(steps_only, n_steps) for _ in range(repeat)]
    return statistics.median(overheads)


def run(repeat, threads=None):
    """(rows [(model, B, T, fastrnn s, ort s, overhead s or None)], mismatches [messages]) or (None, reason)."""
    missing = [m for m in ("torch", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return None, f"n/a (needs {', '.join(missing)})"
    import onnxruntime as ort
    import torch

    import fastrnn
    from . import _onnx_models as models

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    rows, mismatches = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in models.EXAMPLES:
            path = os.path.join(folder, f"{name}.onnx")
            models.export(torch, name, path, opset=17)
            ours = fastrnn.InferenceSession(path)
            theirs = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            for B, T in SIZES:
                feeds = models.example_inputs(name, B, T)
                error = max(float(np.abs(a - b).max()) for a, b in zip(ours.run(None, feeds), theirs.run(None, feeds)))
                if not error <= TOLERANCE:
                    mismatches.append(f"whole model {name} B{B} T{T}: fastrnn differs from ort by {error:.3g}")
                times = measure({"fastrnn": lambda: ours.run(None, feeds),
                                 "ort": lambda: theirs.run(None, feeds)}, repeat)
                overhead = executor_overhead(ours, feeds, repeat) if (B, T) == (1, 1) else None
                rows.append((name, B, T, times["fastrnn"], times["ort"], overhead))
    return rows, mismatches


def _us(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def format_rows(rows):
    """The section's table, 80 columns wide."""
    header = f"{'model':<20} | {'B':>2} | {'T':>2} | {'fastrnn':>9} | {'ort':>9} | ort/fastrnn | {'executor':>8}"
    lines = [header, "-" * len(header)]
    for name, B, T, ours, theirs, overhead in rows:
        lines.append(f"{name:<20} | {B:>2} | {T:>2} | {_us(ours):>9} | {_us(theirs):>9} | {theirs / ours:>10.2f}x | "
                     f"{_us(overhead) if overhead is not None else '':>8}".rstrip())
    return "\n".join(lines)
