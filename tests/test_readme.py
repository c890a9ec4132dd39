"""The README as a newcomer uses it: every ```python block runs as pasted (each alone, in a fresh directory, in a
fresh interpreter), and the test command it gives is the one .ci/run runs."""
import os
import re
import subprocess
import sys

import pytest

from conftest import require_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def blocks(language):
    with open(README, encoding="utf-8") as file:
        return re.findall(rf"^```{language}\n(.*?)^```", file.read(), re.M | re.S)


PYTHON_BLOCKS = blocks("python")


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_as_pasted(index, tmp_path):
    code = PYTHON_BLOCKS[index]
    if "torch" in code:
        require_torch()
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README block {index + 1}:\n{code}\n{done.stderr[-3000:]}"


def test_two_setup_commands_and_ci_runs_the_test_command_verbatim():
    commands = [block.strip() for block in blocks("bash") if block.lstrip().startswith("pip install")]
    assert len(commands) == 2, commands
    main_job, test_command = commands
    assert "python -m fastrnn" in main_job
    assert "pytest" in test_command and "torch==" in test_command
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as file:
        assert test_command in file.read().splitlines()
