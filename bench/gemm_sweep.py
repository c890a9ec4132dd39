"""fastrnn's packed GEMM against OpenBLAS on one thread, over a grid of shapes and transposes (float32).

    python bench/gemm_sweep.py [--isa NAME] [--dtype float32|float64] [--rows 8 16 32 64 256] ...

The thresholds of fr_matmul's choice (csrc/gemm_driver.inc) come from this table. Each product is timed by
the thread's CPU time (time.thread_time), min of repeats: on a shared machine that leaves out the time the
thread waited for a core, though not the caches other processes pollute. Ratios below 1 favour fastrnn.
"""
import argparse
import itertools
import os
import time

import numpy as np

from fastrnn import _kernels


def cpu_seconds(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isa", default=None, help="ISA of the packed kernel (default: the process's choice)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rows", type=int, nargs="+", default=[8, 16, 32, 64, 256, 1600], help="M values")
    parser.add_argument("--cols", type=int, nargs="+", default=[32, 256, 1024, 2048], help="N values")
    parser.add_argument("--depth", type=int, nargs="+", default=[16, 64, 256, 512], help="K values")
    args = parser.parse_args()
    if args.isa:
        _kernels.set_isa(args.isa)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"isa {_kernels.isa()[0]}, {dtype}, one thread; load average {os.getloadavg()[0]:.2f}")
    print("op  M      N      K     own GFLOP/s  blas GFLOP/s  own/blas time")
    for (trans_a, trans_b), M, N, K in itertools.product([(False, True), (True, False), (False, False)],
                                                         args.rows, args.cols, args.depth):
        A = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
        B = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
        C = np.empty((M, N), dtype)
        repeat = int(min(200, max(5, 2e7 / (M * N * K))))
        own, blas = (cpu_seconds(lambda e=engine: _kernels.matmul(A, B, C, trans_a, trans_b, 0.0, e, 1), repeat)
                     for engine in ("own", "blas"))
        flops = 2 * M * N * K
        print(f"{'NT'[trans_a]}{'NT'[trans_b]}  {M:<6d} {N:<6d} {K:<5d} {flops / own / 1e9:11.1f}  "
              f"{flops / blas / 1e9:12.1f}  {own / blas:13.2f}")


if __name__ == "__main__":
    main()
