"""`pytest --benchmark-only` runs the benchmark cases and nothing else, with a table that fits a terminal.

- Under --benchmark-only every test that times nothing (the whole tests/ suite, the report checks) is
  deselected, instead of collected and then skipped one by one.
- The table shows median and rounds (one group per config, about 80 columns) unless --benchmark-columns chooses
  others: pytest-benchmark's default ten columns do not fit a terminal.
The settling between contenders (as in `fastrnn bench`) is in test_bench_forward.py.
"""
import pytest

COLUMNS = ["median", "rounds"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("benchmark_columns", default=None) is None:
        config.option.benchmark_columns = COLUMNS


def pytest_collection_modifyitems(config, items):
    if not config.getoption("benchmark_only", default=False):
        return
    timed = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
    if len(timed) < len(items):
        timed_ids = set(map(id, timed))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in timed_ids])
        items[:] = timed
