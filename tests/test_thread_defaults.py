"""The default thread count: FASTRNN_NUM_THREADS, then OMP_NUM_THREADS, then the CPU affinity and cgroup quota."""
import os
import subprocess
import sys

import pytest

from fastrnn import _blas


def test_fastrnn_variable_comes_first():
    assert _blas.default_num_threads({"FASTRNN_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"}) == 3


def test_omp_variable_when_fastrnn_unset():
    assert _blas.default_num_threads({"OMP_NUM_THREADS": "1"}) == 1
    assert _blas.default_num_threads({"OMP_NUM_THREADS": "2,1"}) == 2   # nested levels: the outer one


def test_affinity_when_no_variable():
    assert _blas.default_num_threads({}) == _blas._cpu_quota(len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_invalid_variable_warns_and_falls_through(text):
    with pytest.warns(RuntimeWarning, match="FASTRNN_NUM_THREADS"):
        assert _blas.default_num_threads({"FASTRNN_NUM_THREADS": text, "OMP_NUM_THREADS": "1"}) == 1


@pytest.mark.parametrize("content, cpus, expected", [("max 100000", 8, 8), ("150000 100000", 8, 2),
                                                     ("50000 100000", 8, 1), ("800000 100000", 2, 2),
                                                     ("garbage", 4, 4)])
def test_cgroup_quota_caps_cpus(tmp_path, content, cpus, expected):
    path = tmp_path / "cpu.max"
    path.write_text(content)
    assert _blas._cpu_quota(cpus, str(path)) == expected


def test_missing_cgroup_file_keeps_cpus(tmp_path):
    assert _blas._cpu_quota(5, str(tmp_path / "absent")) == 5


def _threads_in_child(env_update, prefix=()):
    env = {k: v for k, v in os.environ.items() if k not in _blas.THREAD_VARIABLES}
    env.update(env_update)
    out = subprocess.run([*prefix, sys.executable, "-c", "import fastrnn; print(fastrnn.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_import_honours_omp_num_threads():
    assert _threads_in_child({"OMP_NUM_THREADS": "1"}) == 1


def test_import_honours_fastrnn_num_threads_over_omp():
    assert _threads_in_child({"FASTRNN_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}) == 2


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_import_honours_cpu_affinity():
    env = {k: v for k, v in os.environ.items() if k not in _blas.THREAD_VARIABLES}
    code = "import os; os.sched_setaffinity(0, {0}); import fastrnn; print(fastrnn.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == 1


def test_set_num_threads_overrides_environment():
    code = "import fastrnn; fastrnn.set_num_threads(2); print(fastrnn.get_num_threads())"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == 2
