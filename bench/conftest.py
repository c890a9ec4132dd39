"""`pytest --benchmark-only` runs the benchmark cases and nothing else, with a table that fits a terminal.

- Under --benchmark-only every test that times nothing (the whole tests/ suite, the report checks) is
  deselected, instead of collected and then skipped one by one.
- The table shows min and rounds (one group per config, about 80 columns) unless --benchmark-columns chooses
  others: pytest-benchmark's default ten columns do not fit a terminal. Rows are sorted by min, the column
  shown (pytest-benchmark cannot sort by median; min, the best round, is also the steadier figure under load).
The settling between contenders (as in `fastrnn bench`) is in test_bench_forward.py.
"""
import pytest

COLUMNS = ["min", "rounds"]
SORT = "min"   # the column shown


def _given(config, option):
    """True when the command line sets `option` (e.g. "--benchmark-columns")."""
    return any(arg.split("=")[0] == option for arg in config.invocation_params.args)


@pytest.hookimpl(trylast=True)   # after pytest-benchmark's own, which reads the options into its session
def pytest_configure(config):
    session = getattr(config, "_benchmarksession", None)
    for option, attribute, value in (("--benchmark-columns", "columns", COLUMNS),
                                     ("--benchmark-sort", "sort", SORT)):
        if not _given(config, option):
            setattr(config.option, f"benchmark_{attribute}", value)
            if session is not None:
                setattr(session, attribute, value)


def pytest_collection_modifyitems(config, items):
    if not config.getoption("benchmark_only", default=False):
        return
    timed = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
    if len(timed) < len(items):
        timed_ids = set(map(id, timed))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in timed_ids])
        items[:] = timed
