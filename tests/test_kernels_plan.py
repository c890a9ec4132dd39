"""csrc/plan.c's choices, through _kernels.plan: which per-step product runs, and how many steps of input are
projected at once. (Speed itself is not tested here: the machine is shared.)"""
import pytest

import fastrnn
from fastrnn import _kernels


@pytest.fixture
def cell():
    return fastrnn.LSTM(32, 64, seed=0)._cells[0]


def test_streaming_and_short_calls_read_torch_layout(cell):
    assert _kernels.plan(cell, 1, 1, "step")["product"] == "direct"
    assert _kernels.plan(cell, 1, 4)["product"] == "direct"
    assert _kernels.plan(cell, 3, 8)["product"] == "direct"


def test_long_calls_and_wide_batches_use_packed_panels(cell):
    assert _kernels.plan(cell, 100, 1)["product"] == "fused"
    assert _kernels.plan(cell, 100, 8)["product"] == "fused"
    assert _kernels.plan(cell, 1, 9)["product"] == "packed"
    assert _kernels.plan(cell, 100, 64)["product"] == "packed"
    assert _kernels.plan(cell, 50, 4, "backward")["product"] == "packed"
    assert _kernels.plan(cell, 1, 16, "step")["product"] == "blas"


def test_inference_projects_chunks_training_projects_everything(cell):
    G = 4 * 64
    long_call = _kernels.plan(cell, 100000, 16)
    assert long_call["chunk"] * 16 * G * 4 <= 4 * 1024 * 1024 + 256 * G * 4
    assert long_call["chunk"] * 16 >= 256
    assert _kernels.plan(cell, 10, 16)["chunk"] == 10
    assert _kernels.plan(cell, 100000, 16, "training")["chunk"] == 100000


def test_threads_never_exceed_the_setting(cell):
    before = fastrnn.get_num_threads()
    fastrnn.set_num_threads(1)
    try:
        for kind in ("forward", "training", "backward", "step"):
            assert _kernels.plan(cell, 100, 64, kind)["threads"] == 1
    finally:
        fastrnn.set_num_threads(before)
