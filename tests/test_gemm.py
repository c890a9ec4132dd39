"""The large-product entry point (csrc/gemm.h, fr_matmul) against NumPy float64, on every ISA this CPU runs.

Reference: op(A) op(B) + beta C in float64. Tolerance per element: 4 (K + 2) eps (|op(A)| |op(B)| + |beta C|),
eps of the tested dtype: a sum of K products rounded in any order stays within K eps of that bound.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastrnn import _kernels

SUPPORTED_ISAS = [name for name in _kernels.isa_names() if _kernels.isa_supported(name)]
ENGINES = ["own", "blas", "auto"]
ISA_ENGINES = [(name, engine) for name in SUPPORTED_ISAS for engine in ("own", "auto")] + [("baseline", "blas")]
DTYPES = [np.float32, np.float64]
# (M, N, K): empty, single, primes, odd edges around the tile and block sizes (MR 4/6/12, NR 8-32, KC 192/256)
SHAPES = [(0, 5, 3), (5, 0, 3), (4, 6, 0), (1, 1, 1), (1, 37, 5), (37, 1, 5), (7, 13, 1), (13, 17, 19),
          (97, 61, 31), (6, 16, 256), (12, 32, 193), (131, 257, 263), (64, 48, 520),
          (600, 100, 40)]   # the last: 300 rows per part, where "auto" takes the packed kernel


@pytest.fixture
def isa():
    """Each test that takes it restores the process's ISA choice afterwards."""
    chosen, _ = _kernels.isa()
    yield
    _kernels.set_isa(chosen)


def operands(rng, dtype, M, N, K, trans_a, trans_b, pad=0):
    """A, B as stored (transposed when trans_*) and C [M, N], each a view with `pad` extra columns per row."""
    def view(rows, cols):
        full = rng.standard_normal((rows, cols + pad)).astype(dtype)
        return full[:, :cols]
    A = view(K, M) if trans_a else view(M, K)
    B = view(N, K) if trans_b else view(K, N)
    return A, B, view(M, N)


def check(A, B, C_before, C, trans_a, trans_b, beta, bias=None):
    """With a bias, C_before and beta are unused: the expected C is op(A) op(B) + bias on every row."""
    a = (A.T if trans_a else A).astype(np.float64)
    b = (B.T if trans_b else B).astype(np.float64)
    c0 = C_before.astype(np.float64)
    if bias is not None:
        scaled = np.broadcast_to(bias.astype(np.float64), c0.shape)
    else:
        scaled = np.zeros_like(c0) if beta == 0 else beta * c0
    expected = a @ b + scaled
    bound = np.abs(a) @ np.abs(b) + np.abs(scaled)
    eps = np.finfo(C.dtype).eps
    K = a.shape[1]
    excess = np.abs(C.astype(np.float64) - expected) - 4 * (K + 2) * eps * bound
    assert excess.max(initial=0) <= 0, f"worst excess over the bound: {excess.max()}"


@pytest.mark.parametrize(("name", "engine"), ISA_ENGINES)   # BLAS does not depend on the ISA
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_numpy_every_shape_and_transpose(isa, name, engine, dtype):
    _kernels.set_isa(name)
    rng = np.random.default_rng(0)
    for M, N, K in SHAPES:
        for trans_a in (False, True):
            for trans_b in (False, True):
                for beta in (0.0, 1.0, -0.5):
                    A, B, C = operands(rng, dtype, M, N, K, trans_a, trans_b)
                    before = C.copy()
                    _kernels.matmul(A, B, C, trans_a, trans_b, beta, engine)
                    check(A, B, before, C, trans_a, trans_b, beta)
                bias = rng.standard_normal(N).astype(dtype)   # replaces beta C, C's old values unread
                A, B, C = operands(rng, dtype, M, N, K, trans_a, trans_b)
                C[...] = np.nan
                _kernels.matmul(A, B, C, trans_a, trans_b, 0.5, engine, bias=bias)
                check(A, B, C, C, trans_a, trans_b, 0.5, bias)


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_strides_and_thread_splits(isa, name, dtype, threads):
    """Views with padded rows (ld > row length), and each part of a split writes only its own rows/columns."""
    _kernels.set_isa(name)
    rng = np.random.default_rng(1)
    for M, N, K in [(300, 70, 45), (70, 300, 45), (129, 131, 600)]:
        for trans_a, trans_b in [(False, True), (True, False), (False, False)]:
            A, B, C = operands(rng, dtype, M, N, K, trans_a, trans_b, pad=5)
            full = C.base.copy()
            before = C.copy()
            _kernels.matmul(A, B, C, trans_a, trans_b, 1.0, "own", threads)
            check(A, B, before, C, trans_a, trans_b, 1.0)
            np.testing.assert_array_equal(C.base[:, N:], full[:, N:])   # the padding is untouched
            bias = rng.standard_normal(N).astype(dtype)
            _kernels.matmul(A, B, C, trans_a, trans_b, 1.0, "own", threads, bias)
            check(A, B, before, C, trans_a, trans_b, 1.0, bias)
            np.testing.assert_array_equal(C.base[:, N:], full[:, N:])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_overwrites_nan(engine, dtype):
    rng = np.random.default_rng(2)
    for M, N, K in [(50, 40, 30), (3, 5, 0)]:
        A, B, _ = operands(rng, dtype, M, N, K, False, False)
        C = np.full((M, N), np.nan, dtype)
        _kernels.matmul(A, B, C, beta=0.0, engine=engine)
        np.testing.assert_allclose(C, A.astype(np.float64) @ B.astype(np.float64), rtol=1e-4, atol=1e-4)


def test_isa_choice_is_reported():
    name, reason = _kernels.isa()
    assert name in SUPPORTED_ISAS
    assert reason in ("FASTRNN_ISA", "cpu model", "micro-benchmark", "fr_isa_set")
    times = _kernels.isa_benchmark()
    assert set(times) == set(SUPPORTED_ISAS) and all(t > 0 for t in times.values())
    info = _kernels.cpu_info()
    assert isinstance(info["brand"], str) and isinstance(info["family"], int)


def test_set_isa_rejects_unknown_names(isa):
    with pytest.raises(ValueError, match="isa must be one of"):
        _kernels.set_isa("sse9")
    for name in _kernels.isa_names():
        if not _kernels.isa_supported(name):
            with pytest.raises(ValueError, match="not supported"):
                _kernels.set_isa(name)


def run_with_isa(value):
    """(isa() as chosen in a fresh process with FASTRNN_ISA=value, its stderr)."""
    env = dict(os.environ, FASTRNN_ISA=value)
    code = "from fastrnn import _kernels; print(*_kernels.isa(), sep=',')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tuple(done.stdout.strip().split(",")), done.stderr


@pytest.mark.parametrize("value", _kernels.isa_names())
def test_environment_forces_a_supported_isa_and_warns_otherwise(value):
    chosen, stderr = run_with_isa(value)
    if _kernels.isa_supported(value):
        assert chosen == (value, "FASTRNN_ISA") and stderr == ""
    else:
        assert chosen[1] != "FASTRNN_ISA" and "not supported by this CPU" in stderr


def test_environment_unknown_value_warns_and_chooses_automatically():
    chosen, stderr = run_with_isa("avx1024")
    assert "FASTRNN_ISA=avx1024 is unknown" in stderr
    assert chosen[0] in SUPPORTED_ISAS and chosen[1] in ("cpu model", "micro-benchmark")


def test_matmul_validates_its_arguments():
    A, B, C = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32), np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="B must be"):
        _kernels.matmul(A, B.T, C)                                  # shape (5, 3), not (3, 5)
    with pytest.raises(ValueError, match="A must be"):
        _kernels.matmul(A.astype(np.float64), B, C)
    with pytest.raises(ValueError, match="contiguous rows"):
        _kernels.matmul(np.ones((4, 6), np.float32)[:, ::2], B, C)
    with pytest.raises(ValueError, match="overlap"):
        _kernels.matmul(C[:, :3], B, C)
    with pytest.raises(ValueError, match="engine"):
        _kernels.matmul(A, B, C, engine="mkl")
    with pytest.raises(TypeError, match="beta"):
        _kernels.matmul(A, B, C, beta="1")
    with pytest.raises(ValueError, match="C must be"):
        _kernels.matmul(A, B, C.astype(np.int32))
    with pytest.raises(ValueError, match=r"bias must be None or a C-contiguous float32 array of shape \(5,\)"):
        _kernels.matmul(A, B, C, bias=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="bias must be"):
        _kernels.matmul(A, B, C, bias=np.ones(5, np.float64))
    with pytest.raises(ValueError, match="overlap"):
        _kernels.matmul(A, B, C, bias=C[0])
