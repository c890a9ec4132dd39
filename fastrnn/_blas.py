"""The BLAS behind the kernels (scipy-openblas32, the OpenBLAS build numpy and scipy ship) and fastrnn's threads.

The library is loaded by absolute path before the extension imports, so the extension's dependency resolves
wherever pip put scipy_openblas32 (the extension's rpath covers the normal site-packages layout too).
"""
import ctypes
import importlib.util
import os
import warnings


def _load_openblas():
    """Load the library single-threaded: fastrnn's pool owns the threads, so OpenBLAS starts none of its own.

    OpenBLAS reads OPENBLAS_NUM_THREADS once, when it loads; the variable is restored right after.
    """
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or spec.origin is None:
        raise ImportError("fastrnn needs the scipy-openblas32 package: pip install scipy-openblas32")
    libdir = os.path.join(os.path.dirname(spec.origin), "lib")
    for name in sorted(os.listdir(libdir)):
        if name.startswith("libscipy_openblas") and (name.endswith(".so") or ".so." in name
                                                      or name.endswith(".dylib")):
            saved = os.environ.get("OPENBLAS_NUM_THREADS")
            os.environ["OPENBLAS_NUM_THREADS"] = "1"
            try:
                ctypes.CDLL(os.path.join(libdir, name))
            finally:
                if saved is None:
                    del os.environ["OPENBLAS_NUM_THREADS"]
                else:
                    os.environ["OPENBLAS_NUM_THREADS"] = saved
            return


_load_openblas()

from . import _kernels  # noqa: E402  (needs the library loaded above)

_kernels.init_threads()

THREAD_VARIABLES = ("FASTRNN_NUM_THREADS", "OMP_NUM_THREADS")
# Counts above this are passed as this (the pool's own cap, csrc/pool.c, is lower): the C side takes an int.
_MAX_THREADS_PASSED = 1 << 16


def default_num_threads(environ=os.environ):
    """The thread count fastrnn starts with: the first of FASTRNN_NUM_THREADS and OMP_NUM_THREADS that is set,
    else the CPUs this process may run on (its affinity mask, capped by a cgroup CPU quota where readable).

    A Dask or multiprocessing worker started with OMP_NUM_THREADS=1 or pinned to one core therefore runs
    fastrnn on one thread. A variable set to anything but a positive integer is skipped with a warning.
    """
    for name in THREAD_VARIABLES:
        text = environ.get(name, "").strip()
        if text:
            # OpenMP allows a list ("4,2") for nested levels; the first entry is the outer level's count
            first = text.split(",")[0].strip()
            if first.isascii() and first.isdigit() and int(first) >= 1:   # ("²".isdigit(), but int() fails)
                return min(int(first), _MAX_THREADS_PASSED)
            warnings.warn(f"fastrnn ignores {name}={text!r}: expected a positive integer", RuntimeWarning,
                          stacklevel=2)
    return _cpu_quota(_affinity_cpus())


def _affinity_cpus():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):   # platforms without sched_getaffinity
        return os.cpu_count() or 1


def _cpu_quota(cpus, path="/sys/fs/cgroup/cpu.max"):
    """cpus capped by the cgroup v2 CPU quota ("quota period", or "max period" for none) when readable."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
        if quota != "max" and int(period) > 0:
            return max(1, min(cpus, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def set_num_threads(n: int) -> None:
    """Set the number of threads fastrnn uses (it overrides FASTRNN_NUM_THREADS, OMP_NUM_THREADS and the CPU
    affinity, which give the default).

    fastrnn splits its large products and the per-step recurrent products of wide layers across its own
    worker pool; OpenBLAS runs single-threaded inside it. set_num_threads(1) keeps everything on the caller's
    thread.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    _kernels.set_num_threads(min(n, _MAX_THREADS_PASSED))


def get_num_threads() -> int:
    """The number of threads fastrnn may use."""
    return _kernels.get_num_threads()


def set_low_latency(enabled: bool) -> None:
    """Keep fastrnn's worker threads awake between calls (off by default).

    Between calls, fastrnn's workers spin for about 50 us and then sleep; waking a sleeping worker costs a system
    call (10-50 us), so a caller that paces its calls (one streaming step per audio frame, say) runs each small
    step on its own thread. With low latency on, idle workers keep spinning, so every call finds them awake and
    wide steps split across cores. The price: each worker keeps a core busy (and drawing power) for as long as the
    mode is on, even when nothing runs. Turn it off again when the paced loop ends.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool; got {type(enabled).__name__}")
    _kernels.set_low_latency(enabled)


def get_low_latency() -> bool:
    """Whether fastrnn's workers spin between calls (set_low_latency)."""
    return _kernels.low_latency()


def blas_config() -> str:
    """The BLAS build string, e.g. 'OpenBLAS 0.3.30 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64'."""
    return _kernels.blas_config()


_kernels.set_num_threads(default_num_threads())
