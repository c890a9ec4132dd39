"""The `python -m fastrnn bench` report runs, agrees with naive NumPy, and re-executes only when it should; its
reduced-precision rows run at a tiny size and measure their errors against the float32 layer."""
import re
import subprocess

import numpy as np
import pytest

from fastrnn import _bench_quant as quantrows
from fastrnn import benchmark as grid
from fastrnn import reference

SMALL_CONFIGS = ["lstm_step_B1_H64", "gru_B1_T100_H128"]


def test_report_runs_and_agrees(tmp_path, capsys):
    chart = tmp_path / "chart.png"
    assert grid.main(["--repeat", "1", "--configs", *SMALL_CONFIGS, "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "results agree" in out
    for name in SMALL_CONFIGS:
        assert name in out
    assert chart.exists() == grid._installed("matplotlib")


def test_report_rejects_unknown_config():
    with pytest.raises(SystemExit):
        grid.parse_args(["--configs", "lstm_B1_T1_H1"])


@pytest.mark.parametrize("environ", [{"PATH": "/usr/bin"}, {"OPENBLAS_CORETYPE": "x", grid.REEXEC_MARKER: "1"}])
def test_no_reexec_without_slow_blas_variables_or_once_done(environ):
    assert grid.reexec_command(["--repeat", "1"], environ) is None


def test_reexec_drops_slow_blas_variables_once_and_runs_this_fastrnn():
    environ = {"PATH": "/usr/bin", "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1"}
    executable, args, env = grid.reexec_command(["--help"], environ)
    assert env == {"PATH": "/usr/bin", grid.REEXEC_MARKER: "1"}
    assert grid.reexec_command(["--help"], env) is None
    done = subprocess.run(args, env=env, executable=executable, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fastrnn bench" in done.stdout


# Reduced-precision rows at a tiny size: an LSTM (every peer where installed) and a GRU (ONNX Runtime: n/a).
TINY_QUANT = [grid.Config("lstm_int8_B1_T5_H16", "LSTM", 1, 5, 16, 16, dtype="int8"),
              grid.Config("gru_bf16_B2_T5_H16", "GRU", 2, 5, 16, 16, dtype="bf16")]


def report_cells(out, name):
    """The cells of a config's row in a report table."""
    row = next(line for line in out.splitlines() if line.startswith(name + " "))
    return [cell.strip() for cell in row.split(" | ")]


def test_quantized_rows_run_and_report(monkeypatch, capsys):
    for config in TINY_QUANT:
        monkeypatch.setitem(grid.CONFIGS, config.name, config)
    names = [config.name for config in TINY_QUANT]
    assert grid.main(["--repeat", "1", "--configs", *names, "--skip", "products", "paced"]) == 0
    out = capsys.readouterr().out
    assert "results agree" in out
    lstm, gru = (dict(zip(["config", *quantrows.COLUMNS, "peer", "f32"], report_cells(out, name))) for name in names)
    for row in (lstm, gru):
        assert re.fullmatch(r"[\d.]+ (s|ms|us) \(\d\.\de-?\d+\)", row["fastrnn"]), row
        assert re.fullmatch(r"[\d.]+ (s|ms|us)", row[quantrows.FLOAT]) and row["f32"].endswith("x"), row
    if grid._installed("torch"):
        assert "(" in lstm["torch int8"] and "(" in gru["torch int8"] and lstm["peer"].endswith("x")
    if grid._installed("onnxruntime") and grid._installed("onnx"):
        assert "(" in lstm["ort int8"]
    assert gru["ort int8"] == "n/a"       # ONNX Runtime's quantize_dynamic has no quantized GRU


@pytest.mark.parametrize("config", TINY_QUANT, ids=lambda c: c.name)
def test_quantized_errors_are_against_the_float_layer(config):
    runners = grid.quant_runners(config)
    layer, x, _ = grid.make_case(config.float_twin)
    out_fp32 = reference.rnn_forward(config.mode, x, layer.state_dict(), hidden_size=config.hidden_size)[0]
    np.testing.assert_allclose(runners[quantrows.FLOAT](), out_fp32, atol=1e-5)
    errors = quantrows.errors(runners)
    expected = float(np.abs(runners["fastrnn"]() - out_fp32).max())
    assert errors["fastrnn"] == pytest.approx(expected, abs=1e-5)
    # a quantized layer, not the float one: a small error, but not none (int8 ~1e-2, bf16 ~1e-3 here)
    assert all(0 < error < quantrows.TOLERANCE for error in errors.values()), errors
    assert quantrows.FLOAT not in errors


def test_quantized_configs_follow_the_grid_and_the_help_names_them(capsys):
    for config in grid.QUANT_GRID:
        twin = grid.CONFIGS[config.float_twin.name]
        assert config.name == twin.name.replace("_", f"_{config.dtype}_", 1)
        assert (config.mode, config.batch, config.steps, config.hidden_size) == \
               (twin.mode, twin.batch, twin.steps, twin.hidden_size)
    assert {c.name for c in grid.QUANT_GRID} >= {"lstm_int8_B1_T200_H512", "lstm_bf16_B64_T100_H512",
                                                  "gru_int8_B1_T100_H128"}
    with pytest.raises(SystemExit):
        grid.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for config in grid.QUANT_GRID:
        assert config.name in help_text
    assert "quantized" in help_text


def test_skip_quantized_leaves_the_rows_out(monkeypatch, capsys):
    config = TINY_QUANT[0]
    monkeypatch.setitem(grid.CONFIGS, config.name, config)
    assert grid.main(["--repeat", "1", "--configs", config.name, "--skip", "quantized", "products", "paced"]) == 0
    assert config.name not in capsys.readouterr().out


def test_benchmark_tables_show_and_sort_by_min_unless_told_otherwise():
    """bench/conftest.py sets pytest-benchmark's table after pytest-benchmark read its options (it set them too
    early before, so the ten default columns showed), sorted by the column it shows."""
    import types
    from bench import conftest

    def configure(args):
        session = types.SimpleNamespace(columns=["min", "max", "mean"], sort="mean")
        config = types.SimpleNamespace(invocation_params=types.SimpleNamespace(args=args),
                                       option=types.SimpleNamespace(), _benchmarksession=session)
        conftest.pytest_configure(config)
        return session
    default = configure(["--benchmark-only"])
    assert (default.columns, default.sort) == (conftest.COLUMNS, conftest.SORT) and conftest.SORT in conftest.COLUMNS
    chosen = configure(["--benchmark-columns=max", "--benchmark-sort", "max"])
    assert (chosen.columns, chosen.sort) == (["min", "max", "mean"], "mean")
