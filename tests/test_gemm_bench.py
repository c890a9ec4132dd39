"""The roofline parts of `fastrnn bench` (fastrnn/_bench_roofline.py and the report's tables): FLOP counts,
the best peer, the tables, and paced stepping. No timing is asserted."""
import numpy as np

from fastrnn import _bench_roofline as roofline
from fastrnn import benchmark as grid


def test_config_flops_counts_every_product():
    # LSTM B1 T1 I1 H1: G = 4 rows, one multiply-add per gate row for x and one for h -> 2 * 4 * 2 = 16
    assert roofline.config_flops(grid.Config("x", "LSTM", 1, 1, 1, 1)) == 16
    # GRU B2 T3 I5 H7: G = 21, per step and row 21 (5 + 7) multiply-adds
    assert roofline.config_flops(grid.Config("x", "GRU", 2, 3, 5, 7)) == 2 * 3 * 2 * 21 * 12
    # two bidirectional layers: the second reads 2H inputs; training does every product three times
    config = grid.Config("x", "LSTM", 4, 10, 8, 16, num_layers=2, bidirectional=True, training=True)
    forward = 2 * 10 * 4 * 64 * 2 * ((8 + 16) + (32 + 16))
    assert roofline.config_flops(config) == 3 * forward


def test_best_peer_and_table():
    times = {"fastrnn": 0.010, "numpy": 0.5, "torch": 0.02, "ort": 0.015}
    assert grid.best_peer(times) == ("ort", 0.015)
    assert grid.best_peer({"fastrnn": 1.0, "numpy": None, "torch": None, "ort": None}) is None
    config = grid.CONFIGS["lstm_B64_T100_H512"]
    table = grid.format_table({config.name: times}, peak=5000.0)
    gflops = roofline.config_flops(config) / 0.010 / 1e9
    assert f"{gflops:.3g}" in table and f"{100 * gflops / 5000:.0f}%" in table
    assert ">100%*" in grid.format_table({config.name: times}, peak=200.0)   # above the peak: flagged
    assert "ort 15 ms" in table and "1.50x" in table


def test_products_table():
    times = {engine: 0.1 for engine in roofline.ENGINES} | {"blas": 0.2}
    table = grid.format_products({product.name: times for product in roofline.PRODUCTS}, peak=100.0)
    for product in roofline.PRODUCTS:
        assert product.name in table
    assert "2.00x" in table


def test_paced_latencies_calls_every_stepper_paced():
    calls = {"a": 0, "b": 0}

    def stepper(name):
        def step():
            calls[name] += 1
            np.ones(10).sum()
        return step

    result = roofline.paced_latencies({"a": stepper("a"), "b": stepper("b")}, steps=100, period=2e-4)
    assert calls == {"a": 105, "b": 105}                     # 5 warm-up calls, then the timed steps
    for p50, p99 in result.values():
        assert 0 < p50 <= p99
    table = grid.format_paced({64: {"fastrnn": result["a"], "ort": result["b"]}})
    assert "H64" in table
    both = grid.format_paced({64: {"fastrnn": (2e-5, 4e-5), "fastrnn low latency": (1e-5, 2e-5), "ort": (5e-5, 9e-5)}})
    assert "5.00x" in both   # ONNX Runtime's p50 over fastrnn's better mode
    assert max(len(line) for line in both.splitlines()) <= 80


def test_the_report_names_how_each_config_ran(two_threads):
    assert grid.plan_note(grid.CONFIGS["lstm_step_B1_H64"]) == "direct, 1 thread"
    assert grid.plan_note(grid.CONFIGS["lstm_B1_T200_H512"]) == "fused, 2 threads split by units, one barrier per step"
    assert grid.plan_note(grid.CONFIGS["lstm_B16_T50_H256"]) == "fused, 2 row slices, one thread each"
    assert grid.plan_note(grid.CONFIGS["train_lstm_B64_T100_H512"]) == "fused, 2 threads split by units, one barrier per step"
