"""`fastrnn bench`'s "whole models" section (fastrnn/_bench_models.py): one model at one size end to end (export,
both sessions, agreement, the executor's overhead), the table's width, and `--skip models`."""
import pytest

from conftest import require_torch
from fastrnn import _bench_models, benchmark


def test_one_model_end_to_end(monkeypatch):
    require_torch()
    pytest.importorskip("onnxruntime")
    from fastrnn import _onnx_models
    monkeypatch.setattr(_onnx_models, "EXAMPLES", ("gru_regressor",))
    monkeypatch.setattr(_bench_models, "SIZES", ((1, 1), (2, 3)))
    monkeypatch.setattr(_bench_models, "TARGET_SECONDS", 0.001)
    rows, mismatches = _bench_models.run(repeat=1)
    assert mismatches == []
    assert [(name, B, T) for name, B, T, *_ in rows] == [("gru_regressor", 1, 1), ("gru_regressor", 2, 3)]
    assert all(ours > 0 and theirs > 0 for _, _, _, ours, theirs, _ in rows)
    assert rows[0][5] is not None and rows[1][5] is None   # the executor's overhead at B1 T1 only
    table = _bench_models.format_rows(rows)
    assert max(len(line) for line in table.splitlines()) <= 80


def test_the_section_can_be_skipped():
    assert "models" in benchmark.parse_args(["--skip", "models"]).skip
