"""The types py.typed promises: mypy on tests/typing/ (valid use passes, misuse is flagged), and the stub of the
compiled module (fastrnn/_kernels.pyi) declares exactly what fastrnn._kernels has, with the same parameters."""
import ast
import inspect
import os
import re
import site
import subprocess
import sys
import types

import pytest

import fastrnn
from fastrnn import _kernels

TYPING_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typing")
STUB = os.path.join(os.path.dirname(os.path.abspath(fastrnn.__file__)), "_kernels.pyi")
ERROR_MARK = "# error: "


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory):
    """{(file name, line): [messages]} of mypy on tests/typing/*.py (fastrnn's own bodies not reported)."""
    files = [os.path.join(TYPING_DIR, name) for name in ("usage.py", "misuse.py")]
    # mypy finds an installed fastrnn in site-packages, and a source checkout (editable install, whose import hook
    # mypy does not follow) from the working directory: the directory holding the fastrnn package.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    installed = package_parent in map(os.path.abspath, site.getsitepackages())
    done = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(tmp_path_factory.mktemp("mypy-cache")), *files],
                          capture_output=True, text=True, timeout=600, cwd=TYPING_DIR if installed else package_parent)
    assert done.returncode in (0, 1), done.stderr or done.stdout     # 2: mypy itself failed
    errors = {}
    for match in re.finditer(r"^(.*?):(\d+): error: (.*)$", done.stdout, re.M):
        errors.setdefault((os.path.basename(match[1]), int(match[2])), []).append(match[3])
    return errors


def test_readme_patterns_pass_mypy_strict(tmp_path):
    """The README's loading pattern LSTM.from_state_dict(fastrnn.load(path)) and quantize_dynamic, --strict."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    installed = package_parent in map(os.path.abspath, site.getsitepackages())
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(tmp_path / "mypy-cache"), os.path.join(TYPING_DIR, "strict_readme.py")],
                          capture_output=True, text=True, timeout=600, cwd=TYPING_DIR if installed else package_parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_valid_use_type_checks(mypy_errors):
    assert {key: msgs for key, msgs in mypy_errors.items() if key[0] == "usage.py"} == {}


def test_misuse_is_flagged_where_marked_and_nowhere_else(mypy_errors):
    with open(os.path.join(TYPING_DIR, "misuse.py")) as file:
        expected = {number: line.split(ERROR_MARK, 1)[1].strip()
                    for number, line in enumerate(file, 1) if ERROR_MARK in line}
    assert expected, "misuse.py marks no line"
    flagged = {line: msgs for (name, line), msgs in mypy_errors.items() if name == "misuse.py"}
    assert set(flagged) == set(expected), f"mypy flagged lines {sorted(flagged)}, expected {sorted(expected)}"
    for line, text in expected.items():
        assert any(text in message for message in flagged[line]), f"line {line}: {flagged[line]} lacks {text!r}"


# ------------------------------------------------------------------------------------ stub vs compiled module
def stub_declarations():
    """{name: node} of the stub's public top-level classes, functions and variables (not its private aliases)."""
    with open(STUB) as file:
        tree = ast.parse(file.read())
    return {name: node for node in tree.body for name in declared_names(node) if not name.startswith("_")}


def declared_names(node):
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.AnnAssign):
        return [node.target.id]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets]
    return []   # imports, docstrings


def public_names(namespace, inherited=()):
    return {name for name in dir(namespace) if not name.startswith("_") and name not in inherited
            and not isinstance(getattr(namespace, name), types.ModuleType)}


def stub_parameters(function):
    args = function.args
    return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if a.arg != "self"]


def runtime_parameters(function):
    """Parameter names from the compiled function's signature, or None where Cython exposes none."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        return None   # (*args, **kwargs): object's slot, not the real parameters
    return [name for name in signature.parameters if name != "self"]


def test_stub_declares_exactly_the_public_names_of_the_module():
    assert set(stub_declarations()) == public_names(_kernels)


@pytest.mark.parametrize("name", sorted(public_names(_kernels)))
def test_stub_signatures_match_the_module(name):
    declared, actual = stub_declarations().get(name), getattr(_kernels, name)
    assert declared is not None, f"{name} is missing from {STUB}"
    if isinstance(declared, ast.FunctionDef):
        assert stub_parameters(declared) == runtime_parameters(actual), name
    elif isinstance(declared, ast.ClassDef):
        members = {n: node for node in declared.body for n in declared_names(node)}
        assert set(members) - {"__init__"} == public_names(actual, inherited=dir(object)), name
        for member, node in members.items():
            runtime = runtime_parameters(getattr(actual, member))
            if isinstance(node, ast.FunctionDef) and runtime is not None:   # cdef __cinit__ has no signature
                assert stub_parameters(node) == runtime, f"{name}.{member}"
