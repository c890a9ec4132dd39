"""The reduced-precision configs of fastrnn.benchmark.QUANT_GRID under pytest-benchmark, one group per config:
fastrnn's int8 or bfloat16 layer, torch's and ONNX Runtime's int8 models (where installed and able), and the
float32 layer they come from. Each contender's output is checked against the float32 layer after timing
(max |out - out_fp32| within _bench_quant.TOLERANCE), as `fastrnn bench` does."""
import time

import numpy as np
import pytest

from fastrnn import _bench_quant as quantrows
from fastrnn import benchmark as grid

CASES = [(config, column) for config in grid.QUANT_GRID for column in quantrows.COLUMNS]


@pytest.mark.benchmark(min_rounds=3, max_time=0.5)
@pytest.mark.parametrize("config,column", CASES, ids=[f"{c.name}-{column.replace(' ', '_')}" for c, column in CASES])
def test_quant(benchmark, config, column):
    runners = grid.quant_runners(config)
    if column not in runners:
        pytest.skip(f"{column} is not installed or cannot run {config.name}")
    benchmark.group = config.name
    benchmark.extra_info.update(grid.environment_info())
    if not benchmark.disabled:
        time.sleep(grid.SETTLE_SECONDS)
    out = benchmark(runners[column])
    reference = runners[quantrows.FLOAT]()
    assert np.abs(out - reference).max() <= quantrows.TOLERANCE
