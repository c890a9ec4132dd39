"""fastrnn, naive NumPy, torch CPU and ONNX Runtime side by side, one group per config of fastrnn.benchmark.GRID.

    pytest --benchmark-only                  time them, and only them (from the repository root; bench/conftest.py
                                             deselects the rest of the suite)
    pytest --benchmark-disable               run each callable once and check its result (the test command, CI)

Inputs and the callables are built outside the timed call; each result is checked against naive NumPy after
timing. Each case starts after fastrnn.benchmark.SETTLE_SECONDS of quiet, as each sample of `fastrnn bench`
does: the previous contender's idle threads have stopped spinning, so every contender is timed as if alone.
torch and ONNX Runtime are skipped where they are not installed (or the ONNX export fails).
The same grid and runners make the `python -m fastrnn bench` report (fastrnn/benchmark.py).
"""
import time

import pytest

from fastrnn import benchmark as grid


@pytest.fixture(scope="session")
def environment():
    """BLAS libraries and thread counts, recorded in every benchmark's extra_info."""
    return grid.environment_info()


# naive NumPy and ONNX Runtime have no backward: the training configs compare fastrnn with torch only
CASES = [(config, contender) for config in grid.GRID for contender in grid.CONTENDERS
         if not (config.training and contender in ("numpy", "ort"))]


# at least 3 rounds, and more only while they fit in half a second: the whole grid in a few minutes
@pytest.mark.benchmark(min_rounds=3, max_time=0.5)
@pytest.mark.parametrize("config,contender", CASES, ids=[f"{c.name}-{name}" for c, name in CASES])
def test_forward(benchmark, config, contender, environment):
    run = grid.runner(contender, config)
    if run is None:
        pytest.skip(f"{contender} is not installed or cannot run {config.name}")
    benchmark.group = config.name
    benchmark.extra_info.update(environment)
    if not benchmark.disabled:
        time.sleep(grid.SETTLE_SECONDS)
    result = benchmark(run)
    grid.check_result(config, contender, result)
