"""The `python -m fastrnn bench` report runs, agrees with naive NumPy, and re-executes only when it should."""
import subprocess

import pytest

from fastrnn import benchmark as grid

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
