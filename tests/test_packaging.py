"""Project basics: the version agrees everywhere, the typing files ship, and the build's debug switch can work."""
import glob
import importlib.metadata
import os
import re
import subprocess
import sys

import pytest

import fastrnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.dirname(os.path.abspath(fastrnn.__file__))


def test_version_of_command_line_package_and_metadata_agree():
    done = subprocess.run([sys.executable, "-m", "fastrnn", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fastrnn {fastrnn.__version__}"
    assert importlib.metadata.version("fastrnn") == fastrnn.__version__


def test_py_typed_and_stub_ship_with_the_package():
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed"))
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "_kernels.pyi"))


def cython_sources():
    return sorted(glob.glob(os.path.join(ROOT, "fastrnn", "*.pyx")) + glob.glob(os.path.join(ROOT, "fastrnn", "*.px?")))


@pytest.mark.skipif(not cython_sources(), reason="no Cython sources beside the tests (installed-package run)")
def test_cython_headers_leave_the_checking_directives_to_setup_py():
    """A `# cython:` header directive overrides setup.py's, so FASTRNN_DEBUG=1 would build unchecked code."""
    owned = ("boundscheck", "wraparound", "initializedcheck", "cdivision", "nonecheck")
    for path in cython_sources():
        with open(path, encoding="utf-8") as file:
            for line in file:
                if re.match(r"#\s*cython\s*:", line):
                    assert not any(name in line for name in owned), f"{path}: {line.strip()}"
