"""fastrnn.set_low_latency: idle workers keep spinning between calls while it is on (csrc/pool.c), go back to
sleeping once it is off, and results are the same either way (checked against fastrnn/reference.py)."""
import time

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import _kernels, reference

SLEEP_DEADLINE_S = 5.0   # not a timing check: workers go to sleep 50 us after their last task


@pytest.fixture
def low_latency_off_after(two_threads):
    yield
    fastrnn.set_low_latency(False)


def wide_call():
    """A call whose products split across both threads (the workers start and run a part)."""
    layer = fastrnn.LSTM(64, 256, seed=0)
    layer(np.ones((50, 16, 64), np.float32))


def wait_until_asleep():
    deadline = time.monotonic() + SLEEP_DEADLINE_S
    while not _kernels.pool_asleep():
        assert time.monotonic() < deadline, "workers still spinning long after the call returned"
        time.sleep(0.001)


def test_workers_stay_awake_only_while_asked(low_latency_off_after):
    assert fastrnn.get_low_latency() is False
    wide_call()
    wait_until_asleep()   # the default: no thread spins once a call returns
    fastrnn.set_low_latency(True)
    assert fastrnn.get_low_latency() is True
    wide_call()           # a sleeping worker is woken by the next task, then spins
    for _ in range(20):
        time.sleep(0.005)
        assert not _kernels.pool_asleep()
    fastrnn.set_low_latency(False)
    wait_until_asleep()


def test_paced_steps_are_exact(low_latency_off_after, dtype):
    fastrnn.set_low_latency(True)
    layer = fastrnn.GRU(32, 512, num_layers=2, dtype=dtype, seed=1)
    x = np.random.default_rng(0).standard_normal((6, 1, 32)).astype(dtype)
    state, outs = None, []
    for t in range(6):
        y, state = layer.step(x[t], state)
        outs.append(y)
        time.sleep(0.001)
    expected, _ = reference.rnn_forward("GRU", x, layer.state_dict(), hidden_size=512, num_layers=2)
    assert_close(np.stack(outs), expected, RTOL[dtype], "steps")


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_the_switch_is_a_bool(bad):
    with pytest.raises(TypeError, match="enabled must be a bool"):
        fastrnn.set_low_latency(bad)


def test_a_nudge_wakes_sleeping_workers_for_one_spell_of_spinning(low_latency_off_after):
    """csrc/pool.c's fr_pool_nudge (a session nudges before a run when its last run used the pool)."""
    before = _kernels.pool_tasks()
    wide_call()
    assert _kernels.pool_tasks() != before   # the call handed tasks to the pool
    wait_until_asleep()
    tasks, wakeups = _kernels.pool_tasks(), _kernels.pool_wakeups()
    _kernels.pool_nudge()
    deadline = time.monotonic() + SLEEP_DEADLINE_S
    while _kernels.pool_wakeups() == wakeups:   # woken (how soon is the scheduler's) ...
        assert time.monotonic() < deadline, "a nudge left the workers asleep"
        time.sleep(0.001)
    assert _kernels.pool_tasks() == tasks   # ... without a task
    wait_until_asleep()   # then back to sleep after their spin
    _kernels.pool_nudge()   # and again: every nudge counts, none is lost while they fall asleep
    wide_call()
    wait_until_asleep()


def test_a_session_nudges_the_pool_only_after_runs_that_used_it(two_threads):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    H, I = 64, 8
    w = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)
         for name, shape in (("W", (1, 4 * H, I)), ("R", (1, 4 * H, H)))]
    graph = helper.make_graph([helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=H)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], w)
    session = fastrnn.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                       .SerializeToString())
    one = rng.standard_normal((1, 1, I)).astype(np.float32)
    batch = rng.standard_normal((50, 32, I)).astype(np.float32)
    session.run(None, {"x": one})
    assert not session._used_pool   # one step of one row: no task for the pool, so no nudge next time
    want = session.run(None, {"x": batch})[0]
    assert session._used_pool
    got = session.run(None, {"x": batch})[0]   # nudged first; the same result
    np.testing.assert_array_equal(got, want)
