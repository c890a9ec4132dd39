"""Inference working memory does not grow with T: the input projection runs in chunks of steps (csrc/loop.inc), so
what a call allocates beyond its output stays bounded by a chunk, independent of the sequence length.

Measured with tracemalloc, which sees NumPy's data allocations (the kernels allocate nothing themselves).
"""
import tracemalloc

import numpy as np
import pytest

import fastrnn

CHUNK_BOUND = 5 * 1024 * 1024   # csrc/plan.c projects at most 4 MiB of gates at once; the rest is per-row state


def extra_peak(layer, x):
    """Peak bytes a call allocates beyond its output arrays."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out, state = layer(x)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    states = state if isinstance(state, tuple) else (state,)
    return peak - out.nbytes - sum(s.nbytes for s in states)


@pytest.mark.parametrize("make", [lambda: fastrnn.LSTM(8, 64, seed=0), lambda: fastrnn.GRU(8, 64, seed=0),
                                  lambda: fastrnn.LSTM(8, 64, bidirectional=True, seed=0)])
def test_inference_memory_is_bounded_by_a_chunk(make, rng):
    layer = make()
    sizes = {}
    for T in (5000, 20000):
        x = rng.standard_normal((T, 4, 8)).astype(np.float32)
        sizes[T] = extra_peak(layer, x)
    gates_of_whole_sequence = 20000 * 4 * 4 * 64 * 4
    assert sizes[20000] <= CHUNK_BOUND < gates_of_whole_sequence
    # what does grow: 8 bytes of active-row count per step (batch_sizes); no float buffer scales with T
    assert sizes[20000] <= sizes[5000] + 16 * (20000 - 5000)
