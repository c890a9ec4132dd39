"""Kernels release the GIL: concurrent calls on one layer from several threads must give correct results."""
import threading

import numpy as np

import fastrnn
from conftest import RTOL, assert_close


def run_concurrently(work, n_threads=4):
    errors = []

    def guarded(k):
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_sequence_calls(rng):
    layer = fastrnn.LSTM(16, 32, num_layers=2, bidirectional=True, seed=0)
    inputs = [rng.standard_normal((30, 5, 16)).astype(np.float32) for _ in range(4)]
    lengths = [rng.integers(1, 31, 5) for _ in range(4)]
    expected = [layer(x, lengths=n)[0] for x, n in zip(inputs, lengths)]

    def work(k):
        for _ in range(20):
            assert_close(layer(inputs[k], lengths=lengths[k])[0], expected[k], RTOL[np.float32])

    run_concurrently(work)


def test_concurrent_streaming_steps(rng):
    layer = fastrnn.GRU(8, 16, num_layers=2, seed=0)
    inputs = [rng.standard_normal((40, 3, 8)).astype(np.float32) for _ in range(4)]
    expected = [layer(x)[0] for x in inputs]

    def work(k):
        state = None
        for t in range(40):
            y, state = layer.step(inputs[k][t], state)
            assert_close(y, expected[k][t], RTOL[np.float32])

    run_concurrently(work)


def test_thread_count_setting_changes_nothing_but_speed(rng):
    layer = fastrnn.LSTM(64, 128, seed=0)
    x = rng.standard_normal((20, 8, 64)).astype(np.float32)
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        assert fastrnn.get_num_threads() == 1
        single, _ = layer(x)
        fastrnn.set_num_threads(2)
        double, _ = layer(x)
    finally:
        fastrnn.set_num_threads(before)
    assert_close(double, single, RTOL[np.float32])


def test_set_num_threads_validates():
    import pytest
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastrnn.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        fastrnn.set_num_threads(1.5)


def test_pool_works_in_a_forked_child(rng):
    """The parent's workers do not exist in a fork: the child must start its own (or run alone), not hang."""
    import multiprocessing
    layer = fastrnn.LSTM(64, 256, seed=0)
    x = rng.standard_normal((30, 16, 64)).astype(np.float32)
    expected, _ = layer(x)                       # the parent's pool is up
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        got = pool.apply_async(_run_layer, (layer, x)).get(timeout=60)
    assert_close(got, expected, RTOL[np.float32])


def _run_layer(layer, x):
    return layer(x)[0]


def test_many_parallel_calls_agree_with_one_thread(rng):
    """Hundreds of pool hand-offs of varying size (per-step products split across threads, parts claimed by
    whichever thread is free) give the single-threaded results."""
    layer = fastrnn.LSTM(96, 384, seed=0)
    cases = [rng.standard_normal((int(rng.integers(1, 6)), int(rng.integers(1, 40)), 96)).astype(np.float32)
             for _ in range(60)]
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(1)
        expected = [layer(x)[0] for x in cases]
        fastrnn.set_num_threads(2)
        for _ in range(3):
            for x, want in zip(cases, expected):
                assert_close(layer(x)[0], want, RTOL[np.float32])
    finally:
        fastrnn.set_num_threads(before)
