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
    """{header: cell} of a config's row in a report table: a table row, or (a table wider than 80 columns) the
    record after the line holding the name, "header: cell" items three spaces apart."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line == name or line.startswith(name + " "))
    if lines[start] != name:
        header = next(line for line in reversed(lines[:start]) if " | " in line and "-+-" not in line)
        return dict(zip([h.strip() for h in header.split(" | ")][1:],
                        [cell.strip() for cell in lines[start].split(" | ")][1:]))
    record = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        record.append(line.strip())
    return dict(item.split(": ", 1) for item in "   ".join(record).split("   "))


def test_quantized_rows_run_and_report(monkeypatch, capsys):
    for config in TINY_QUANT:
        monkeypatch.setitem(grid.CONFIGS, config.name, config)
    names = [config.name for config in TINY_QUANT]
    assert grid.main(["--repeat", "1", "--configs", *names, "--skip", "products", "paced"]) == 0
    out = capsys.readouterr().out
    assert "results agree" in out
    assert max(len(line) for line in out.splitlines()) <= grid.WIDTH
    lstm, gru = (report_cells(out, name) for name in names)
    for row in (lstm, gru):
        assert re.fullmatch(r"[\d.]+ (s|ms|us) \(\d\.\de-?\d+\)", row["fastrnn"]), row
        assert re.fullmatch(r"[\d.]+ (s|ms|us)", row[quantrows.FLOAT]) and row["f32/fastrnn"].endswith("x"), row
    if grid._installed("torch"):
        assert "(" in lstm["torch int8"] and "(" in gru["torch int8"] and lstm["peer/fastrnn"].endswith("x")
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


def test_configs_named_run_alone_and_take_commas(monkeypatch, capsys):
    """--configs A,B runs those configs only: not the products and paced sections (it ran them before)."""
    called = []
    monkeypatch.setattr(grid.roofline, "time_products", lambda *a: called.append("products"))
    monkeypatch.setattr(grid, "run_paced", lambda *a: called.append("paced"))
    args = grid.parse_args(["--configs", "lstm_step_B1_H64,gru_B1_T100_H128", "lstm_step_B1_H64"])
    assert args.configs == ["lstm_step_B1_H64", "gru_B1_T100_H128"] and {"products", "paced"} <= set(args.skip)
    assert not {"products", "paced"} & set(grid.parse_args([]).skip)
    with pytest.raises(SystemExit):
        grid.parse_args(["--configs", "lstm_step_B1_H64,nope"])
    assert "unknown config 'nope'" in capsys.readouterr().err
    assert grid.main(["--repeat", "1", "--configs", "lstm_step_B1_H64"]) == 0
    assert called == []
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= grid.WIDTH, max(out.splitlines(), key=len)


@pytest.mark.parametrize("gflops, peak, shown", [(50.0, 100.0, "50%"), (100.2, 100.0, "100%"),
                                                 (160.0, 100.0, ">100%*"), (None, 100.0, "n/a"), (5.0, None, "n/a")])
def test_a_share_of_the_peak_is_never_impossible(gflops, peak, shown):
    from fastrnn import _bench_roofline as roofline
    assert roofline.share_of_peak(gflops, peak) == shown


def test_the_chart_has_the_reduced_precision_rows(tmp_path):
    float_rows = {"lstm_step_B1_H64": {"fastrnn": 1.0, "numpy": 3.0, "torch": 2.0, "ort": None}}
    quant = {"gru_int8_B1_T100_H128": ({"fastrnn": 1.0, "torch int8": 4.0, "ort int8": None, quantrows.FLOAT: 1.5},
                                       {})}
    series = grid.chart_ratios(float_rows, quant)
    assert series["lstm_step_B1_H64"] == {"numpy": 3.0, "torch": 2.0}
    assert series["gru_int8_B1_T100_H128"] == {"torch": 4.0, "fastrnn f32": 1.5}
    if grid._installed("matplotlib"):
        grid.draw_chart(float_rows, tmp_path / "chart.png", quant)
        assert (tmp_path / "chart.png").stat().st_size > 0
