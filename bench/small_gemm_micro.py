"""Micro-benchmark of the per-step recurrent product C = A W^T at small batch (run by hand, not a test).

fastrnn's unpacked kernel (csrc/small_gemm.inc, one and two threads) against OpenBLAS: NumPy's matmul (its own
OpenBLAS, at one thread and at its default) and scipy_cblas_sgemm of scipy-openblas32 (the library fastrnn's
time loops call, one thread) through ctypes. Contenders are interleaved round by round; the table shows the
median over rounds of the time per call in microseconds, Python call overhead included (the "null" line: the
same routes on a 1 x 1 x 1 product).

    python bench/small_gemm_micro.py [--rounds 9] [--dtype float32] [--min-round-ms 20]
"""
import argparse
import ctypes
import functools
import glob
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the checkout's fastrnn
import fastrnn  # noqa: F401  (loads scipy-openblas32 and sets fastrnn's threads)
import scipy_openblas32
from fastrnn import _kernels

MS = [1, 2, 4, 8]
NKS = [(256, 64), (512, 128), (768, 128), (1024, 256), (2048, 512), (1536, 512)]


def numpy_openblas():
    """set_num_threads of the OpenBLAS NumPy loaded, or None."""
    for path in sorted(set(line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line)):
        if "numpy" in path:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                         "openblas_set_num_threads"):
                if hasattr(lib, name):
                    return getattr(lib, name)
    return None


def cblas_gemm(dtype):
    """make(A, W, C) -> a call of scipy-openblas32's cblas gemm for C = A W^T, its arguments converted once."""
    lib = ctypes.CDLL(glob.glob(os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas*.so*"))[0])
    lib.scipy_openblas_set_num_threads(1)
    fn = lib.scipy_cblas_sgemm if dtype == np.float32 else lib.scipy_cblas_dgemm
    real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    fn.restype = None
    fn.argtypes = [ctypes.c_int] * 6 + [real, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, real,
                                        ctypes.c_void_p, ctypes.c_int]

    def make(A, W, C):
        (M, K), N = A.shape, W.shape[0]
        args = (101, 111, 112, M, N, K, real(1), ctypes.c_void_p(A.ctypes.data), K,
                ctypes.c_void_p(W.ctypes.data), K, real(0), ctypes.c_void_p(C.ctypes.data), N)
        return functools.partial(fn, *args)
    return make


def contenders(dtype, np_threads):
    """name -> make(A, W, C), which returns the timed call; make.setup() runs before each round."""
    def np_with(n):
        def make(A, W, C):
            return functools.partial(np.matmul, A, W.T, out=C)
        make.setup = lambda: np_threads and np_threads(os.cpu_count() if n == "N" else n)
        return make

    def fr(n):
        def make(A, W, C):
            return functools.partial(_kernels._small_gemm_nt, A, W, C, False, n)
        return make

    return {"fastrnn 1t": fr(1), "fastrnn 2t": fr(2), "numpy 1t": np_with(1), "numpy Nt": np_with("N"),
            "sgemm32 1t": cblas_gemm(dtype)}


def time_call(call, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        call()
    return (time.perf_counter_ns() - t0) / n / 1e3


def bench(M, N, K, dtype, makers, rounds, min_round_ms, rng):
    A = rng.standard_normal((M, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    C = np.empty((M, N), dtype)
    # not NumPy's matmul: a multi-threaded OpenBLAS call leaves its threads spinning for a while after it, on the
    # core fastrnn's second thread needs
    reference = np.einsum("mk,nk->mn", A.astype(np.float64), W.astype(np.float64))
    calls, reps = {}, {}
    for name, make in makers.items():   # warm up, check, size the rounds
        getattr(make, "setup", lambda: None)()
        calls[name] = make(A, W, C)
        C[...] = np.nan
        calls[name]()
        assert np.allclose(C, reference, rtol=1e-4, atol=1e-3 * np.sqrt(K)), name
        per = time_call(calls[name], 20)
        reps[name] = max(5, int(min_round_ms * 1e3 / max(per, 1e-3)))
    times = {name: [] for name in makers}
    for _ in range(rounds):
        for name, make in makers.items():
            getattr(make, "setup", lambda: None)()
            times[name].append(time_call(calls[name], reps[name]))
    return {name: float(np.median(t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--min-round-ms", type=float, default=20.0)
    parser.add_argument("--only", default="fastrnn 1t,fastrnn 2t,numpy 1t,sgemm32 1t",
                        help="comma-separated contenders (also: 'numpy Nt' = NumPy's default threads). OpenBLAS "
                             "threads spin for a while after each call and then fight fastrnn's second thread, "
                             "so time a multi-threaded NumPy in a run of its own")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype).type
    rng = np.random.default_rng(0)
    funcs = contenders(dtype, numpy_openblas())
    funcs = {name: funcs[name] for name in args.only.split(",")}
    print(f"load average {os.getloadavg()}; {args.dtype}; median of {args.rounds} rounds; microseconds per call")
    names = list(funcs)
    print(f"{'M':>2} {'N':>5} {'K':>4} {'W KiB':>6} | " + " | ".join(f"{n:>11}" for n in names)
          + " | best BLAS / fastrnn best")
    rows = [(1, 1, 1)] + [(M, N, K) for N, K in NKS for M in MS]
    for M, N, K in rows:
        t = bench(M, N, K, dtype, funcs, args.rounds, args.min_round_ms, rng)
        blas = min((v for k, v in t.items() if not k.startswith("fastrnn")), default=np.nan)
        ours = min((v for k, v in t.items() if k.startswith("fastrnn")), default=np.nan)
        label = "null" if N == 1 else f"{N * K * np.dtype(dtype).itemsize // 1024:>6}"
        print(f"{M:>2} {N:>5} {K:>4} {label:>6} | " + " | ".join(f"{t[n]:>11.2f}" for n in names)
              + f" | {blas / ours:>5.2f}", flush=True)


if __name__ == "__main__":
    main()
