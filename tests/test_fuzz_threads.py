"""Thread counts a user can give (each case failed before its fix): FASTRNN_NUM_THREADS or OMP_NUM_THREADS
beyond a C int made `import fastrnn` raise OverflowError, and a non-ASCII digit ("²", which str.isdigit accepts)
made it raise ValueError, so the package could not be imported at all; set_num_threads(10**12) raised
OverflowError. Now a huge count means "as many as the pool allows" and a non-number is skipped with a warning."""
import os
import subprocess
import sys

import pytest

import fastrnn

HANG_GUARD_SECONDS = 120   # not a timing check: only stops a hung interpreter


@pytest.mark.parametrize("value, expected", [("99999999999", "64"), ("2" + "0" * 40, "64"), ("\u00b2", "warned"),
                                             ("3", "3")])
@pytest.mark.parametrize("variable", ["FASTRNN_NUM_THREADS", "OMP_NUM_THREADS"])
def test_any_thread_variable_leaves_fastrnn_importable(variable, value, expected):
    code = ("import warnings\nwith warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
            "    import fastrnn\nprint('warned' if w else fastrnn.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("FASTRNN_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update({variable: value, "PYTHONIOENCODING": "utf-8"})
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=HANG_GUARD_SECONDS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == expected


def test_set_num_threads_takes_any_positive_int():
    before = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(10**12)
        assert fastrnn.get_num_threads() == 64      # the pool's cap
    finally:
        fastrnn.set_num_threads(before)
