"""Shared fixtures. In CI (FASTRNN_REQUIRE_TORCH=1, set by .ci/run) a missing torch FAILS the run on x86-64; on
aarch64 torch comparisons skip (PyPI's aarch64 torch is a CUDA build that needs ARMv8.2, and its quantized ops fail
under emulation): there the tests compare with the NumPy reference and onnxruntime."""
import os
import platform

import numpy as np
import pytest

import fastrnn

# Tolerances of fastrnn against independent references, per dtype: max |a - b| <= RTOL * max(1, max |b|).
RTOL = {np.float32: 2e-5, np.float64: 1e-10}
# Gradients: against torch autograd (float32) and float64 finite differences.
GRAD_RTOL = {np.float32: 1e-4, np.float64: 1e-6}

# Every cell variant torch has: name -> (fastrnn class, torch.nn class name, constructor options of both)
TORCH_CELLS = {
    "rnn_tanh": (fastrnn.RNN, "RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": (fastrnn.RNN, "RNN", {"nonlinearity": "relu"}),
    "lstm": (fastrnn.LSTM, "LSTM", {}),
    "lstm_proj": (fastrnn.LSTM, "LSTM", {"proj_size": 3}),
    "gru": (fastrnn.GRU, "GRU", {}),
}


ON_ARM = platform.machine() in ("aarch64", "arm64")

# The bfloat16 kernels that round A to bfloat16 and use a dot-product instruction (x86 vdpbf16ps, ARM BFDOT).
BF16_DOT_KERNELS = ("amx", "avx512-bf16", "bf16-bfdot")   # bfloat16 kernels that round A to bfloat16


def require_torch():
    """The torch module; skips where torch is absent, but fails when FASTRNN_REQUIRE_TORCH=1 (CI) off aarch64.

    torch runs on one thread in tests: its thread hand-offs make tiny problems 30x slower on a shared machine.
    """
    try:
        import torch
    except ImportError:
        if os.environ.get("FASTRNN_REQUIRE_TORCH") == "1" and not ON_ARM:
            pytest.fail("torch is required here (FASTRNN_REQUIRE_TORCH=1): pip install torch==2.13.0")
        pytest.skip("torch not installed")
    torch.set_num_threads(1)
    return torch


def assert_close(actual, expected, rtol, what=""):
    """max |actual - expected| <= rtol * max(1, max |expected|), with a message naming the worst element."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    scale = max(1.0, float(np.abs(expected).max()))
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= rtol * scale, (f"{what}: max error {err[worst]:.3g} at {worst} exceeds "
                                        f"{rtol:g} * scale {scale:.3g}")


def fourth_order_difference(f, value, h=1e-3):
    """dL/dvalue by (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h, perturbing value in place (error O(h^4))."""
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        saved = value[index]
        f_at = []
        for step in (2, 1, -1, -2):
            value[index] = saved + step * h
            f_at.append(f())
        value[index] = saved
        grad[index] = (-f_at[0] + 8 * f_at[1] - 8 * f_at[2] + f_at[3]) / (12 * h)
    return grad


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def two_threads():
    """fastrnn on two threads for the test (the loops that split work run on any machine), then as before."""
    before = fastrnn.get_num_threads()
    fastrnn.set_num_threads(2)
    yield
    fastrnn.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
